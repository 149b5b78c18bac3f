"""ONE ID writes: link inbound records, review gray-zone pairs, store trained weights, and keep the
source records with their person when people merge or unmerge.

Merges themselves belong to `hufen.people.merge` (`person_merge` / `person_unmerge`), which moves
everything attached to a person and calls `identity_on_merge` / `identity_on_unmerge` here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from hufen.common.actors import SYSTEM, Actor, Scope
from hufen.common.audit import audit
from hufen.common.errors import NotFound, PermissionDenied
from hufen.common.events import publish
from hufen.common.pii import (
    FieldError,
    mask_id_number,
    normalize_cn_mobile,
    normalize_email,
    validate_id_number,
)
from hufen.identity import normalize as nz
from hufen.identity.linking import (
    FIELDS,
    ONLINE_SCHEMA,
    TOTAL_SHARDS,
    Decision,
    active_scorer,
    advisory_lock,
    block_keys_of,
    decide,
    fingerprint,
    identifiers_of,
    lookup,
    normalize_record,
)
from hufen.identity.models import (
    BlockKey,
    Identifier,
    LinkConstraint,
    ModelParameters,
    NameFrequency,
    RecordMove,
    ReviewPair,
    SourceRecord,
)
from hufen.people.models import Person
from hufen.people.services import PersonInput, person_add_phone, person_create

MAX_BATCH = 500
SOURCE_RE = re.compile(r"^[a-z][a-z0-9_\-]{0,39}$")
UNNAMED = "未具名客户"


@dataclass(frozen=True)
class RecordInput:
    source: str
    source_key: str
    fields: Mapping[str, str]
    received_at: dt.datetime | None = None


@dataclass
class LinkResult:
    source: str
    source_key: str
    record_id: int | None = None
    person_id: int | None = None
    decision: str = ""
    score: float | None = None
    explanation: dict[str, Any] = field(default_factory=dict)
    created: bool = False  # a new SourceRecord (False: an update or an unchanged resend)
    replayed: bool = False  # an unchanged resend: the stored result
    error: dict[str, str] | None = None


def require_link(actor: Actor) -> None:
    if not actor.has_perm("identity.link"):
        raise PermissionDenied(f"{actor.label} may not link identity records")


def require_review(actor: Actor) -> None:
    if not actor.has_perm("identity.review") or actor.scope != Scope.ALL:
        raise PermissionDenied(f"{actor.label} may not review identity pairs")


# --- input --------------------------------------------------------------------------------------


def record_clean(record: RecordInput) -> tuple[str, str, dict[str, str]]:
    source = (record.source or "").strip().lower()
    if not SOURCE_RE.match(source):
        raise FieldError("source", "must be 1-40 lower-case letters, digits, _ or -, starting with a letter")
    key = (record.source_key or "").strip()
    if not key or len(key) > 120 or not key.isprintable():
        raise FieldError("source_key", "must be 1 to 120 printable characters")
    fields: dict[str, str] = {}
    for name, value in record.fields.items():
        if name not in FIELDS:
            raise FieldError(f"fields.{name}", f"unknown field (one of {', '.join(FIELDS)})")
        if value is None:
            continue
        if not isinstance(value, str):
            raise FieldError(f"fields.{name}", "must be a string")
        if len(value) > 200:
            raise FieldError(f"fields.{name}", "is longer than 200 characters")
        if value.strip():
            fields[name] = value.strip()
    if not any(fields.get(f) for f in ("name", *FIELDS[9:], "phone", "email", "id_number")):
        raise FieldError("fields", "has no name and no identifier: nothing to link on")
    return source, key, fields


def _stored_raw(fields: Mapping[str, str], row: Mapping[str, Any]) -> dict[str, str]:
    """The raw fields as stored: an ID number only as its keyed hash and a masked hint."""
    raw = dict(fields)
    id_number = raw.pop("id_number", None)
    if id_number:
        card, _ = nz.parse_id_number(id_number)
        raw["id_number_hash"] = row.get("s_id_number") or ""
        raw["id_number_hint"] = mask_id_number(card.number if card else nz.fold(id_number).upper())
    return raw


def person_input(source: str, fields: Mapping[str, str], row: Mapping[str, Any]) -> PersonInput:
    """A new person's profile from the record; a value the people service would refuse is left out
    (it stays in the source record) instead of refusing the record."""

    def valid(check: Any, value: str) -> str:
        try:
            return str(check(value)) if value else ""
        except FieldError:
            return ""

    card, _ = nz.parse_id_number(fields.get("id_number", ""))
    id_number = valid(validate_id_number, card.number) if card else ""
    birth = nz.parse_date(fields.get("birth_date")) if not id_number else None
    gender = "" if id_number else (row.get("gender") or "")
    name = (fields.get("name") or "").strip()[:60] or UNNAMED
    return PersonInput(
        name=name,
        phone=valid(normalize_cn_mobile, fields.get("phone", "")),
        gender=gender if gender in {"M", "F"} else "",
        birth_date=birth,
        email=valid(normalize_email, fields.get("email", "")),
        id_number=id_number,
        province=(row.get("c_province") or "")[:20],
        city=(row.get("c_city") or "")[:30],
        district=(row.get("c_district") or "")[:30],
        address=(fields.get("address") or "")[:200],
        source=source[:20],
    )


# --- linking ------------------------------------------------------------------------------------


def identity_link(*, actor: Actor, records: Sequence[RecordInput]) -> list[LinkResult]:
    """Link each record to a person (or create one); one result per record, in order.

    Each record is its own transaction: a bad record gets its error and the others still link.
    Idempotent by (source, source_key): an unchanged resend returns the stored result, a changed
    record is re-evaluated.
    """
    require_link(actor)
    if len(records) > MAX_BATCH:
        raise FieldError("records", f"at most {MAX_BATCH} records per call, got {len(records)}")
    results: list[LinkResult] = []
    for record in records:
        try:
            results.append(identity_link_one(actor=actor, record=record))
        except (FieldError, PermissionDenied) as exc:
            reason = exc.reason if isinstance(exc, FieldError) else exc.message
            where = exc.field if isinstance(exc, FieldError) else "source_key"
            code = "invalid_field" if isinstance(exc, FieldError) else "forbidden"
            results.append(
                LinkResult(
                    source=str(record.source),
                    source_key=str(record.source_key),
                    error={"code": code, "field": where, "reason": reason},
                )
            )
    return results


@transaction.atomic
def identity_link_one(*, actor: Actor, record: RecordInput) -> LinkResult:
    """Link one record. A new record costs a fixed handful of statements on PostgreSQL: the
    advisory locks, one lookup (`linking.lookup`), one insert of the record with its index rows and
    name counts, the audit row and the event (plus the person service's own, for a new person)."""
    require_link(actor)
    source, key, fields = record_clean(record)
    row = normalize_record(fields)
    identifiers = identifiers_of(row)
    advisory_lock(f"record:{source}:{key}", *(f"id:{k}:{v}" for k, v in identifiers))
    digest = fingerprint(source, key, fields)
    found = lookup(row, source=source, source_key=key, max_group=ONLINE_SCHEMA.max_identifier_group)
    dealer_id = actor.dealer_id if actor.scope == Scope.DEALER else None
    existing = None
    if found.existing_id is not None:
        existing = SourceRecord.objects.select_for_update().get(pk=found.existing_id)
        if existing.dealer_id is not None and actor.scope == Scope.DEALER and existing.dealer_id != actor.dealer_id:
            raise PermissionDenied(f"{source}:{key} belongs to another dealer's source")
        if actor.scope == Scope.DEALER and existing.dealer_id is None:
            raise PermissionDenied(f"{source}:{key} was not sent by this dealer")
        if existing.fingerprint == digest:
            return _result(existing, created=False, replayed=True)
    decision = decide(row, found)
    if (
        existing is not None
        and decision.person_id is None
        and not SourceRecord.objects.filter(person_id=existing.person_id).exclude(pk=existing.pk).exists()
    ):
        # An updated record that still matches nobody stays with its own person: no orphan, same ID.
        decision.person_id = existing.person_id
    if decision.join:
        _join_persons(decision, f"{source}:{key}", found.phone_holders)
    person_id = _person_for(actor, decision, source, fields, row, found.phone_holders)
    now = timezone.now()
    values: dict[str, Any] = {
        "raw": _stored_raw(fields, row),
        "normalized": row,
        "fingerprint": digest,
        "person_id": person_id,
        "decision": decision.decision,
        "score": decision.score,
        "explanation": decision.explanation,
    }
    shard = zlib.crc32(f"{source}:{key}".encode()) % TOTAL_SHARDS
    if existing is None:
        stored = SourceRecord(
            source=source, source_key=key, dealer_id=dealer_id, received_at=record.received_at or now, **values
        )
        _insert_record(stored, identifiers, block_keys_of(row), shard, now)
        ReviewPair.objects.bulk_create(
            [
                ReviewPair(
                    record_a_id=min(stored.pk, other_id),
                    record_b_id=max(stored.pk, other_id),
                    probability=round(pair.probability, 6),
                    match_weight=pair.match_weight,
                    evidence=pair.evidence,
                )
                for other_id, pair in decision.review_with
            ]
        )
    else:
        stored = _update_record(existing, values, identifiers, block_keys_of(row), shard, now)
        _review_pairs_again(stored.pk, decision)
    audit(
        actor=actor,
        action="identity.link",
        obj_type="source_record",
        obj_id=stored.pk,
        summary={
            "source": source,
            "source_key": key,
            "person": person_id,
            "decision": decision.decision,
            "rule": decision.explanation.get("rule"),
            "updated": existing is not None,
            **({"joined": [j["person_id"] for j in decision.explanation["joined"]]} if decision.join else {}),
        },
    )
    publish(
        "identity_record_linked",
        person_id=person_id,
        dealer_id=dealer_id,
        properties={"source": source, "decision": decision.decision, "updated": existing is not None},
    )
    return _result(stored, created=existing is None, replayed=False)


def identity_records_attach(*, actor: Actor, records: Sequence[tuple[int, RecordInput]]) -> int:
    """Store records as the first source records of persons that already exist, in bulk: the load of
    a system whose persons were created from it before ONE ID kept its records (the demo does this).
    Each is stored as `identity_link_one` stores a record that matched nobody — same cleaning, raw
    and normalised fields, fingerprint, identifier and blocking-key rows, name count, decision `new`
    (rule `no_candidate`) — but on the given person instead of a new one. No lookup, no audit row per
    record: the caller vouches that each person is the record's own. Returns how many were stored."""
    require_link(actor)
    if not records:
        return 0
    scorer, tag = active_scorer()
    explanation: dict[str, Any] = {
        "model": tag,
        "thresholds": {"merge": scorer.merge, "review": scorer.review},
        "rule": "no_candidate",
        "contradictions": [],
    }
    now = timezone.now()
    stored: list[SourceRecord] = []
    names: Counter[str] = Counter()
    for person_id, record in records:
        source, key, fields = record_clean(record)
        row = normalize_record(fields)
        stored.append(
            SourceRecord(
                source=source,
                source_key=key,
                raw=_stored_raw(fields, row),
                normalized=row,
                fingerprint=fingerprint(source, key, fields),
                received_at=record.received_at or now,
                person_id=person_id,
                decision="new",
                score=None,
                explanation=explanation,
            )
        )
        if row.get("n_full"):
            names[str(row["n_full"])[:200]] += 1
    SourceRecord.objects.bulk_create(stored, batch_size=2000)  # sets the ids (PostgreSQL, SQLite)
    Identifier.objects.bulk_create(
        [
            Identifier(kind=kind, value=value, record_id=r.pk, person_id=r.person_id)
            for r in stored
            for kind, value in identifiers_of(r.normalized)
        ],
        batch_size=5000,
    )
    BlockKey.objects.bulk_create(
        [BlockKey(key=k, record_id=r.pk, person_id=r.person_id) for r in stored for k in block_keys_of(r.normalized)],
        batch_size=5000,
    )
    name_counts_add(names, total=names.total(), shard=0)
    return len(stored)


def _join_persons(decision: Decision, label: str, phone_holders: set[int]) -> None:
    """Merge the persons a record joins (`Decision.join`) into one and link the record to it.

    The survivor of each merge is the person with more source records (on a tie the older one), as
    a rebuild chooses. The system merges, not the linking client (which need not be allowed to
    merge persons); the merge is audited with the link's evidence and can be undone. A join that a
    reviewer's cannot-link between the two persons' records forbids goes to the review queue."""
    from hufen.people.merge import person_merge

    assert decision.person_id is not None
    involved = [decision.person_id, *(join.person_id for join in decision.join)]
    # Every person of the joins locked at once, in id order, so that two links joining overlapping
    # persons wait for each other instead of deadlocking.
    list(Person.objects.select_for_update().filter(pk__in=involved).order_by("pk").values_list("pk", flat=True))
    current, joined = decision.person_id, []
    for join in decision.join:
        if _cannot_link_between(current, join.person_id):
            decision.review_with.append((join.record_id, join.pair))
            continue
        survivor, absorbed = merge_order(current, join.person_id)
        try:
            person_merge(
                actor=SYSTEM,
                survivor=survivor,
                absorbed=absorbed,
                reason=f"identity link: record {label} links to both persons"[:300],
                evidence={"record": label[:200], "link": join.describe(), "evidence": join.pair.evidence},
            )
        except (FieldError, NotFound):  # merged away meanwhile: nothing to join any more
            decision.review_with.append((join.record_id, join.pair))
            continue
        joined.append({**join.describe(), "merged_into": survivor.pk})
        if absorbed.pk in phone_holders:
            phone_holders.add(survivor.pk)
        current = survivor.pk
    decision.person_id = current
    decision.explanation["joined"] = joined
    if not joined:
        decision.join = []
        del decision.explanation["joined"]


def _cannot_link_between(person_a: int, person_b: int) -> bool:
    """Does a reviewer's cannot-link keep a record of one person apart from a record of the other?"""
    return LinkConstraint.objects.filter(
        Q(record_a__person_id=person_a, record_b__person_id=person_b)
        | Q(record_a__person_id=person_b, record_b__person_id=person_a),
        kind="cannot",
    ).exists()


def _insert_record(
    stored: SourceRecord, identifiers: list[tuple[str, str]], keys: list[str], shard: int, now: dt.datetime
) -> None:
    """The new record, its identifier and blocking-key rows and its name count: one statement on
    PostgreSQL (data-modifying CTEs), the ORM's few elsewhere. Sets `stored.pk`."""
    name = stored.normalized.get("n_full")
    if connection.vendor != "postgresql":
        stored.save(force_insert=True)
        Identifier.objects.bulk_create(
            [Identifier(kind=k, value=v, record_id=stored.pk, person_id=stored.person_id) for k, v in identifiers]
        )
        BlockKey.objects.bulk_create([BlockKey(key=k, record_id=stored.pk, person_id=stored.person_id) for k in keys])
        if name:
            name_counts_add({name: 1}, total=1, shard=shard)
        return
    sr, ident, block, nf = (
        connection.ops.quote_name(m._meta.db_table) for m in (SourceRecord, Identifier, BlockKey, NameFrequency)
    )
    sql = (
        f"WITH r AS (INSERT INTO {sr} (source, source_key, dealer_id, raw, normalized, fingerprint, received_at,"
        " updated_at, person_id, decision, score, explanation)"
        " VALUES (%s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s, %s, %s, %s::jsonb) RETURNING id),"
        f" i AS (INSERT INTO {ident} (kind, value, record_id, person_id)"
        " SELECT x.kind, x.value, r.id, %s FROM r, unnest(%s::varchar[], %s::varchar[]) AS x(kind, value)),"
        f" b AS (INSERT INTO {block} (key, record_id, person_id)"
        " SELECT x.key, r.id, %s FROM r, unnest(%s::varchar[]) AS x(key))"
    )
    params: list[Any] = [
        stored.source,
        stored.source_key,
        stored.dealer_id,
        json.dumps(stored.raw),
        json.dumps(stored.normalized),
        stored.fingerprint,
        stored.received_at,
        now,
        stored.person_id,
        stored.decision,
        stored.score,
        json.dumps(stored.explanation),
        stored.person_id,
        [k for k, _ in identifiers],
        [v for _, v in identifiers],
        stored.person_id,
        keys,
    ]
    if name:
        sql += (
            f", n AS (INSERT INTO {nf} (name, shard, records) VALUES (%s, 0, 1), ('', %s, 1)"
            f" ON CONFLICT (name, shard) DO UPDATE SET records = {nf}.records + EXCLUDED.records)"
        )
        params += [name[:200], shard]
    with connection.cursor() as cursor:
        cursor.execute(sql + " SELECT id FROM r", params)
        stored.pk = cursor.fetchone()[0]
    stored.updated_at = now


def _update_record(
    stored: SourceRecord,
    values: dict[str, Any],
    identifiers: list[tuple[str, str]],
    keys: list[str],
    shard: int,
    now: dt.datetime,
) -> SourceRecord:
    """A changed resend: the record re-evaluated, its index rows and name counts replaced."""
    old_name, new_name = stored.normalized.get("n_full"), values["normalized"].get("n_full")
    for name, value in values.items():
        setattr(stored, name, value)
    stored.save()
    Identifier.objects.filter(record=stored).delete()
    BlockKey.objects.filter(record=stored).delete()
    Identifier.objects.bulk_create(
        [Identifier(kind=k, value=v, record_id=stored.pk, person_id=stored.person_id) for k, v in identifiers]
    )
    BlockKey.objects.bulk_create([BlockKey(key=k, record_id=stored.pk, person_id=stored.person_id) for k in keys])
    if old_name != new_name:
        changes: dict[str, int] = {}
        if old_name:
            changes[old_name] = -1
        if new_name:
            changes[new_name] = 1
        name_counts_add(changes, total=bool(new_name) - bool(old_name), shard=shard)
    ReviewPair.objects.filter(_either(stored.pk), status="open").update(
        status="obsolete", decided_at=now, decided_by="re-evaluated"
    )
    return stored


def _review_pairs_again(record_id: int, decision: Decision) -> None:
    for other_id, pair in decision.review_with:
        a, b = sorted((record_id, other_id))
        # A pair a reviewer already decided stays decided; an obsolete one is opened again.
        ReviewPair.objects.filter(record_a_id=a, record_b_id=b).exclude(status__in=["confirmed", "rejected"]).delete()
        ReviewPair.objects.get_or_create(
            record_a_id=a,
            record_b_id=b,
            defaults={
                "probability": round(pair.probability, 6),
                "match_weight": pair.match_weight,
                "evidence": pair.evidence,
            },
        )


def name_counts_add(changes: Mapping[str, int], *, total: int, shard: int) -> None:
    """Add to the stored name counts (`NameFrequency`), names in sorted order then the total, so
    that concurrent links lock the rows in one order."""
    rows = [(name[:200], 0, delta) for name, delta in sorted(changes.items()) if delta]
    if total:
        rows.append(("", shard % TOTAL_SHARDS, total))
    if not rows:
        return
    nf = connection.ops.quote_name(NameFrequency._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {nf} (name, shard, records) VALUES {', '.join('(%s, %s, %s)' for _ in rows)}"
            f" ON CONFLICT (name, shard) DO UPDATE SET records = {nf}.records + excluded.records",
            [x for r in rows for x in r],
        )


def identity_name_counts_rebuild() -> int:
    """Count every stored record's name again (after a bulk load, or to repair drift); returns the
    number of distinct names. Run by `identity rebuild`."""
    counts: Counter[str] = Counter()
    for name in SourceRecord.objects.values_list("normalized__n_full", flat=True).iterator(chunk_size=20000):
        if name:
            counts[str(name)[:200]] += 1
    NameFrequency.objects.all().delete()
    NameFrequency.objects.bulk_create(
        [NameFrequency(name=name, shard=0, records=n) for name, n in counts.items()]
        + [NameFrequency(name="", shard=0, records=counts.total())],
        batch_size=5000,
    )
    return len(counts)


def _either(record_id: int) -> Q:
    return Q(record_a_id=record_id) | Q(record_b_id=record_id)


def _person_for(
    actor: Actor,
    decision: Decision,
    source: str,
    fields: Mapping[str, str],
    row: Mapping[str, Any],
    phone_holders: set[int],
) -> int:
    """The person id to link to: the decided one (given the record's mobile if it lacks it) or a
    new person."""
    if decision.person_id is not None:
        phone = row.get("s_phone")
        linked_by_phone = "phone" in str(decision.explanation.get("rule", "")).split("+")
        if phone and phone.startswith("+86") and not linked_by_phone and decision.person_id not in phone_holders:
            # A landline or an invalid mobile stays in the record only.
            with contextlib.suppress(FieldError):
                person_add_phone(actor=actor, person=Person(pk=decision.person_id), phone=phone)
        return decision.person_id
    # Only group-wide actors create persons (people.services); a dealer's integration links through
    # the system actor, and the link itself is audited under the integration's name.
    creator = actor if actor.scope == Scope.ALL and actor.has_perm("persons.create") else SYSTEM
    return int(person_create(actor=creator, data=person_input(source, fields, row)).pk)


def _result(stored: SourceRecord, *, created: bool, replayed: bool) -> LinkResult:
    return LinkResult(
        source=stored.source,
        source_key=stored.source_key,
        record_id=stored.pk,
        person_id=stored.person_id,
        decision=stored.decision,
        score=stored.score,
        explanation=stored.explanation,
        created=created,
        replayed=replayed,
    )


# --- review queue -------------------------------------------------------------------------------


def _constraint(actor: Actor, kind: str, pair: ReviewPair, reason: str) -> LinkConstraint:
    constraint, _ = LinkConstraint.objects.update_or_create(
        record_a_id=pair.record_a_id,
        record_b_id=pair.record_b_id,
        defaults={"kind": kind, "created_by": actor.label[:150], "reason": reason[:300]},
    )
    return constraint


def _open_pair(pair_id: int) -> ReviewPair:
    pair = ReviewPair.objects.select_for_update().select_related("record_a", "record_b").filter(pk=pair_id).first()
    if pair is None:
        raise NotFound(f"review pair {pair_id} does not exist")
    if pair.status != "open":
        raise FieldError("status", f"this pair was already decided ({pair.status})")
    return pair


@transaction.atomic
def review_confirm(*, actor: Actor, pair_id: int, reason: str = "") -> ReviewPair:
    """The two records are one person: must-link, and merge their persons (people.merge)."""
    require_review(actor)
    pair = _open_pair(pair_id)
    _constraint(actor, "must", pair, reason)
    a, b = pair.record_a, pair.record_b
    merged_into = None
    if a.person_id != b.person_id:
        survivor, absorbed = merge_order(a.person_id, b.person_id)
        from hufen.people.merge import person_merge

        person_merge(
            actor=actor,
            survivor=survivor,
            absorbed=absorbed,
            reason=reason or "identity review: confirmed",
            evidence={"review_pair": pair.pk, "probability": pair.probability, "evidence": pair.evidence},
        )
        merged_into = survivor.pk
    pair.status, pair.decided_at, pair.decided_by = "confirmed", timezone.now(), actor.label[:150]
    pair.save(update_fields=["status", "decided_at", "decided_by"])
    audit(
        actor=actor,
        action="identity.review_confirm",
        obj_type="review_pair",
        obj_id=pair.pk,
        summary={"records": [a.pk, b.pk], "merged_into": merged_into},
        reason=reason,
    )
    return pair


@transaction.atomic
def review_reject(*, actor: Actor, pair_id: int, reason: str = "") -> ReviewPair:
    """The two records are two persons: cannot-link, honoured online and by every rebuild."""
    require_review(actor)
    pair = _open_pair(pair_id)
    _constraint(actor, "cannot", pair, reason)
    pair.status, pair.decided_at, pair.decided_by = "rejected", timezone.now(), actor.label[:150]
    pair.save(update_fields=["status", "decided_at", "decided_by"])
    audit(
        actor=actor,
        action="identity.review_reject",
        obj_type="review_pair",
        obj_id=pair.pk,
        summary={"records": [pair.record_a_id, pair.record_b_id]},
        reason=reason,
    )
    return pair


def merge_order(person_a: int, person_b: int) -> tuple[Person, Person]:
    """(survivor, absorbed): the person with more source records survives, on a tie the older one."""
    counts = dict(
        SourceRecord.objects.filter(person_id__in=[person_a, person_b])
        .values("person_id")
        .annotate(n=Count("id"))
        .values_list("person_id", "n")
    )
    first, second = sorted((person_a, person_b), key=lambda p: (-counts.get(p, 0), p))
    persons = Person.objects.in_bulk([first, second])
    return persons[first], persons[second]


# --- trained weights ----------------------------------------------------------------------------


@transaction.atomic
def identity_model_store(*, actor: Actor, parameters: dict[str, Any], trained_on: str, records: int) -> ModelParameters:
    stored = ModelParameters.objects.create(parameters=parameters, trained_on=trained_on[:200], records=records)
    audit(
        actor=actor,
        action="identity.model_store",
        obj_type="identity_model",
        obj_id=stored.pk,
        summary={"trained_on": trained_on, "records": records, "prior": parameters.get("prior")},
    )
    return stored


# --- merge hooks (called by hufen.people.merge) -------------------------------------------------


def identity_on_merge(merge: Any) -> None:
    """Re-home the absorbed person's source records (and their index rows) to the survivor,
    remembering which ones moved so that the unmerge moves exactly those back."""
    survivor_id, absorbed_id = merge.survivor_id, merge.absorbed_id
    moved = list(SourceRecord.objects.filter(person_id=absorbed_id).values_list("id", flat=True))
    now = timezone.now()
    RecordMove.objects.bulk_create(
        [
            RecordMove(
                merge_id=merge.pk, record_id=r, from_person_id=absorbed_id, to_person_id=survivor_id, moved_at=now
            )
            for r in moved
        ]
    )
    SourceRecord.objects.filter(pk__in=moved).update(person_id=survivor_id)
    Identifier.objects.filter(record_id__in=moved).update(person_id=survivor_id)
    BlockKey.objects.filter(record_id__in=moved).update(person_id=survivor_id)


def identity_on_unmerge(merge: Any) -> None:
    """Move the records the merge moved back to the restored person (those still on the survivor).

    The moves stay as lineage: each is stamped `restored_at`, or keeps a note saying why its record
    stayed where it is (it was moved on since, by a rebuild or a re-evaluation)."""
    now = timezone.now()
    moves = RecordMove.objects.filter(merge_id=merge.pk, restored_at__isnull=True, note="")
    for from_person, to_person in set(moves.values_list("from_person_id", "to_person_id")):
        pair = moves.filter(from_person_id=from_person, to_person_id=to_person)
        back = pair.filter(record__person_id=to_person)
        ids = list(back.values_list("record_id", flat=True))
        SourceRecord.objects.filter(pk__in=ids).update(person_id=from_person)
        Identifier.objects.filter(record_id__in=ids).update(person_id=from_person)
        BlockKey.objects.filter(record_id__in=ids).update(person_id=from_person)
        pair.filter(record_id__in=ids).update(restored_at=now)
        pair.exclude(record_id__in=ids).update(note=f"not on person {to_person} any more: left where it is")

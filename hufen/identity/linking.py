"""Online linking: one inbound record against the persons already resolved, in the database.

The same evidence, in the same order of trust, as the batch engine (`matching.py`):
1. a reviewer's must-link decides; a cannot-link keeps the record away from that person;
2. the same ID-card hash is always the same person, two different hashes never are;
3. a shared strong identifier (phone, unionid, openid, email, VIN, app user id) links unless the
   two records contradict each other (`matching.contradiction`: the couple on one phone);
4. otherwise the Fellegi–Sunter weights (`weights.py`) score the record against candidates found by
   the batch engine's blocking keys: merge above the upper threshold, review between, apart below.

Candidates come from two indexes: `Identifier` (strong values) and `BlockKey` (name pinyin + birth
date, name + place ...). This module only decides; `services.identity_link` writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Q

from hufen.identity.matching import contradiction
from hufen.identity.models import BlockKey, Identifier, LinkConstraint, ModelParameters, SourceRecord
from hufen.identity.prepare import prepare_rows
from hufen.identity.schema import DEFAULT_SCHEMA, Schema
from hufen.identity.weights import PairScore, Scorer, load_default

# The online schema: the batch columns plus the WeChat openid an official account sees.
ONLINE_SCHEMA = Schema(
    columns={**DEFAULT_SCHEMA.columns, "wechat_openid": "identifier"},
    merge=DEFAULT_SCHEMA.merge,
    review=DEFAULT_SCHEMA.review,
)
FIELDS = (
    "name",
    "phone",
    "email",
    "id_number",
    "birth_date",
    "gender",
    "province",
    "city",
    "district",
    "address",
    "wechat_unionid",
    "wechat_openid",
    "app_user_id",
    "vin",
)
IDENTIFIER_KIND = {
    "s_phone": "phone",
    "s_wechat_unionid": "unionid",
    "s_wechat_openid": "openid",
    "s_email": "email",
    "s_id_number": "id_hash",
    "s_vin": "vin",
    "s_app_user_id": "app_user_id",
}
DATES = ["d_birth_date"]
MAX_BLOCK_CANDIDATES = 300  # most recent records per lookup: 王伟 + a birthday is still a handful
MAX_PERSON_RECORDS = 200  # records of a candidate person read to check its identity numbers and gender
MAX_IDENTIFIER_ROWS = 2000  # index rows read for one record's identifiers (a placeholder may have many)


def normalize_record(fields: Mapping[str, str]) -> dict[str, Any]:
    """The matching columns of one record (as the batch engine computes them), without uid/rid."""
    row = prepare_rows([{"record_id": "-", **fields}], ONLINE_SCHEMA)[0]
    row.pop("uid", None)
    row.pop("rid", None)
    return row


def identifiers_of(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    return sorted((kind, row[col]) for col, kind in IDENTIFIER_KIND.items() if row.get(col))


def block_keys_of(row: Mapping[str, Any]) -> list[str]:
    """The batch engine's blocking rules (`model.build_settings`) as lookup keys."""
    key, sur, given = row.get("n_key"), row.get("n_sur"), row.get("n_given")
    dob = row.get("d_birth_date")
    province, city, district = row.get("c_province"), row.get("c_city"), row.get("c_district")
    keys: list[str] = []

    def add(tag: str, *parts: Any) -> None:
        if all(parts):
            keys.append(f"{tag}|" + "|".join(str(p) for p in parts))

    add("nd", key, dob)
    add("np", key, province)
    add("nc", key, city)
    add("nx", key, district)
    add("sd", sur, dob)
    add("gd", given, dob)
    add("sgp", sur, given, province)
    add("dp", dob, province)
    add("dc", dob, city)
    return sorted({k[:160] for k in keys})


def advisory_lock(*names: str) -> None:
    """Serialise links that share an identifier (PostgreSQL; SQLite serialises writers anyway).

    Locks are taken in sorted order so two records sharing two identifiers cannot deadlock, and
    are released at the end of the transaction."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for name in sorted(set(names)):
            digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


_scorer_cache: dict[str, Scorer] = {}


def active_scorer() -> tuple[Scorer, str]:
    """The newest trained model in the database, else the bundled default."""
    latest = ModelParameters.objects.order_by("-id").values_list("id", flat=True).first()
    tag = f"db:{latest}" if latest else "default"
    if tag not in _scorer_cache:
        parameters = ModelParameters.objects.get(pk=latest).parameters if latest else load_default()
        _scorer_cache.clear()
        _scorer_cache[tag] = Scorer(parameters)
    return _scorer_cache[tag], tag


@dataclass
class Candidate:
    record_id: int
    person_id: int
    label: str  # source:key
    row: dict[str, Any]
    shared: list[str] = field(default_factory=list)  # strong identifier kinds shared with the record


@dataclass
class Decision:
    decision: str  # linked | new | review | constraint
    person_id: int | None  # None: create a new person
    score: float | None
    explanation: dict[str, Any]
    review_with: list[tuple[int, PairScore]] = field(default_factory=list)  # (record id, score)


def _gather(
    row: Mapping[str, Any], exclude: int | None, max_group: int
) -> tuple[dict[int, Candidate], dict[int, tuple[set[str], set[str]]]]:
    """Candidate records (by identifier or blocking key) and, per candidate person, the ID-card
    hashes and genders of all its records (the batch engine's cluster checks). Three queries."""
    found: dict[int, list[str]] = {}
    pairs = identifiers_of(row)
    if pairs:
        either = Q()
        for kind, value in pairs:
            either |= Q(kind=kind, value=value)
        hits = Identifier.objects.filter(either)
        if exclude is not None:
            hits = hits.exclude(record_id=exclude)
        groups: dict[str, list[int]] = {}
        for kind, rid in hits.values_list("kind", "record_id")[:MAX_IDENTIFIER_ROWS]:
            groups.setdefault(kind, []).append(rid)
        for kind, ids in groups.items():
            if len(ids) > max_group and kind != "id_hash":
                continue  # a placeholder shared by a crowd (13800000000), not evidence
            for rid in ids:
                found.setdefault(rid, []).append(kind)
    keys = block_keys_of(row)
    if keys:
        blocked = BlockKey.objects.filter(key__in=keys)
        if exclude is not None:
            blocked = blocked.exclude(record_id=exclude)
        for rid in blocked.order_by("-id").values_list("record_id", flat=True)[:MAX_BLOCK_CANDIDATES]:
            found.setdefault(rid, [])
    if not found:
        return {}, {}
    persons = SourceRecord.objects.filter(pk__in=list(found)).values("person_id")
    records = SourceRecord.objects.filter(person_id__in=persons)
    if exclude is not None:
        records = records.exclude(pk=exclude)
    candidates: dict[int, Candidate] = {}
    facts: dict[int, tuple[set[str], set[str]]] = {}
    limit = MAX_PERSON_RECORDS * len(found)
    for pk, person_id, source, key, normalized in records.values_list(
        "id", "person_id", "source", "source_key", "normalized"
    )[:limit]:
        hashes, genders = facts.setdefault(person_id, (set(), set()))
        if normalized.get("s_id_number"):
            hashes.add(normalized["s_id_number"])
        if normalized.get("gender"):
            genders.add(normalized["gender"])
        if pk in found:
            candidates[pk] = Candidate(pk, person_id, f"{source}:{key}", normalized, sorted(set(found[pk])))
    return candidates, facts


def _constraints(record_id: int | None) -> tuple[set[int], set[int]]:
    """Persons this record must join / must stay apart from, by reviewers' decisions."""
    if record_id is None:
        return set(), set()
    must: set[int] = set()
    cannot: set[int] = set()
    either = Q(record_a_id=record_id) | Q(record_b_id=record_id)
    for kind, a, _b, pa, pb in LinkConstraint.objects.filter(either).values_list(
        "kind", "record_a_id", "record_b_id", "record_a__person_id", "record_b__person_id"
    ):
        other_person = pb if a == record_id else pa
        (must if kind == "must" else cannot).add(other_person)
    return must, cannot


def decide(row: Mapping[str, Any], *, record_id: int | None = None, schema: Schema = ONLINE_SCHEMA) -> Decision:
    scorer, model_tag = active_scorer()
    candidates, facts = _gather(row, record_id, schema.max_identifier_group)
    must, cannot = _constraints(record_id)
    base: dict[str, Any] = {"model": model_tag, "thresholds": {"merge": scorer.merge, "review": scorer.review}}
    if must:
        person = min(must)
        return Decision("constraint", person, 1.0, {**base, "rule": "must_link", "candidate": {"person_id": person}})
    by_person: dict[int, list[Candidate]] = {}
    for candidate in candidates.values():
        by_person.setdefault(candidate.person_id, []).append(candidate)
    my_id, my_gender = row.get("s_id_number"), row.get("gender")
    contradictions: list[dict[str, Any]] = []
    strong: list[tuple[int, int, float, Candidate, PairScore]] = []  # (-shared, -p, person, ...)
    weak: list[tuple[float, int, Candidate, PairScore]] = []
    for person_id, members in by_person.items():
        ids, genders = facts.get(person_id, (set(), set()))
        if person_id in cannot:
            contradictions.append({"person_id": person_id, "reason": "cannot-link (reviewer)"})
            continue
        if my_id and my_id in ids:
            best = members[0]
            return Decision(
                "linked",
                person_id,
                1.0,
                {
                    **base,
                    "rule": "id_card",
                    "candidate": {"person_id": person_id, "record": best.label},
                    "evidence": scorer.score(row, best.row).evidence,
                },
            )
        if my_id and ids:
            contradictions.append({"person_id": person_id, "reason": "different ID-card number"})
            continue
        if my_gender and genders and my_gender not in genders:
            if any(c.shared for c in members):
                contradictions.append({"person_id": person_id, "reason": "gender differs"})
            continue
        for candidate in members:
            pair = scorer.score(row, candidate.row)
            if candidate.shared:
                reason = contradiction(row, candidate.row, DATES)
                if reason is None:
                    strong.append((len(candidate.shared), person_id, pair.probability, candidate, pair))
                    continue
                contradictions.append(
                    {"person_id": person_id, "record": candidate.label, "shared": candidate.shared, "reason": reason}
                )
            weak.append((pair.probability, person_id, candidate, pair))
    if strong:
        strong.sort(key=lambda s: (-s[0], -s[2], s[1]))
        _, person_id, _, candidate, pair = strong[0]
        others = {s[1]: s for s in strong if s[1] != person_id}
        explanation = {
            **base,
            "rule": "+".join(candidate.shared),
            "candidate": {"person_id": person_id, "record": candidate.label},
            "probability": round(pair.probability, 6),
            "match_weight": pair.match_weight,
            "evidence": pair.evidence,
            "contradictions": contradictions,
        }
        # Another person holding a different strong identifier of this record: two persons that
        # may be one; a reviewer decides.
        review = [(s[3].record_id, s[4]) for s in others.values()]
        return Decision("linked", person_id, 1.0, explanation, review)
    if weak:
        weak.sort(key=lambda w: (-w[0], w[1]))
        probability, person_id, candidate, pair = weak[0]
        explanation = {
            **base,
            "rule": "model",
            "candidate": {"person_id": person_id, "record": candidate.label},
            "probability": round(probability, 6),
            "match_weight": pair.match_weight,
            "evidence": pair.evidence,
            "contradictions": contradictions,
        }
        if probability >= scorer.merge:
            return Decision("linked", person_id, probability, explanation)
        if probability >= scorer.review:
            return Decision("review", None, probability, explanation, [(candidate.record_id, pair)])
        return Decision("new", None, probability, explanation)
    return Decision("new", None, None, {**base, "rule": "no_candidate", "contradictions": contradictions})


def fingerprint(source: str, source_key: str, fields: Mapping[str, str]) -> str:
    from hufen.common.pii import keyed_hash

    canonical = json.dumps([source, source_key, dict(sorted(fields.items()))], ensure_ascii=False)
    return keyed_hash(canonical, "identity_record")

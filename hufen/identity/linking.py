"""Online linking: one inbound record against the persons already resolved, in the database.

The same evidence, in the same order of trust, as the batch engine (`matching.py`):
1. a reviewer's must-link decides; a cannot-link keeps the record away from that person;
2. the same ID-card hash is always the same person, two different hashes never are;
3. a shared strong identifier (phone, unionid, openid, email, VIN, app user id) links unless the
   two records contradict each other (`matching.contradiction`: the couple on one phone, the parent
   on the household's number); a person holding such a contradicting record is never linked to,
   not even by the model (the batch engine's cannot-link): the record becomes a person of its own;
4. otherwise the Fellegi–Sunter weights (`weights.py`) score the record against candidates found by
   the batch engine's blocking keys: merge above the upper threshold, review between, apart below;
5. a record that links to more than one person joins them (`Decision.join`), as the batch engine's
   connected components do: the later record is the evidence that an earlier one, kept apart for
   lack of it, is the same human. The joins obey the batch engine's cluster rules (no two ID
   numbers, no two genders, no contradicting record, no reviewer's cannot-link in one person).

Candidates come from two indexes: `Identifier` (strong values) and `BlockKey` (name pinyin + birth
date, name + place ...), read with everything else a link needs in one statement (`lookup`). An
exact name agreement is weighted by how common the name is among the stored records
(`NameFrequency`), as the batch model's term-frequency adjustment does. This module only decides;
`services.identity_link` writes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from hufen.identity.matching import contradiction
from hufen.identity.models import (
    BlockKey,
    Identifier,
    LinkConstraint,
    ModelParameters,
    NameFrequency,
    SourceRecord,
)
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

    One statement takes every lock, in ascending key order so that two records sharing two
    identifiers cannot deadlock; they are released at the end of the transaction. It must be a
    statement of its own: the lookups that follow need a snapshot taken after the locks are held."""
    if connection.vendor != "postgresql" or not names:
        return
    keys = sorted({_lock_key(name) for name in names})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT k FROM unnest(%s::bigint[]) AS k ORDER BY k) AS keys",
            [keys],
        )


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


@dataclass(frozen=True)
class ActiveModel:
    scorer: Scorer
    tag: str  # "db:<id>" or "default"
    name_u: float | None  # u of the exact-name level: what the name-frequency adjustment replaces


_scorer_cache: dict[str, ActiveModel] = {}


def active_model(latest: int | None) -> ActiveModel:
    """The model stored as `latest` (the newest ModelParameters id), else the bundled default."""
    tag = f"db:{latest}" if latest else "default"
    if tag not in _scorer_cache:
        parameters = ModelParameters.objects.get(pk=latest).parameters if latest else load_default()
        _scorer_cache.clear()
        _scorer_cache[tag] = ActiveModel(Scorer(parameters), tag, _exact_name_u(parameters))
    return _scorer_cache[tag]


def active_scorer() -> tuple[Scorer, str]:
    """The newest trained model in the database, else the bundled default."""
    model = active_model(ModelParameters.objects.order_by("-id").values_list("id", flat=True).first())
    return model.scorer, model.tag


def _exact_name_u(parameters: Mapping[str, Any]) -> float | None:
    """u of the "same name" level (the first level of the name comparison, as in `weights.py`)."""
    for comparison in parameters.get("comparisons", []):
        if comparison.get("name") == "name" and comparison.get("levels"):
            u = comparison["levels"][0].get("u")
            return float(u) if u else None
    return None


# --- the name-frequency adjustment --------------------------------------------------------------

TOTAL_SHARDS = 8  # rows holding the total of named records (see NameFrequency)
# Below this many named records, frequencies are not estimated: the model's average stands.
MIN_NAMED_RECORDS = 1000
# Above, a name's frequency is smoothed toward the model's own chance agreement with this many
# pseudo-records: a few thousand records say little about one name; at 100,000 the pull is 1 %.
NAME_PSEUDO_RECORDS = 1000


@dataclass(frozen=True)
class NameCounts:
    name: int  # stored records carrying the record's full name
    total: int  # stored records carrying any name


def name_frequency(counts: NameCounts, u_exact: float) -> float:
    """The share of records with this name, counting the record being linked, as the batch model
    computes it over a whole file (smoothed toward `u_exact` for a small store)."""
    return (counts.name + 1 + NAME_PSEUDO_RECORDS * u_exact) / (counts.total + 1 + NAME_PSEUDO_RECORDS)


def adjust_for_name_frequency(
    pair: PairScore, name: str | None, counts: NameCounts | None, model: ActiveModel
) -> PairScore:
    """The batch model's term-frequency adjustment on an exact name agreement: its Bayes factor
    m/u becomes m/tf, tf the name's frequency, so 王伟 = 王伟 weighs less than 欧阳娜娜 = 欧阳娜娜."""
    evidence = pair.evidence.get("name")
    if not name or counts is None or model.name_u is None or evidence is None or evidence.get("level") != "same name":
        return pair
    if counts.total < MIN_NAMED_RECORDS:
        return pair
    tf = name_frequency(counts, model.name_u)
    adjustment = math.log2(model.name_u / tf)
    total = pair.match_weight + adjustment
    probability = 1.0 / (1.0 + 2.0 ** (-total)) if total > -1000 else 0.0
    adjusted = {
        **evidence,
        "bayes_factor": round(float(evidence["bayes_factor"]) * model.name_u / tf, 4),
        "match_weight": round(float(evidence["match_weight"]) + adjustment, 2),
        "name_frequency": round(tf, 8),
        "frequency_weight": round(adjustment, 2),
    }
    return PairScore(probability, round(total, 3), {**pair.evidence, "name": adjusted})


@dataclass
class Candidate:
    record_id: int
    person_id: int
    label: str  # source:key
    row: dict[str, Any]
    shared: list[str] = field(default_factory=list)  # strong identifier kinds shared with the record


@dataclass(frozen=True)
class Join:
    """Another person the record links to as well: one human, merged into the decided person."""

    person_id: int
    record_id: int  # the record of that person the link is to
    label: str  # source:key of that record
    rule: str  # id_card | the shared identifier kinds | model
    pair: PairScore

    def describe(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "record": self.label,
            "rule": self.rule,
            "probability": round(self.pair.probability, 6),
        }


@dataclass
class Decision:
    decision: str  # linked | new | review | constraint
    person_id: int | None  # None: create a new person
    score: float | None
    explanation: dict[str, Any]
    review_with: list[tuple[int, PairScore]] = field(default_factory=list)  # (record id, score)
    join: list[Join] = field(default_factory=list)  # persons to merge into `person_id` (linked only)


@dataclass
class Lookup:
    """Everything one link reads, from one statement (`lookup`)."""

    existing_id: int | None = None
    existing_fingerprint: str = ""
    model_id: int | None = None
    candidates: dict[int, Candidate] = field(default_factory=dict)
    # per candidate person: the ID-card hashes and genders of its records (the batch cluster checks)
    facts: dict[int, tuple[set[str], set[str]]] = field(default_factory=dict)
    must: set[int] = field(default_factory=set)  # persons a reviewer said this record belongs with
    cannot: set[int] = field(default_factory=set)  # persons a reviewer said it does not
    names: NameCounts | None = None
    phone_holders: set[int] = field(default_factory=set)  # candidate persons already holding the phone


def _table(model: type[Any]) -> str:
    return str(connection.ops.quote_name(model._meta.db_table))


def lookup(row: Mapping[str, Any], *, source: str, source_key: str, max_group: int) -> Lookup:
    """One statement: the stored record under (source, source_key), the newest model id, candidate
    records by identifier (a value shared by more than `max_group` records is a placeholder, not
    evidence, except an ID-card hash) and by blocking key, every record of the candidates' persons
    (up to MAX_PERSON_RECORDS each), reviewers' constraints, the name's frequency, and which
    candidate persons already hold the record's phone."""
    from hufen.people.models import ContactPoint

    sr, ident, block = _table(SourceRecord), _table(Identifier), _table(BlockKey)
    params: list[Any] = [source, source_key]
    ctes = [f"me AS (SELECT id, fingerprint FROM {sr} WHERE source = %s AND source_key = %s)"]
    found: list[str] = []
    pairs = identifiers_of(row)
    if pairs:
        either = " OR ".join("(kind = %s AND value = %s)" for _ in pairs)
        params += [x for pair in pairs for x in pair]
        ctes.append(
            f"hits AS (SELECT record_id, kind, value FROM {ident} WHERE ({either})"
            f" AND record_id NOT IN (SELECT id FROM me) LIMIT {MAX_IDENTIFIER_ROWS})"
        )
        ctes.append(
            "ident AS (SELECT record_id, kind FROM (SELECT record_id, kind,"
            " COUNT(*) OVER (PARTITION BY kind, value) AS crowd FROM hits) AS counted"
            " WHERE crowd <= %s OR kind = 'id_hash')"
        )
        params.append(max_group)
        found.append("SELECT record_id FROM ident")
    keys = block_keys_of(row)
    if keys:
        params += keys
        ctes.append(
            f"blocked AS (SELECT record_id FROM {block} WHERE key IN ({', '.join('%s' for _ in keys)})"
            f" AND record_id NOT IN (SELECT id FROM me) ORDER BY id DESC LIMIT {MAX_BLOCK_CANDIDATES})"
        )
        found.append("SELECT record_id FROM blocked")
    if not found:
        found.append(f"SELECT id AS record_id FROM {sr} WHERE 1 = 0")
    ctes.append(f"found AS ({' UNION '.join(found)})")
    ctes.append(f"persons AS (SELECT DISTINCT person_id FROM {sr} WHERE id IN (SELECT record_id FROM found))")
    ctes.append(
        "members AS (SELECT id, person_id, source, source_key, normalized,"
        " ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY id DESC) AS n"
        f" FROM {sr} WHERE person_id IN (SELECT person_id FROM persons) AND id NOT IN (SELECT id FROM me))"
    )
    lc, nf, cp = _table(LinkConstraint), _table(NameFrequency), _table(ContactPoint)
    parts = [
        "SELECT 'r', id, person_id, source, source_key, normalized,"
        " CASE WHEN id IN (SELECT record_id FROM found) THEN 1 ELSE 0 END FROM members"
        f" WHERE n <= {MAX_PERSON_RECORDS} OR id IN (SELECT record_id FROM found)",
        "SELECT 'me', id, NULL, fingerprint, NULL, NULL, NULL FROM me",
        f"SELECT 'model', MAX(id), NULL, NULL, NULL, NULL, NULL FROM {_table(ModelParameters)}",
        # a constraint names the other record's person today
        f"SELECT c.kind, o.person_id, NULL, NULL, NULL, NULL, NULL FROM {lc} c JOIN {sr} o"
        " ON o.id = CASE WHEN c.record_a_id IN (SELECT id FROM me) THEN c.record_b_id ELSE c.record_a_id END"
        " WHERE c.record_a_id IN (SELECT id FROM me) OR c.record_b_id IN (SELECT id FROM me)",
    ]
    if pairs:
        parts.append("SELECT 'i', record_id, NULL, kind, NULL, NULL, NULL FROM ident")
    name = row.get("n_full")
    if name:
        parts.append(
            f"SELECT 'n', SUM(records), NULL, name, NULL, NULL, NULL FROM {nf} WHERE name IN (%s, '') GROUP BY name"
        )
        params.append(name[:200])
    phone = row.get("s_phone")
    if phone:
        parts.append(
            f"SELECT 'p', person_id, NULL, NULL, NULL, NULL, NULL FROM {cp} WHERE kind = 'phone' AND value = %s"
            " AND person_id IN (SELECT person_id FROM persons)"
        )
        params.append(phone)
    sql = "WITH " + ", ".join(ctes) + " " + " UNION ALL ".join(parts)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        result = cursor.fetchall()
    return _read_lookup(result, name)


def _read_lookup(result: list[tuple[Any, ...]], name: str | None) -> Lookup:
    out = Lookup()
    shared: dict[int, set[str]] = {}
    name_count = total = 0
    members: list[tuple[int, int, str, str, Any, bool]] = []
    for tag, number, person_id, text, key, normalized, hit in result:
        if tag == "r":
            members.append((number, person_id, text, key, normalized, bool(hit)))
        elif tag == "i":
            shared.setdefault(number, set()).add(text)
        elif tag == "me":
            out.existing_id, out.existing_fingerprint = number, text
        elif tag == "model":
            out.model_id = number
        elif tag in {"must", "cannot"}:
            (out.must if tag == "must" else out.cannot).add(number)
        elif tag == "n":
            if text == "":
                total = int(number or 0)
            else:
                name_count = int(number or 0)
        elif tag == "p":
            out.phone_holders.add(number)
    if name:
        out.names = NameCounts(name_count, total)
    for pk, person_id, source, key, normalized, hit in members:
        data = json.loads(normalized) if isinstance(normalized, str) else normalized
        hashes, genders = out.facts.setdefault(person_id, (set(), set()))
        if data.get("s_id_number"):
            hashes.add(data["s_id_number"])
        if data.get("gender"):
            genders.add(data["gender"])
        if hit:
            out.candidates[pk] = Candidate(pk, person_id, f"{source}:{key}", data, sorted(shared.get(pk, ())))
    return out


# A candidate link of the record: (rank, person, candidate record, score, rule). Ranks sort the
# strongest first: the same ID number, then shared identifiers (most kinds first), then the model.
Link = tuple[tuple[int, int, float, int], int, Candidate, PairScore, str]


def decide(row: Mapping[str, Any], found: Lookup) -> Decision:
    """The decision for a record from what `lookup` read; no database access but, on a newly
    stored model, loading that model once.

    Like the batch engine, which takes connected components over every accepted link, a record
    that links to one person and also to others (the same ID number, a shared identifier without
    contradiction, the model above `merge`) joins them: `Decision.join` lists the persons to merge
    into the chosen one, unless that would put two ID numbers or two genders into one person."""
    model = active_model(found.model_id)
    scorer, candidates, facts = model.scorer, found.candidates, found.facts
    must, cannot = found.must, found.cannot
    base: dict[str, Any] = {"model": model.tag, "thresholds": {"merge": scorer.merge, "review": scorer.review}}
    if must:
        person = min(must)
        return Decision("constraint", person, 1.0, {**base, "rule": "must_link", "candidate": {"person_id": person}})
    by_person: dict[int, list[Candidate]] = {}
    for candidate in candidates.values():
        by_person.setdefault(candidate.person_id, []).append(candidate)
    my_id, my_gender = row.get("s_id_number"), row.get("gender")
    contradictions: list[dict[str, Any]] = []
    contradicted: set[int] = set()  # persons with a record sharing an identifier that contradicts this one
    links: list[Link] = []
    for person_id, members in by_person.items():
        ids, genders = facts.get(person_id, (set(), set()))
        if person_id in cannot:
            contradictions.append({"person_id": person_id, "reason": "cannot-link (reviewer)"})
            continue
        if my_id and my_id in ids:
            best = min(members, key=lambda c: c.record_id)
            pair = adjust_for_name_frequency(scorer.score(row, best.row), row.get("n_full"), found.names, model)
            links.append(((0, 0, 0.0, person_id), person_id, best, pair, "id_card"))
            continue
        if my_id and ids:
            contradictions.append({"person_id": person_id, "reason": "different ID-card number"})
            continue
        if my_gender and genders and my_gender not in genders:
            if any(c.shared for c in members):
                contradictions.append({"person_id": person_id, "reason": "gender differs"})
            continue
        for candidate in members:
            pair = adjust_for_name_frequency(scorer.score(row, candidate.row), row.get("n_full"), found.names, model)
            if candidate.shared:
                reason = contradiction(row, candidate.row, DATES)
                if reason is None:
                    rank = (1, -len(candidate.shared), -pair.probability, person_id)
                    links.append((rank, person_id, candidate, pair, "+".join(candidate.shared)))
                    continue
                contradictions.append(
                    {"person_id": person_id, "record": candidate.label, "shared": candidate.shared, "reason": reason}
                )
                contradicted.add(person_id)
            links.append(((2, 0, -pair.probability, person_id), person_id, candidate, pair, "model"))
    if not links:
        return Decision("new", None, None, {**base, "rule": "no_candidate", "contradictions": contradictions})
    links.sort(key=lambda link: link[0])
    # A person holding a record that shares an identifier with this one and contradicts it (another
    # name on the household phone) is another human: neither that identifier nor the model, which
    # counts the shared phone and address again, may link to it (the batch engine's cannot-link).
    allowed = [link for link in links if link[1] not in contradicted]
    if not allowed:
        _, person_id, candidate, pair, _ = links[0]
        return Decision(
            "new",
            None,
            None,
            {
                **base,
                "rule": "contradiction",
                "candidate": {"person_id": person_id, "record": candidate.label},
                "probability": round(pair.probability, 6),
                "match_weight": pair.match_weight,
                "evidence": pair.evidence,
                "contradictions": contradictions,
            },
        )
    _, person_id, candidate, pair, rule = allowed[0]
    explanation: dict[str, Any] = {
        **base,
        "rule": rule,
        "candidate": {"person_id": person_id, "record": candidate.label},
    }
    if rule == "id_card":
        explanation["evidence"] = pair.evidence
    else:
        explanation.update(
            probability=round(pair.probability, 6),
            match_weight=pair.match_weight,
            evidence=pair.evidence,
            contradictions=contradictions,
        )
    if rule == "model" and pair.probability < scorer.merge:
        if pair.probability >= scorer.review:
            return Decision("review", None, pair.probability, explanation, [(candidate.record_id, pair)])
        return Decision("new", None, pair.probability, explanation)
    score = 1.0 if rule != "model" else pair.probability
    decision = Decision("linked", person_id, score, explanation)
    _add_joins(decision, row, links, facts, contradicted, scorer.merge)
    return decision


def _add_joins(
    decision: Decision,
    row: Mapping[str, Any],
    links: list[Link],
    facts: Mapping[int, tuple[set[str], set[str]]],
    contradicted: set[int],
    merge: float,
) -> None:
    """The other persons the record links to, strongest link first, as the batch engine's careful
    clustering (`matching._careful`) takes them: the same ID number joins whatever else says; any
    other link is refused when the joined person would hold two ID numbers or two genders, or a
    record contradicting this one. A refused link goes to the review queue instead."""
    assert decision.person_id is not None
    ids, genders = (set(s) for s in facts.get(decision.person_id, (set(), set())))
    ids |= {row["s_id_number"]} if row.get("s_id_number") else set()
    genders |= {row["gender"]} if row.get("gender") else set()
    seen = {decision.person_id}
    for _, person_id, candidate, pair, rule in links:
        if person_id in seen or (rule == "model" and pair.probability < merge):
            continue
        seen.add(person_id)
        their_ids, their_genders = facts.get(person_id, (set(), set()))
        two_ids = bool(ids and their_ids and ids != their_ids)
        two_genders = bool(genders and their_genders and not genders & their_genders)
        if rule != "id_card" and (two_ids or two_genders or person_id in contradicted):
            decision.review_with.append((candidate.record_id, pair))
            continue
        ids |= their_ids
        genders |= their_genders
        decision.join.append(Join(person_id, candidate.record_id, candidate.label, rule, pair))
    if decision.join:
        decision.explanation["joined"] = [join.describe() for join in decision.join]


def fingerprint(source: str, source_key: str, fields: Mapping[str, str]) -> str:
    from hufen.common.pii import keyed_hash

    canonical = json.dumps([source, source_key, dict(sorted(fields.items()))], ensure_ascii=False)
    return keyed_hash(canonical, "identity_record")

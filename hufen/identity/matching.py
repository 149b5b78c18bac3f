"""ONE ID matching engine: records in, persons out, no database.

Three kinds of evidence, in order of trust:
1. the same ID-card number is always one person, two different valid ID numbers never are;
2. a shared strong identifier (phone, email, WeChat unionid, VIN, app id) links two records unless
   they contradict each other (different gender, different names, different birth dates — the
   couple who registered the car on one phone);
3. everything else is scored by the Fellegi–Sunter model (`model.py`): `merge` and above joins,
   `review` to `merge` goes to the review queue, below stays apart.

Clusters are connected components over accepted links, built strongest link first, and a link
that would put two different ID numbers, two genders or a contradicting pair into one person is
refused, so no chain of weak links can join what a strong fact keeps apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations, pairwise
from typing import Any

from rapidfuzz.distance import JaroWinkler, Levenshtein

from hufen.identity.model import explain, level_labels, score_pairs
from hufen.identity.prepare import prepare
from hufen.identity.schema import Schema
from hufen.identity.weights import extract

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Link:
    a: int
    b: int
    probability: float
    rule: str  # "id_card", "phone", …, or "model"
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class Resolution:
    record_ids: list[str]
    person_ids: list[str]
    scores: list[float | None]  # the strongest accepted link that joined the record, if any
    review: list[dict[str, Any]]
    stats: dict[str, Any]
    # The trained model (weights.extract): what online linking scores with after a rebuild.
    parameters: dict[str, Any] = field(default_factory=dict)


def contradiction(a: Mapping[str, Any], b: Mapping[str, Any], dates: list[str]) -> str | None:
    """Why two records sharing an identifier are still two persons, or None."""
    if a["gender"] and b["gender"] and a["gender"] != b["gender"]:
        return "gender differs"
    if a["n_key"] and b["n_key"] and not names_compatible(a, b):
        return "names differ"
    for col in dates:
        if a[col] and b[col] and Levenshtein.distance(a[col], b[col]) > 1:
            return f"{col.removeprefix('d_')} differs"
    return None


def names_compatible(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    if a["n_key"] == b["n_key"]:
        return True
    if not a["n_given"] or not b["n_given"]:
        # 王先生 is compatible with any 王.
        return bool(a["n_sur"]) and a["n_sur"] == b["n_sur"]
    full_a, full_b = a["n_full"] or "", b["n_full"] or ""
    if min(len(full_a), len(full_b)) >= 3 and Levenshtein.distance(full_a, full_b) <= 1:
        return True  # one character mistyped in a three-character name
    return bool(JaroWinkler.similarity(a["n_key"], b["n_key"]) >= 0.92)


def strong_links(rows: list[dict[str, Any]], schema: Schema) -> tuple[list[Link], set[tuple[int, int]]]:
    """Links from shared identifiers, and the cannot-link pairs their contradictions reveal."""
    links: list[Link] = []
    cannot: set[tuple[int, int]] = set()
    dates = [c for c in (rows[0] if rows else {}) if c.startswith("d_")]
    for col, kind in schema.columns.items():
        key = f"s_{col}"
        if kind not in {"identifier", "phone", "email", "id_card", "vin"}:
            continue
        groups: dict[str, list[int]] = {}
        for row in rows:
            if row.get(key):
                groups.setdefault(row[key], []).append(row["uid"])
        for members in groups.values():
            if len(members) < 2:
                continue
            if kind == "id_card":
                links += [Link(a, b, 1.0, col) for a, b in pairwise(members)]
                continue
            if len(members) > schema.max_identifier_group:
                continue  # a placeholder such as 13800000000 shared by hundreds of strangers
            for a, b in combinations(sorted(members), 2):
                reason = contradiction(rows[a], rows[b], dates)
                if reason is None:
                    links.append(Link(a, b, 1.0, col))
                else:
                    cannot.add((a, b))
    return links, cannot


class _Components:
    """Union–find that refuses a union joining two ID numbers, two genders or a cannot-link pair."""

    def __init__(self, rows: list[dict[str, Any]], id_cols: list[str], cannot: set[tuple[int, int]]) -> None:
        n = len(rows)
        self.parent = list(range(n))
        self.members: list[list[int]] = [[i] for i in range(n)]
        self.ids: list[set[str]] = [{r[c] for c in id_cols if r[c]} for r in rows]
        self.genders: list[set[str]] = [{r["gender"]} if r["gender"] else set() for r in rows]
        self.cannot: dict[int, set[int]] = {}
        for a, b in cannot:
            self.cannot.setdefault(a, set()).add(b)
            self.cannot.setdefault(b, set()).add(a)

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int, *, force: bool = False) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if not force and self.conflict(ra, rb):
            return False
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra] += self.members[rb]
        self.ids[ra] |= self.ids[rb]
        self.genders[ra] |= self.genders[rb]
        self.members[rb], self.ids[rb], self.genders[rb] = [], set(), set()
        return True

    def conflict(self, ra: int, rb: int) -> bool:
        if self.ids[ra] and self.ids[rb] and self.ids[ra] != self.ids[rb]:
            return True
        if self.genders[ra] and self.genders[rb] and not self.genders[ra] & self.genders[rb]:
            return True
        small, large = sorted((ra, rb), key=lambda r: len(self.members[r]))
        others = {m for m in self.members[small] for m in self.cannot.get(m, ())}
        return bool(others) and any(self.find(o) == large for o in others)


def resolve(
    records: Iterable[Mapping[str, str]],
    schema: Schema,
    *,
    progress: Progress | None = None,
    must_link: Iterable[tuple[str, str]] = (),
    cannot_link: Iterable[tuple[str, str]] = (),
) -> Resolution:
    """Cluster the records. `must_link` / `cannot_link` are reviewers' decisions on pairs of record
    ids: a must-link joins whatever else says, a cannot-link is never crossed by any chain of links."""
    started = time.perf_counter()
    note = progress or (lambda stage: None)
    note("normalising")
    rows, frame = prepare(records, schema)
    return resolve_rows(
        rows, frame, schema, progress=note, must_link=must_link, cannot_link=cannot_link, started=started
    )


def resolve_rows(
    rows: list[dict[str, Any]],
    frame: Any,
    schema: Schema,
    *,
    progress: Progress | None = None,
    must_link: Iterable[tuple[str, str]] = (),
    cannot_link: Iterable[tuple[str, str]] = (),
    started: float | None = None,
) -> Resolution:
    """`resolve` on rows already normalised (`prepare`): a rebuild reads them from the database."""
    started = started if started is not None else time.perf_counter()
    note = progress or (lambda stage: None)
    note("strong identifiers")
    links, cannot = strong_links(rows, schema)
    uid_of = {row["rid"]: row["uid"] for row in rows}
    for left, right in cannot_link:
        if left in uid_of and right in uid_of:
            a, b = sorted((uid_of[left], uid_of[right]))
            cannot.add((a, b))
    pairs, linker = score_pairs(frame, schema.review, sample_pairs=min(1e7, max(1e5, 20.0 * len(rows))), note=note)
    labels = level_labels(linker)
    note("clustering")
    id_cols = [f"s_{c}" for c, k in schema.columns.items() if k == "id_card"]
    components = _Components(rows, id_cols, cannot)
    best: list[float | None] = [None] * len(rows)
    id_rules = {c.removeprefix("s_") for c in id_cols}
    for left, right in must_link:
        if left in uid_of and right in uid_of:
            components.union(uid_of[left], uid_of[right], force=True)
            best[uid_of[left]] = best[uid_of[right]] = 1.0
    for link in links:
        if components.union(link.a, link.b, force=link.rule in id_rules):
            best[link.a] = best[link.b] = 1.0
    review: list[dict[str, Any]] = []
    model_merges = 0
    ordered = pairs.sort_values("match_probability", ascending=False, kind="stable")
    for pair in ordered.to_dict(orient="records"):
        a, b, p = int(pair["uid_l"]), int(pair["uid_r"]), float(pair["match_probability"])
        if components.find(a) == components.find(b) or (min(a, b), max(a, b)) in cannot:
            continue  # already one person, or a direct contradiction (the couple on one phone)
        refused = None
        if p >= schema.merge:
            if components.union(a, b):
                model_merges += 1
                best[a], best[b] = max(best[a] or 0.0, p), max(best[b] or 0.0, p)
                continue
            refused = "contradicts a strong identifier or a cannot-link in the cluster"
        review.append(_review_row(rows, a, b, p, pair, labels, refused))
    persons = _person_ids(rows, components)
    seconds = round(time.perf_counter() - started, 3)
    stats = {
        "records": len(rows),
        "persons": len(set(persons)),
        "strong_links": len(links),
        "cannot_links": len(cannot),
        "candidate_pairs_scored": len(pairs),
        "merged_pairs": model_merges,
        "review_pairs": len(review),
        "seconds": seconds,
    }
    parameters = extract(linker, merge=schema.merge, review=schema.review)
    return Resolution([r["rid"] for r in rows], persons, best, review, stats, parameters)


def _review_row(
    rows: list[dict[str, Any]],
    a: int,
    b: int,
    p: float,
    pair: dict[str, Any],
    labels: dict[str, dict[int, str]],
    refused: str | None,
) -> dict[str, Any]:
    return {
        "record_id_l": rows[a]["rid"],
        "record_id_r": rows[b]["rid"],
        "match_probability": round(p, 6),
        "match_weight": round(float(pair["match_weight"]), 3),
        "refused": refused,
        "evidence": explain(pair, labels),
    }


def _person_ids(rows: list[dict[str, Any]], components: _Components) -> list[str]:
    """A person is named by the smallest record id in it: the same input always gives the same ids."""
    smallest: dict[int, str] = {}
    for row in rows:
        root = components.find(row["uid"])
        if root not in smallest or row["rid"] < smallest[root]:
            smallest[root] = row["rid"]
    return [smallest[components.find(row["uid"])] for row in rows]

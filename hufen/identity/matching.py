"""ONE ID matching engine: records in, persons out, no database.

Three kinds of evidence, in order of trust:
1. the same ID-card number is always one person, two different valid ID numbers never are;
2. a shared strong identifier (phone, email, WeChat unionid, VIN, app id) links two records unless
   they contradict each other (different gender, different names, different birth dates — the
   couple who registered the car on one phone, the parent on the household's number). Names
   differ unless they are one name written another way (pinyin in either order, traditional
   characters, a homophone, 王先生) or one mistyped character of a three-character name: 杨娜
   and 杨志强 on one phone are two persons. A contradicting pair is never linked, not even by
   the model (which would count the shared phone and address again);
3. everything else is scored by the Fellegi–Sunter model (`model.py`): `merge` and above joins,
   `review` to `merge` goes to the review queue, below stays apart.

Clusters are connected components over accepted links. A cluster holding two different ID numbers,
two genders or a contradicting pair is rebuilt link by link, strongest first, and the link that
would join them is refused, so no chain of weak links can join what a strong fact keeps apart.
Everything runs column-wise (DuckDB, numpy, Arrow strings rather than Python objects): a million
records resolve in about a minute, ten million within a few gigabytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz.distance import JaroWinkler, Levenshtein
from rapidfuzz.process import cpdist

from hufen.identity.model import BLOCK_CAP, Scored, connect, explain, score_pairs
from hufen.identity.prepare import prepare_frame
from hufen.identity.schema import STRONG_KINDS, Schema
from hufen.identity.weights import extract

Progress = Callable[[str], None]
Array = npt.NDArray[Any]


@dataclass
class Resolution:
    """The persons of a batch. Held column-wise (Arrow strings, a numpy array): ten million
    records cost a few hundred megabytes, not the gigabytes of Python lists; `record_ids`,
    `person_ids` and `scores` give them as lists when asked."""

    record_id_array: pa.Array  # the records, in input order
    person_id_array: pa.Array  # per record: its person's id (the smallest record id of the person)
    best: Array  # per record: the strongest accepted link within its person, 0.0 if none
    review: list[dict[str, Any]]
    stats: dict[str, Any]
    # The trained model (weights.Scorer's format): what online linking scores with after a rebuild.
    parameters: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def record_ids(self) -> list[str]:
        return [str(x) for x in self.record_id_array.to_pylist()]

    @cached_property
    def person_ids(self) -> list[str]:
        return [str(x) for x in self.person_id_array.to_pylist()]

    @property
    def scores(self) -> list[float | None]:
        """The strongest accepted link from each record within its person, if any."""
        return [float(s) if s > 0 else None for s in self.best]


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
    """Could two names sharing an identifier be one person's? Only as spellings of one name: the
    same pinyin key (traditional characters, homophones, pinyin in either order), a surname with
    an honorific, one mistyped character of a three-character name, or a Latin spelling close to
    the other. Two Chinese names differing otherwise are two humans: 杨娜 and 杨志强 on one phone."""
    if a["n_key"] == b["n_key"]:
        return True
    if not a["n_given"] or not b["n_given"]:
        # 王先生 is compatible with any 王, and with `Xia Wang` (a Latin name's order is a guess).
        return bool(a["n_sur"]) and (a["n_sur"] == b["n_sur"] or _latin_swap(a, b) or _latin_swap(b, a))
    full_a, full_b = a["n_full"] or "", b["n_full"] or ""
    if min(len(full_a), len(full_b)) >= 3 and Levenshtein.distance(full_a, full_b) <= 1:
        return True  # one character mistyped in a three-character name
    if _is_han(full_a) and _is_han(full_b):
        return False  # another given name (or surname), not another spelling: a relative
    if a["n_sur"] == b["n_sur"]:
        # A shared surname says nothing (the sorted key `wang xin` / `wang xiuying` starts alike):
        # the given names themselves must be close (`Xiaowie` for 小伟).
        return bool(JaroWinkler.similarity(a["n_given"], b["n_given"]) >= SIMILAR)
    return bool(JaroWinkler.similarity(a["n_key"], b["n_key"]) >= SIMILAR)


SIMILAR = 0.92  # Jaro-Winkler of two Latin spellings of one name


def _is_han(full: str) -> bool:
    """A Chinese name (a Latin one, or pinyin, is ASCII once normalised)."""
    return bool(full) and not full.isascii()


def _latin_swap(x: Mapping[str, Any], y: Mapping[str, Any]) -> bool:
    """x is a Latin name whose given part is y's surname: `Xia Wei` read the other way round."""
    full = x["n_full"] or ""
    return bool(full) and full.isascii() and bool(y["n_sur"]) and x["n_given"] == y["n_sur"]


class Columns:
    """The prepared frame's columns, read a few rows at a time: `cols[col][positions]` is a numpy
    object array of those rows' values, missing values as "" (no column is ever turned into
    Python objects whole)."""

    def __init__(self, table: pa.Table | pd.DataFrame) -> None:
        self._table = _as_table(table)

    def __getitem__(self, col: str) -> _Rows:
        return _Rows(self._table.column(col))


class _Rows:
    def __init__(self, column: pa.ChunkedArray) -> None:
        self._column = column

    def __getitem__(self, positions: Array) -> Array:
        taken = pc.fill_null(self._column.take(pa.array(positions, type=pa.int64())), "")
        return np.asarray(taken.to_numpy(zero_copy_only=False), dtype=object)


def contradicts(cols: Columns, a: Array, b: Array, dates: list[str]) -> Array:
    """`contradiction` for arrays of record pairs at once: True where the pair is two persons."""
    gender_a, gender_b = cols["gender"][a], cols["gender"][b]
    bad = (gender_a != "") & (gender_b != "") & (gender_a != gender_b)
    key_a, key_b = cols["n_key"][a], cols["n_key"][b]
    check = (key_a != "") & (key_b != "") & (key_a != key_b) & ~bad
    if check.any():
        idx = np.flatnonzero(check)
        ia, ib = a[idx], b[idx]
        given_a, given_b = cols["n_given"][ia], cols["n_given"][ib]
        sur_a, sur_b = cols["n_sur"][ia], cols["n_sur"][ib]
        partial = (given_a == "") | (given_b == "")
        full_a, full_b = cols["n_full"][ia], cols["n_full"][ib]
        latin_a = np.array([bool(x) and x.isascii() for x in full_a], dtype=bool)
        latin_b = np.array([bool(x) and x.isascii() for x in full_b], dtype=bool)
        swapped = (latin_a & (sur_b != "") & (given_a == sur_b)) | (latin_b & (sur_a != "") & (given_b == sur_a))
        compatible = np.where(partial, (sur_a != "") & ((sur_a == sur_b) | swapped), False)
        full = ~partial
        if full.any():
            fidx = np.flatnonzero(full)
            full_a, full_b = cols["n_full"][ia[fidx]], cols["n_full"][ib[fidx]]
            lengths = np.minimum([len(x) for x in full_a], [len(x) for x in full_b])
            typo = (lengths >= 3) & (cpdist(list(full_a), list(full_b), scorer=Levenshtein.distance, workers=-1) <= 1)
            han = np.array([_is_han(x) and _is_han(y) for x, y in zip(full_a, full_b, strict=True)], dtype=bool)
            same_surname = sur_a[fidx] == sur_b[fidx]
            ok = typo.copy()  # two Chinese names: a typo or nothing
            latin_same = np.flatnonzero(~typo & ~han & same_surname)
            if len(latin_same):
                ok[latin_same] = (
                    cpdist(
                        list(given_a[fidx[latin_same]]),
                        list(given_b[fidx[latin_same]]),
                        scorer=JaroWinkler.similarity,
                        workers=-1,
                    )
                    >= SIMILAR
                )
            latin_other = np.flatnonzero(~typo & ~han & ~same_surname)
            if len(latin_other):
                keys = idx[fidx[latin_other]]
                ok[latin_other] = (
                    cpdist(list(key_a[keys]), list(key_b[keys]), scorer=JaroWinkler.similarity, workers=-1) >= SIMILAR
                )
            compatible[fidx] = ok
        bad[idx] |= ~compatible
    for col in dates:
        date_a, date_b = cols[col][a], cols[col][b]
        check = (date_a != "") & (date_b != "") & (date_a != date_b) & ~bad
        if check.any():
            idx = np.flatnonzero(check)
            far = cpdist(list(date_a[idx]), list(date_b[idx]), scorer=Levenshtein.distance, workers=-1) > 1
            bad[idx] |= far
    return np.asarray(bad, dtype=bool)


@dataclass
class StrongLinks:
    a: Array
    b: Array
    forced: Array  # the same ID-card number: joins whatever else says
    cannot_a: Array  # pairs sharing an identifier that contradict each other
    cannot_b: Array


def strong_links(frame: pa.Table, schema: Schema, cols: Columns) -> StrongLinks:
    """Links from shared identifiers, and the cannot-link pairs their contradictions reveal."""
    connection = connect()
    connection.register("recs", frame)
    dates = [c for c in frame.column_names if c.startswith("d_")]
    id_parts, shared_parts = [], []
    for col, kind in schema.columns.items():
        key = f"s_{col}"
        if kind not in STRONG_KINDS or key not in frame.column_names:
            continue
        if kind == "id_card":
            # Every record of one ID number joins its first record (the same components as a chain).
            id_parts.append(
                f"SELECT uid AS a, min(uid) OVER (PARTITION BY {key}) AS b FROM recs WHERE {key} IS NOT NULL"
            )
        else:
            # A "phone" shared by more than max_identifier_group records is a placeholder such as
            # 13800000000, not evidence.
            shared_parts.append(
                f"SELECT l.uid AS a, r.uid AS b FROM (SELECT uid, {key} AS v, count(*) OVER (PARTITION BY {key}) AS k"
                f" FROM recs WHERE {key} IS NOT NULL) l JOIN recs r ON l.v = r.{key} AND l.uid < r.uid"
                f" WHERE l.k <= {int(schema.max_identifier_group)}"
            )

    def fetch(parts: list[str], where: str = "") -> tuple[Array, Array]:
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        sql = f"SELECT DISTINCT a, b FROM ({' UNION ALL '.join(parts)}) {where} ORDER BY a, b"
        result = connection.execute(sql).fetchnumpy()
        return result["a"].astype(np.int64), result["b"].astype(np.int64)

    id_a, id_b = fetch(id_parts, "WHERE a <> b")
    shared_a, shared_b = fetch(shared_parts)
    connection.close()
    bad = contradicts(cols, shared_a, shared_b, dates)
    ok = ~bad
    return StrongLinks(
        np.concatenate([id_a, shared_a[ok]]),
        np.concatenate([id_b, shared_b[ok]]),
        np.concatenate([np.ones(len(id_a), dtype=bool), np.zeros(int(ok.sum()), dtype=bool)]),
        shared_a[bad],
        shared_b[bad],
    )


def connected_components(n: int, a: Array, b: Array) -> Array:
    """A component label (its smallest member) per record: hooking and pointer jumping in numpy."""
    parent = np.arange(n, dtype=np.int64)
    if len(a) == 0:
        return parent
    while True:
        pa, pb = parent[a], parent[b]
        differ = pa != pb
        if not differ.any():
            return parent
        pa, pb = pa[differ], pb[differ]
        low, high = np.minimum(pa, pb), np.maximum(pa, pb)
        np.minimum.at(parent, high, low)
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped


class _Components:
    """Union–find that refuses a union joining two ID numbers, two genders or a cannot-link pair.

    Works on local positions 0..n-1 (the records of the clusters where such a conflict exists)."""

    def __init__(self, ids: list[set[str]], genders: list[str], cannot: set[tuple[int, int]]) -> None:
        n = len(ids)
        self.parent = list(range(n))
        self.members: list[list[int]] = [[i] for i in range(n)]
        self.ids = ids
        self.genders: list[set[str]] = [{g} if g else set() for g in genders]
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
    records: Iterable[Mapping[str, str]] | pd.DataFrame,
    schema: Schema,
    *,
    progress: Progress | None = None,
    must_link: Iterable[tuple[str, str]] = (),
    cannot_link: Iterable[tuple[str, str]] = (),
) -> Resolution:
    """Cluster the records (dicts, or a DataFrame of the input columns as text). `must_link` /
    `cannot_link` are reviewers' decisions on pairs of record ids: a must-link joins whatever else
    says, a cannot-link is never crossed by any chain of links."""
    started = time.perf_counter()
    stages = _Stages(progress, started)
    stages("normalising")
    frame = prepare_frame(records, schema)
    return resolve_frame(frame, schema, progress=stages, must_link=must_link, cannot_link=cannot_link, started=started)


class _Stages:
    """Passes each stage name on to `progress` and keeps how long each stage took."""

    def __init__(self, progress: Progress | None, started: float) -> None:
        self.progress = progress
        self.last = ("", started)
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        name, since = self.last
        if name:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + now - since, 3)
        self.last = (stage, now)
        if self.progress is not None:
            self.progress(stage)


def resolve_rows(
    rows: list[dict[str, Any]],
    frame: pd.DataFrame,
    schema: Schema,
    *,
    progress: Progress | None = None,
    must_link: Iterable[tuple[str, str]] = (),
    cannot_link: Iterable[tuple[str, str]] = (),
    started: float | None = None,
) -> Resolution:
    """`resolve` on records already normalised (`prepare_rows`, with the same rows as a frame of
    `frame_columns`): a rebuild reads them from the database."""
    del rows  # the frame holds the same values column by column
    return resolve_frame(
        frame, schema, progress=progress, must_link=must_link, cannot_link=cannot_link, started=started
    )


def _pairs_of(ids: Iterable[tuple[str, str]], uid_of: Callable[[], dict[str, int]]) -> list[tuple[int, int]]:
    ids = list(ids)
    if not ids:
        return []
    lookup = uid_of()
    return [tuple(sorted((lookup[x], lookup[y]))) for x, y in ids if x in lookup and y in lookup]  # type: ignore[misc]


def resolve_frame(
    frame: pd.DataFrame | pa.Table,
    schema: Schema,
    *,
    progress: Progress | None = None,
    must_link: Iterable[tuple[str, str]] = (),
    cannot_link: Iterable[tuple[str, str]] = (),
    started: float | None = None,
) -> Resolution:
    started = started if started is not None else time.perf_counter()
    note = progress if isinstance(progress, _Stages) else _Stages(progress, started)
    table = _as_table(frame)
    del frame
    n = table.num_rows
    uid = pa.array(np.arange(n, dtype=np.int64))
    table = (
        table.set_column(table.column_names.index("uid"), "uid", uid)
        if "uid" in table.column_names
        else (table.add_column(0, "uid", uid))
    )
    rids = pc.cast(table.column("rid"), pa.string()).combine_chunks()
    cols = Columns(table)
    lookup: dict[str, dict[str, int]] = {}

    def uid_of() -> dict[str, int]:
        if "map" not in lookup:
            lookup["map"] = {rid: i for i, rid in enumerate(rids.to_pylist())}
        return lookup["map"]

    note("strong identifiers")
    strong = strong_links(table, schema, cols)
    must = _pairs_of(must_link, uid_of)
    user_cannot = _pairs_of(cannot_link, uid_of)
    lookup.clear()
    scored = score_pairs(
        table,
        sample_pairs=int(min(1e6, max(2e5, 2.0 * n))),
        block_cap=max(BLOCK_CAP, schema.max_identifier_group),
        broad=not schema.chinese,
        note=note,
        keep_above=schema.review,
    )
    note("clustering")
    probability = scored.probability
    pair_index = np.flatnonzero(probability >= schema.review)
    del probability
    pa_, pb = scored.a[pair_index].astype(np.int64), scored.b[pair_index].astype(np.int64)
    pp = scored.probability_at(pair_index)
    cannot_a = np.concatenate([strong.cannot_a, np.array([p[0] for p in user_cannot], dtype=np.int64)])
    cannot_b = np.concatenate([strong.cannot_b, np.array([p[1] for p in user_cannot], dtype=np.int64)])
    direct_cannot = _pair_set_mask(pa_, pb, cannot_a, cannot_b, n)
    merge = (pp >= schema.merge) & ~direct_cannot
    must_a = np.array([p[0] for p in must], dtype=np.int64)
    must_b = np.array([p[1] for p in must], dtype=np.int64)
    edge_a = np.concatenate([must_a, strong.a, pa_[merge]])
    edge_b = np.concatenate([must_b, strong.b, pb[merge]])
    labels = connected_components(n, edge_a, edge_b)
    del edge_a, edge_b
    id_cols = [f"s_{c}" for c, k in schema.columns.items() if k == "id_card" and f"s_{c}" in table.column_names]
    conflicted = _conflicted(table, labels, id_cols, cannot_a, cannot_b)
    refused: dict[int, str] = {}
    if conflicted.any():
        labels, refused = _careful(
            table, labels, conflicted, id_cols, must, strong, (pa_, pb, pp, merge), cannot_a, cannot_b
        )
    # The strongest accepted link of each record (1.0 for strong identifiers and reviewers' links).
    best = np.zeros(n)
    for a, b, p in ((must_a, must_b, None), (strong.a, strong.b, None), (pa_[merge], pb[merge], pp[merge])):
        same = labels[a] == labels[b]
        value = np.ones(int(same.sum())) if p is None else p[same]
        np.maximum.at(best, a[same], value)
        np.maximum.at(best, b[same], value)
    review: list[dict[str, Any]] = []
    apart = (labels[pa_] != labels[pb]) & ~direct_cannot
    for k in np.flatnonzero(apart)[np.argsort(-pp[apart], kind="stable")]:
        reason = refused.get(int(k))
        if pp[k] >= schema.merge and reason is None:
            reason = "contradicts a strong identifier or a cannot-link in the cluster"
        review.append(_review_row(rids, scored, int(pair_index[k]), reason))
    persons = rids.take(pa.array(_smallest_member(rids, labels)))
    note("done")
    seconds = round(time.perf_counter() - started, 3)
    stats = {
        "records": n,
        "persons": len(np.unique(labels)),
        "strong_links": len(strong.a),
        "cannot_links": len(cannot_a),
        "candidate_pairs_scored": scored.total,
        "merged_pairs": int((labels[pa_[merge]] == labels[pb[merge]]).sum()),
        "review_pairs": len(review),
        "seconds": seconds,
        "stage_seconds": note.seconds,
    }
    params = extract(scored.model, merge=schema.merge, review=schema.review)
    return Resolution(rids, persons, best, review, stats, params)


def _as_table(frame: pd.DataFrame | pa.Table) -> pa.Table:
    """The prepared frame as an Arrow table of string columns (and `uid`), without copying the
    Arrow-backed columns `prepare_frame` makes."""
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    for i, name in enumerate(table.column_names):
        if name != "uid" and table.schema.field(i).type != pa.string():
            table = table.set_column(i, name, pc.cast(table.column(i), pa.string()))
    return table


def _smallest_member(rids: pa.Array, labels: Array) -> Array:
    """Per record: the position of the smallest record id of its cluster (Arrow compares strings
    by their UTF-8 bytes, which is the order of Python's `min` on code points)."""
    order = pc.sort_indices(rids).to_numpy().astype(np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    smallest = pd.Series(rank).groupby(labels).transform("min").to_numpy()
    return np.asarray(order[smallest], dtype=np.int64)


def _pair_set_mask(a: Array, b: Array, set_a: Array, set_b: Array, n: int) -> Array:
    """True where (a, b) is one of the pairs (set_a, set_b); pairs are ordered a < b."""
    if len(set_a) == 0 or len(a) == 0:
        return np.zeros(len(a), dtype=bool)
    keys = np.unique(np.minimum(set_a, set_b) * n + np.maximum(set_a, set_b))
    return np.isin(a * n + b, keys)


def _conflicted(table: pa.Table, labels: Array, id_cols: list[str], cannot_a: Array, cannot_b: Array) -> Array:
    """Per record: does its cluster hold two ID numbers, two genders or a cannot-link pair?"""
    bad_labels: list[Array] = []
    columns = [pa.chunked_array([c for col in id_cols for c in table.column(col).chunks], type=pa.string())]
    for column in (columns if id_cols else []) + [table.column("gender")]:
        encoded = pc.dictionary_encode(column).combine_chunks()
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        repeated = np.tile(labels, len(codes) // len(labels)) if len(labels) else labels
        present = codes >= 0
        distinct = np.unique(repeated[present] * (len(encoded.dictionary) + 1) + codes[present])
        owners, counts = np.unique(distinct // (len(encoded.dictionary) + 1), return_counts=True)
        bad_labels.append(owners[counts > 1])
    same = labels[cannot_a] == labels[cannot_b]
    bad_labels.append(labels[cannot_a[same]])
    return np.isin(labels, np.concatenate(bad_labels)) if bad_labels else np.zeros(len(labels), dtype=bool)


def _careful(
    table: pa.Table,
    labels: Array,
    conflicted: Array,
    id_cols: list[str],
    must: list[tuple[int, int]],
    strong: StrongLinks,
    model: tuple[Array, Array, Array, Array],
    cannot_a: Array,
    cannot_b: Array,
) -> tuple[Array, dict[int, str]]:
    """Rebuild the conflicted clusters link by link, strongest first, refusing the links that
    would join what a strong fact keeps apart. Returns new labels and the refused model pairs."""
    members = np.flatnonzero(conflicted)
    local = {int(g): i for i, g in enumerate(members)}
    cols = Columns(table)
    id_values = [cols[c][members] for c in id_cols]
    ids = [{str(values[i]) for values in id_values if values[i]} for i in range(len(members))]
    genders = [str(g) for g in cols["gender"][members]]
    inside = conflicted[cannot_a] & conflicted[cannot_b]
    cannot = {(local[int(x)], local[int(y)]) for x, y in zip(cannot_a[inside], cannot_b[inside], strict=True)}
    components = _Components(ids, genders, cannot)
    for a, b in must:
        if a in local and b in local:
            components.union(local[a], local[b], force=True)
    inside_links = conflicted[strong.a]
    for a, b, forced in zip(strong.a[inside_links], strong.b[inside_links], strong.forced[inside_links], strict=True):
        components.union(local[int(a)], local[int(b)], force=bool(forced))
    pa_, pb, pp, merge = model
    refused: dict[int, str] = {}
    chosen = np.flatnonzero(merge & conflicted[pa_])
    for k in chosen[np.argsort(-pp[chosen], kind="stable")]:
        if not components.union(local[int(pa_[k])], local[int(pb[k])]):
            refused[int(k)] = "contradicts a strong identifier or a cannot-link in the cluster"
    labels = labels.copy()
    roots = np.array([components.find(i) for i in range(len(members))], dtype=np.int64)
    # Label each rebuilt cluster by its smallest global position (never an unaffected label).
    smallest = pd.Series(members).groupby(roots).transform("min").to_numpy()
    labels[members] = smallest
    return labels, refused


def _review_row(rids: pa.Array, scored: Scored, index: int, refused: str | None) -> dict[str, Any]:
    p = float(1.0 / (1.0 + 2.0 ** -float(scored.weight[index])))
    return {
        "record_id_l": rids[int(scored.a[index])].as_py(),
        "record_id_r": rids[int(scored.b[index])].as_py(),
        "match_probability": round(p, 6),
        "match_weight": round(float(scored.weight[index]), 3),
        "refused": refused,
        "evidence": explain(scored, index),
    }

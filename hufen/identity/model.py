"""The Fellegi–Sunter model over weak evidence: DuckDB computes the comparison vectors, numpy
estimates the weights and scores.

Per-field m/u probabilities are estimated from the data itself, as Splink does it: u from a random
sample of record pairs, m by EM on a few blocking passes (each pass leaves out the fields it blocks
on), the prior from the pairs sharing a strong identifier. EM runs over the *distinct* comparison
vectors with their counts, so a million candidate pairs cost a few thousand rows of arithmetic.
Blocking never uses a name alone: a name is always paired with a date or a place, so 王伟 × 王伟
pairs stay within one birthday or one city and the pair count stays near-linear.

Memory is bounded for files of millions of records: DuckDB runs under a memory limit and spills to
a temporary directory; the comparison vectors are fetched a range of records at a time and each
candidate pair is held as two int32 positions and the number of its distinct vector (EM needs only
the distinct vectors and their counts, so training is exactly what it would be on every pair held
at once); only the pairs scoring at or above the review threshold keep their vector and weights.

The comparison levels are the ones `weights.py` evaluates one pair at a time for online linking;
`weights.extract` writes them in the format `weights.Scorer` reads.
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

PLACE_COLUMNS = ("c_province", "c_city", "c_district")
# DuckDB's levenshtein counts bytes (a Chinese character is three), jaro_winkler_similarity counts
# characters; so only ASCII columns (dates) get an edit-distance level, text gets Jaro–Winkler.
MAX_EM_ITERATIONS = 25
M_FLOOR = 0.001
EM_CONVERGENCE = 1e-4
DETERMINISTIC_RECALL = 0.7  # share of true pairs the strong identifiers are assumed to find
# A blocking key shared by more records than this is too common to say anything (王伟 in one
# province: thousands of records, millions of pairs); its records still meet through the other,
# narrower blocks (王伟 + birthday, 王伟 + district). The same bound keeps online lookups small.
BLOCK_CAP = 150
# Single-column blocks (`broad`) are coarser: they keep only small groups, so a million-row file
# still gets at most ~20 pairs per record from each.
SINGLE_BLOCK_CAP = 40
# Blocks that only recover what the name blocks miss (a typo in the surname or the given name, a
# record without a name) grow with the square of the file: date + province holds a handful of
# records at a million and dozens at ten million. Above this many candidate pairs per record such
# a block is replaced by its narrow form (`Plan.narrow`), so the pair count stays near-linear.
# At a million records of the benchmark's data each is below it (0.5–0.75 pairs per record).
# HUFEN_IDENTITY_RECOVERY_BUDGET overrides it (0 narrows every recovery block).
RECOVERY_PAIR_BUDGET = float(os.environ.get("HUFEN_IDENTITY_RECOVERY_BUDGET", "1.0"))
# Any other block (name + date, name + place) may give at most this many pairs per record: past it,
# its cap is lowered to the largest block size that keeps within it. At a million records of the
# benchmark's data the largest, name + district, gives 2.0; at ten million it would give 8.8.
PAIR_BUDGET = float(os.environ.get("HUFEN_IDENTITY_PAIR_BUDGET", "3.0"))

Array = npt.NDArray[Any]


@dataclass
class Comparison:
    """One field's comparison: SQL conditions from the most to the least similar level."""

    name: str
    null_sql: str
    levels: list[tuple[str, str]]  # (label, SQL condition); the last one is the else level
    columns: tuple[str, ...]  # the frame columns it reads (an EM pass blocking on them skips it)
    m: list[float] = field(default_factory=list)  # per gamma value (0 = else … top)
    u: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.levels)

    def gamma_sql(self) -> str:
        """Splink's numbering: -1 null, then the top level highest, the else level 0."""
        whens = [f"WHEN {self.null_sql} THEN -1"]
        top = self.count - 1
        for i, (_, condition) in enumerate(self.levels[:-1]):
            whens.append(f"WHEN {condition} THEN {top - i}")
        return f"CAST(CASE {' '.join(whens)} ELSE 0 END AS TINYINT)"

    def label(self, gamma: int) -> str:
        return self.levels[self.count - 1 - gamma][0]


def _both(col: str) -> str:
    return f"(l.{col} IS NULL OR r.{col} IS NULL)"


def _eq(col: str) -> str:
    return f"l.{col} = r.{col}"


def _jw(col: str, threshold: float) -> str:
    return f"jaro_winkler_similarity(l.{col}, r.{col}) >= {threshold}"


def _name_comparison() -> Comparison:
    return Comparison(
        "name",
        _both("n_key"),
        [
            ("same name", _eq("n_full")),
            ("same pinyin (any order)", _eq("n_key")),
            ("similar pinyin", _jw("n_key", 0.92)),
            ("same surname, no given name (王先生)", f"{_eq('n_sur')} AND (l.n_given IS NULL OR r.n_given IS NULL)"),
            ("different", "TRUE"),
        ],
        ("n_full", "n_key", "n_sur", "n_given"),
    )


def _date_comparison(col: str) -> Comparison:
    return Comparison(
        col,
        _both(col),
        [
            ("same date", _eq(col)),
            ("one digit off", f"damerau_levenshtein(l.{col}, r.{col}) <= 1"),
            ("different", "TRUE"),
        ],
        (col,),
    )


def _text_comparison(col: str) -> Comparison:
    return Comparison(
        col,
        _both(col),
        [
            ("same", _eq(col)),
            ("similar (JW ≥ 0.9)", _jw(col, 0.9)),
            ("somewhat similar (JW ≥ 0.75)", _jw(col, 0.75)),
            ("different", "TRUE"),
        ],
        (col,),
    )


def _exact_comparison(col: str) -> Comparison:
    return Comparison(col, _both(col), [(f"Exact match on {col}", _eq(col)), ("All other comparisons", "TRUE")], (col,))


def _place_comparison(cats: list[str]) -> Comparison:
    """Province, city and district as one comparison: they are nested, so counting each as
    independent evidence (what Fellegi–Sunter assumes) would count one place three times."""
    levels: list[tuple[str, str]] = []
    if "c_district" in cats and "c_city" in cats:
        levels.append(("same district", f"{_eq('c_city')} AND {_eq('c_district')}"))
    for col, label in (("c_city", "same city"), ("c_province", "same province")):
        if col in cats:
            levels.append((label, _eq(col)))
    levels.append(("different", "TRUE"))
    return Comparison("place", " AND ".join(_both(c) for c in cats), levels, tuple(cats))


def _present(frame: Any, prefix: str) -> list[str]:
    return [c for c in frame.columns if c.startswith(prefix) and bool(frame[c].notna().any())]


@dataclass
class Plan:
    """What to compare and block on for one frame's populated columns."""

    comparisons: list[Comparison]
    # Candidate pairs agree on every column of at least one block. A block with a "finer" column
    # only pairs records of which at least one lacks that column: two records that both name their
    # district meet through the name + district block, so name + city would only add namesakes.
    blocks: list[tuple[tuple[str, ...], str | None]]
    em_blocks: list[tuple[str, ...]]
    deterministic: list[tuple[str, ...]]  # blocks whose pairs estimate the prior (strong identifiers)
    tf_column: str | None  # the name column whose exact match is adjusted by its frequency
    # What a recovery block becomes when it would pass RECOVERY_PAIR_BUDGET: the same block within
    # a place (with the block itself kept for records without that place), or, for date + place,
    # only the pairs in which one record has no name (two named records meet through the names).
    narrow: dict[tuple[tuple[str, ...], str | None], list[tuple[tuple[str, ...], str | None]]] = field(
        default_factory=dict
    )


def build_plan(frame: Any, *, broad: bool = False) -> Plan:
    """`broad` adds single-column blocks (each date, category, text, surname and given name, each
    within BLOCK_CAP records): for files of modest size without strong identifiers, where one typo
    in the name and one in the date would otherwise keep a pair from ever being compared."""
    strong, dates = _present(frame, "s_"), _present(frame, "d_")
    cats, texts = _present(frame, "c_"), _present(frame, "a_")
    has_name = bool(frame["n_key"].notna().any())
    comparisons: list[Comparison] = [_name_comparison()] if has_name else []
    comparisons += [_date_comparison(c) for c in dates]
    if frame["gender"].notna().any():
        comparisons.append(_exact_comparison("gender"))
    places = [c for c in cats if c in PLACE_COLUMNS]
    if places:
        comparisons.append(_place_comparison(places))
    comparisons += [_exact_comparison(c) for c in cats if c not in PLACE_COLUMNS]
    comparisons += [_text_comparison(c) for c in texts]
    comparisons += [_exact_comparison(c) for c in strong]
    # Province ⊃ city ⊃ district: a coarser place only pairs records missing the finer one.
    finer = {"c_province": "c_city", "c_city": "c_district"} if set(PLACE_COLUMNS) <= set(cats) else {}
    blocks: list[tuple[tuple[str, ...], str | None]] = [((c,), None) for c in strong]
    if has_name:
        blocks += [(("n_key", d), None) for d in dates]
        blocks += [(("n_key", c), finer.get(c)) for c in cats[:3]]
        blocks += [(("n_sur", d), None) for d in dates] + [(("n_given", d), None) for d in dates]
        blocks += [(("n_sur", "n_given", c), finer.get(c)) for c in cats[:1]]
    blocks += [((d, c), None) for d in dates for c in cats[:2]]
    narrow: dict[tuple[tuple[str, ...], str | None], list[tuple[tuple[str, ...], str | None]]] = {}
    if has_name:
        place = cats[:2][-1] if cats else None
        for d in dates:
            if place is not None:
                for part in ("n_sur", "n_given"):
                    narrow[((part, d), None)] = [((part, d, place), None), ((part, d), place)]
            for c in cats[:2]:
                narrow[((d, c), None)] = [((d, c), "n_key")]
    if broad:
        singles = [*dates, *cats, *texts] + (["n_sur", "n_given"] if has_name else [])
        blocks += [((c,), None) for c in singles]
    if not blocks:
        raise ValueError("nothing to block on: configure at least one identifier, or a name with a date or category")
    # EM passes: each one trains the fields it does not block on. A shared identifier alone would
    # mix in couples on one phone; identifier + surname is mostly the same person.
    em_blocks: list[tuple[str, ...]] = []
    if has_name and dates:
        em_blocks.append(("n_key", dates[0]))
    if strong:
        em_blocks.append((strong[0], "n_sur") if has_name else (strong[0],))
    if dates and cats:
        em_blocks.append((dates[0], cats[-1]))
    # The prior: pairs sharing a strong identifier (or, without one, the first block) are assumed
    # to be 70% of the true pairs.
    deterministic: list[tuple[str, ...]] = [(c,) for c in strong[:2]] or [blocks[0][0]]
    return Plan(comparisons, blocks, em_blocks, deterministic, "n_full" if has_name else None, narrow)


# --- estimation ---------------------------------------------------------------------------------


@dataclass
class Model:
    plan: Plan
    prior: float
    tf: dict[str, float]  # name → relative frequency among records with a name (TF adjustment)

    @property
    def comparisons(self) -> list[Comparison]:
        return self.plan.comparisons

    def weight_tables(self) -> list[Array]:
        """Per comparison: log2 Bayes factor by gamma + 1 (index 0 is the null level: 0)."""
        tables = []
        for c in self.comparisons:
            table = np.zeros(c.count + 1)
            for gamma in range(c.count):
                table[gamma + 1] = _log2_factor(c.m[gamma], c.u[gamma])
            tables.append(table)
        return tables


def _log2_factor(m: float, u: float) -> float:
    if u <= 0:
        return 0.0
    return math.log2(m / u) if m > 0 else -30.0


# DuckDB may use this much memory (HUFEN_DUCKDB_MEMORY overrides it, e.g. "4GB"); a join or
# aggregation that needs more spills to a temporary directory instead of growing the process.
DUCKDB_MEMORY = "2500MB"


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB bounded in memory, spilling to a private temporary directory (DuckDB
    removes its spill files when the connection closes; the directory goes with the process's
    temporary files)."""
    connection = duckdb.connect()
    # DuckDB draws its own progress bar on stdout, which would corrupt `--json` output.
    connection.execute("SET enable_progress_bar = false")
    connection.execute(f"SET memory_limit = '{os.environ.get('HUFEN_DUCKDB_MEMORY') or DUCKDB_MEMORY}'")
    connection.execute(f"SET temp_directory = '{_spill_directory()}'")
    connection.execute("SET preserve_insertion_order = false")
    return connection


def _spill_directory() -> str:
    if not _spill:
        _spill.append(tempfile.mkdtemp(prefix="hufen-duckdb-"))
        atexit.register(shutil.rmtree, _spill[0], ignore_errors=True)
    return _spill[0]


_spill: list[str] = []


def gamma_query(
    comparisons: Sequence[Comparison], pairs: str, extra: Sequence[str] = (), left: str = "recs", right: str = "recs"
) -> str:
    columns = ", ".join([f"{c.gamma_sql()} AS g{i}" for i, c in enumerate(comparisons)] + list(extra))
    return (
        f"SELECT p.a, p.b, {columns} FROM {pairs} p JOIN {left} l ON l.uid = p.a JOIN {right} r ON r.uid = p.b"
        " ORDER BY p.a, p.b"
    )


def _gammas(result: dict[str, Array], count: int) -> Array:
    return np.column_stack([result[f"g{i}"].astype(np.int8) for i in range(count)]) if count else np.zeros((0, 0))


def _estimate_u(connection: duckdb.DuckDBPyConnection, comparisons: list[Comparison], n: int, sample: int) -> None:
    rng = np.random.default_rng(2026)
    a = rng.integers(0, n, size=sample, dtype=np.int64)
    b = rng.integers(0, n, size=sample, dtype=np.int64)
    keep = a != b
    sampled = pd.DataFrame({"a": np.minimum(a, b)[keep], "b": np.maximum(a, b)[keep]})
    connection.register("sampled", sampled)
    gammas = _gammas(connection.execute(gamma_query(comparisons, "sampled")).fetchnumpy(), len(comparisons))
    connection.unregister("sampled")
    for i, c in enumerate(comparisons):
        column = gammas[:, i]
        present = int((column >= 0).sum())
        counts = np.bincount(column[column >= 0], minlength=c.count).astype(float)
        floor = 1.0 / (2.0 * max(present, 1))  # a level never seen at random is rare, not impossible
        c.u = [max(float(x) / present, floor) if present else 1.0 / c.count for x in counts]
    for c in comparisons:
        _exact_u(connection, c)


def _exact_u(connection: duckdb.DuckDBPyConnection, c: Comparison) -> None:
    """u of the equality levels counted from the values themselves, not from the random sample.

    A same-date or same-address agreement is so rare between random records (u ~ 1e-5) that a
    sample of 200,000 pairs meets it a handful of times: its weight then moves by 0.5-1.5 bits from
    one training to the next (100,000 vs 102,000 records of one population), and pairs near the
    merge threshold flip between an online link and the next rebuild. Counting the agreeing pairs
    of every value (sum of k(k-1)/2 over value counts) gives the exact u; the other levels keep
    their sampled shares of the rest. The place comparison (three nested columns) stays sampled."""
    top = c.count - 1

    def scalar(sql: str) -> float:
        row = connection.execute(sql).fetchone()
        return float(row[0] or 0) if row else 0.0

    def agreeing(where: str, column: str) -> float:
        return scalar(
            f"SELECT sum(k * (k - 1) / 2) FROM (SELECT count(*) AS k FROM recs WHERE {where} GROUP BY {column})"
        )

    if c.name == "name":
        where = "n_key IS NOT NULL"
    elif c.name != "place" and len(c.columns) == 1:
        where = f"{c.columns[0]} IS NOT NULL"
    else:
        return
    present = scalar(f"SELECT count(*) FROM recs WHERE {where}")
    total = present * (present - 1) / 2
    if total <= 0:
        return
    if c.name == "name":
        full = agreeing(where + " AND n_full IS NOT NULL", "n_full")
        key = agreeing(where, "n_key")  # the same full name is the same pinyin too
        exact = {top: full / total, top - 1: max(key - full, 0.0) / total}
    else:
        exact = {top: agreeing(where, c.columns[0]) / total}
        if c.count == 2:
            exact[0] = 1.0 - exact[top]
    floor = 1.0 / (2.0 * total)
    exact = {gamma: max(u, floor) for gamma, u in exact.items()}
    rest = [gamma for gamma in range(c.count) if gamma not in exact]
    sampled_rest = sum(c.u[gamma] for gamma in rest)
    remaining = max(1.0 - sum(exact.values()), 0.0)
    u = list(c.u)
    for gamma in rest:
        u[gamma] = u[gamma] * remaining / sampled_rest if sampled_rest > 0 else remaining / len(rest)
    for gamma, value in exact.items():
        u[gamma] = value
    c.u = u


def _default_m(count: int) -> list[float]:
    """Splink-like starting point: most matches at the top level, few at the else level."""
    if count == 2:
        return [0.1, 0.9]
    top = [0.9 - 0.05 * (count - 2)]
    rest = (1.0 - top[0]) / (count - 1)
    return [rest] * (count - 1) + top


def _em(patterns: Array, counts: Array, comparisons: list[Comparison], active: list[int], prior: float) -> list[int]:
    """EM on the distinct comparison vectors of one pass; updates m of the active comparisons."""
    if not active or counts.sum() == 0:
        return []
    log_u = [np.log(np.asarray(comparisons[i].u)) for i in active]
    lam = min(max(prior, 1e-6), 0.5)
    m = {i: np.asarray(comparisons[i].m, dtype=float) for i in active}
    for _ in range(MAX_EM_ITERATIONS):
        log_match = np.full(len(counts), math.log(lam))
        log_non = np.full(len(counts), math.log(1 - lam))
        for k, i in enumerate(active):
            g = patterns[:, i]
            ok = g >= 0
            gi = np.where(ok, g, 0)
            log_match += np.where(ok, np.log(np.maximum(m[i][gi], 1e-300)), 0.0)
            log_non += np.where(ok, log_u[k][gi], 0.0)
        p = 1.0 / (1.0 + np.exp(np.clip(log_non - log_match, -700, 700)))
        weighted = p * counts
        change = 0.0
        for i in active:
            g = patterns[:, i]
            ok = g >= 0
            total = weighted[ok].sum()
            if total <= 0:
                continue
            new = np.bincount(g[ok], weights=weighted[ok], minlength=comparisons[i].count) / total
            change = max(change, float(np.abs(new - m[i]).max()))
            m[i] = new
        new_lam = float(weighted.sum() / counts.sum())
        lam = min(max(new_lam, 1e-9), 1 - 1e-9)
        if change < EM_CONVERGENCE:
            break
    for i in active:
        comparisons[i].m = [float(x) for x in m[i]]
    return active


def _distinct(gammas: Array) -> tuple[Array, Array]:
    """The distinct comparison vectors and their counts (vectors packed into one integer each:
    a gamma + 1 fits in four bits, so sixteen comparisons fit in an int64)."""
    if len(gammas) == 0:
        return gammas, np.zeros(0)
    if gammas.shape[1] > 15:
        patterns, counts = np.unique(gammas, axis=0, return_counts=True)
        return patterns, counts.astype(float)
    shifts = np.arange(gammas.shape[1], dtype=np.int64) * 4
    packed = ((gammas.astype(np.int64) + 1) << shifts).sum(axis=1)
    keys, counts = np.unique(packed, return_counts=True)
    patterns = ((keys[:, None] >> shifts) & 15) - 1
    return patterns.astype(np.int8), counts.astype(float)


# --- scoring --------------------------------------------------------------------------------------


@dataclass
class Scored:
    """Candidate pairs (a < b, record positions) with their comparison vectors and scores."""

    a: Array
    b: Array
    gammas: Array  # (pairs, comparisons) int8, -1 = null
    weight: Array  # match weight (log2 odds) including the prior and the TF adjustment
    tf_weight: Array  # the TF adjustment alone (0 where it does not apply)
    model: Model
    total: int = -1  # candidate pairs compared (more than held when only the likely ones are kept)

    @property
    def probability(self) -> Array:
        return self.probability_at(slice(None))

    def probability_at(self, index: Array | slice) -> Array:
        return _probability(self.weight[index])


def _block_sql(block: tuple[tuple[str, ...], str | None], cap: int) -> str:
    """Pairs agreeing on every column of the block, within blocks of at most `cap` records (and,
    with a finer column, where the left record lacks it). The block sizes come from a GROUP BY,
    which DuckDB spills to disk when it must (a window over ten million rows may not)."""
    columns, finer = block
    keys = ", ".join(columns)
    present = " AND ".join(f"{c} IS NOT NULL" for c in columns)
    on = " AND ".join(f"l.{c} = r.{c}" for c in columns)
    small = f"SELECT {keys} FROM recs WHERE {present} GROUP BY {keys} HAVING count(*) <= {int(cap)}"
    extra = f", {finer} AS finer" if finer is not None else ""
    grouped = f"SELECT uid, {keys}{extra} FROM recs JOIN ({small}) USING ({keys})"
    if finer is None:
        return (
            f"SELECT CAST(l.uid AS INTEGER) AS a, CAST(r.uid AS INTEGER) AS b"
            f" FROM ({grouped}) l JOIN ({grouped}) r ON {on} AND l.uid < r.uid"
        )
    return (
        f"SELECT CAST(least(l.uid, r.uid) AS INTEGER) AS a, CAST(greatest(l.uid, r.uid) AS INTEGER) AS b"
        f" FROM ({grouped}) l JOIN ({grouped}) r ON {on} AND l.uid <> r.uid WHERE l.finer IS NULL"
    )


Block = tuple[tuple[str, ...], str | None]


def _block_sizes(connection: duckdb.DuckDBPyConnection, block: Block) -> list[tuple[int, int, int]]:
    """(block size, how many blocks of that size, how many pairs of them `_block_sql` gives), by
    size: block sizes only, no join. With a finer column, pairs in which both records have it do
    not count."""
    columns, finer = block
    keys = ", ".join(columns)
    present = " AND ".join(f"{c} IS NOT NULL" for c in columns)
    both = f" - count({finer}) * (count({finer}) - 1) // 2" if finer is not None else ""
    sql = (
        f"SELECT s, count(*), sum(k) FROM (SELECT count(*) AS s, count(*) * (count(*) - 1) // 2{both} AS k"
        f" FROM recs WHERE {present} GROUP BY {keys}) GROUP BY s ORDER BY s"
    )
    return [(int(s), int(g), int(k)) for s, g, k in connection.execute(sql).fetchall()]


def _scaled_blocks(
    connection: duckdb.DuckDBPyConnection, plan: Plan, n: int, block_cap: int
) -> list[tuple[Block, int]]:
    """The plan's blocks with the cap each one is run with. A recovery block over
    RECOVERY_PAIR_BUDGET pairs per record is replaced by its narrow form; a name or place block over
    PAIR_BUDGET has its cap lowered until it is within it (its most common keys, 王伟 in one
    district, say nothing the name does not already weigh as common). Identifiers keep theirs."""
    chosen: list[tuple[Block, int]] = []
    seen: set[Block] = set()
    pending = list(plan.blocks)
    while pending:
        block = pending.pop(0)
        if block in seen:
            continue
        seen.add(block)
        columns = block[0]
        if len(columns) == 1:
            # An identifier keeps its cap; a `broad` single column's cap of 40 is its budget.
            chosen.append((block, block_cap if columns[0][:2] == "s_" else min(block_cap, SINGLE_BLOCK_CAP)))
            continue
        cap = block_cap
        sizes = _block_sizes(connection, block)
        narrow = plan.narrow.get(block)
        if narrow is not None and sum(k for s, _, k in sizes if s <= cap) > RECOVERY_PAIR_BUDGET * n:
            pending[:0] = narrow
            continue
        held = 0
        for size, _, k in sizes:
            if size > cap or held + k > PAIR_BUDGET * n:
                cap = max(min(cap, size - 1), 1)
                break
            held += k
        chosen.append((block, cap))
    return chosen


# Comparison vectors are computed and fetched this many candidate pairs at a time (by ranges of
# the left record). Each pair is kept as its two record positions and the number of its distinct
# comparison vector (12 bytes); only the pairs scoring at or above `keep_above` keep their vector
# and weights.
PAIR_CHUNK = 2_000_000


def _chunks(connection: duckdb.DuckDBPyConnection, limit: int) -> list[tuple[int, int]]:
    """Ranges [lo, hi) of the left record holding at most about `limit` candidate pairs each."""
    histogram = connection.execute("SELECT a // 4096 AS g, count(*) AS k FROM pairs GROUP BY g ORDER BY g").fetchnumpy()
    ranges: list[tuple[int, int]] = []
    lo, held = 0, 0
    for group, count in zip(histogram["g"].tolist(), histogram["k"].tolist(), strict=True):
        if held and held + count > limit:
            ranges.append((lo, int(group) * 4096))
            lo, held = int(group) * 4096, 0
        held += int(count)
    if held:
        ranges.append((lo, 1 << 62))
    return ranges


class _Patterns:
    """Distinct rows of small integers (comparison vectors with their flags), numbered in order of
    first appearance: 16 values of 4 bits packed in one int64 when they fit, raw bytes otherwise."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.packed = width <= 15
        self.ids: dict[Any, int] = {}
        self.rows: list[Array] = []

    def number(self, rows: Array) -> Array:
        if self.packed:
            shifts = np.arange(self.width, dtype=np.int64) * 4
            keys = ((rows.astype(np.int64) + 1) << shifts).sum(axis=1)
        else:
            keys = np.ascontiguousarray(rows).view(np.dtype((np.void, self.width))).ravel()
        distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        numbers = np.empty(len(distinct), dtype=np.int32)
        for k, key in enumerate(distinct.tolist()):
            found = self.ids.get(key)
            if found is None:
                found = self.ids[key] = len(self.rows)
                self.rows.append(rows[first[k]].copy())
            numbers[k] = found
        return numbers[inverse.ravel()]

    def table(self) -> Array:
        return np.array(self.rows, dtype=np.int8).reshape(len(self.rows), self.width)


def _distinct_counted(rows: Array, counts: Array) -> tuple[Array, Array]:
    """`_distinct` of the rows repeated by their counts (the same vectors in the same order)."""
    if len(rows) == 0:
        return rows, np.zeros(0)
    if rows.shape[1] > 15:
        patterns, inverse = np.unique(rows, axis=0, return_inverse=True)
    else:
        shifts = np.arange(rows.shape[1], dtype=np.int64) * 4
        keys, inverse = np.unique(((rows.astype(np.int64) + 1) << shifts).sum(axis=1), return_inverse=True)
        patterns = (((keys[:, None] >> shifts) & 15) - 1).astype(np.int8)
    summed = np.bincount(inverse.ravel(), weights=counts, minlength=len(patterns))
    return patterns, summed.astype(float)


def score_pairs(
    frame: pd.DataFrame | pa.Table,
    *,
    sample_pairs: int = 1_000_000,
    block_cap: int = BLOCK_CAP,
    broad: bool = False,
    note: Callable[[str], None] = print,
    keep_above: float | None = None,
) -> Scored:
    """Block, train by EM on the frame and score every candidate pair. With `keep_above` (a match
    probability), only the pairs scoring at or above it are returned (`Scored.total` still counts
    every candidate pair)."""
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    plan = build_plan(_Present(table), broad=broad)
    comparisons = plan.comparisons
    n = table.num_rows
    connection = connect()
    connection.register("recs", table)
    note("blocking")
    # Each block's pairs are added on their own (a pair found by several blocks is counted once
    # when its range of records is fetched), so no one query holds every block at once.
    connection.execute("CREATE TEMP TABLE pairs (a INTEGER, b INTEGER)")
    for blocking, cap in _scaled_blocks(connection, plan, n, block_cap):
        connection.execute(f"INSERT INTO pairs {_block_sql(blocking, cap)}")
    flags = [
        f"({' AND '.join(f'l.{c} = r.{c}' for c in block)}) IS TRUE AS e{k}" for k, block in enumerate(plan.em_blocks)
    ]
    deterministic_sql = " OR ".join(
        f"({' AND '.join(f'l.{c} = r.{c}' for c in block)}) IS TRUE" for block in plan.deterministic
    )
    flags.append(f"({deterministic_sql}) AS s")
    # At most this many distinct pairs (the pages of the arrays beyond the distinct count are
    # never touched, so they cost no memory).
    found = int(connection.execute("SELECT count(*) FROM pairs").fetchone()[0])  # type: ignore[index]
    k_count, e_count = len(comparisons), len(plan.em_blocks)
    a = np.empty(found, dtype=np.int32)
    b = np.empty(found, dtype=np.int32)
    pattern = np.empty(found, dtype=np.int32)
    patterns = _Patterns(k_count + e_count + 1)  # the comparison vector, the EM flags, deterministic
    at = 0
    for lo, hi in _chunks(connection, PAIR_CHUNK):
        chunk = f"(SELECT DISTINCT a, b FROM pairs WHERE a >= {lo} AND a < {hi})"
        left = f"(SELECT * FROM recs WHERE uid >= {lo} AND uid < {hi})"
        right = f"(SELECT * FROM recs WHERE uid > {lo})"
        result = connection.execute(gamma_query(comparisons, chunk, flags, left, right)).fetchnumpy()
        size = len(result["a"])
        a[at : at + size] = result["a"]
        b[at : at + size] = result["b"]
        rows = np.empty((size, patterns.width), dtype=np.int8)
        for i in range(k_count):
            rows[:, i] = result[f"g{i}"]
        for k in range(e_count):
            rows[:, k_count + k] = result[f"e{k}"]
        rows[:, -1] = result["s"]
        del result
        pattern[at : at + size] = patterns.number(rows)
        at += size
        del rows
    connection.execute("DROP TABLE pairs")
    total = at
    a, b, pattern = a[:total], b[:total], pattern[:total]
    vectors = patterns.table()
    counts = np.bincount(pattern, minlength=len(vectors)).astype(float)
    note("u by random sampling")
    _estimate_u(connection, comparisons, n, sample_pairs)
    connection.close()
    total_pairs = n * (n - 1) / 2
    deterministic_count = int(counts[vectors[:, -1] == 1].sum())
    prior = float(deterministic_count) / DETERMINISTIC_RECALL / total_pairs if total_pairs else 1e-4
    prior = min(max(prior, 1e-9), 0.5)
    note("m by EM")
    for c in comparisons:
        c.m = _default_m(c.count)
    estimates: dict[int, list[list[float]]] = {}
    for k, block in enumerate(plan.em_blocks):
        chosen = vectors[:, k_count + k] == 1
        active = [i for i, c in enumerate(comparisons) if not set(c.columns) & set(block)]
        distinct, distinct_counts = _distinct_counted(vectors[chosen, :k_count], counts[chosen])
        for i in _em(distinct, distinct_counts, comparisons, active, prior):
            estimates.setdefault(i, []).append(comparisons[i].m)
        for c in comparisons:  # the next pass starts from the defaults again, like Splink's
            c.m = _default_m(c.count)
    for i, c in enumerate(comparisons):
        if i in estimates:
            # A level no match reached in this file (a typo the data happens not to contain) is
            # rare for matches, not impossible: floored, it speaks against a pair without vetoing it.
            floored = np.maximum(np.mean(np.asarray(estimates[i]), axis=0), M_FLOOR)
            c.m = [min(float(x), 1.0) for x in floored / floored.sum()]
    tf: dict[str, float] = {}
    codes = freq = np.zeros(0)
    name_index = -1
    if plan.tf_column:
        # Relative frequency of each name among the records with one, per dictionary code.
        encoded = pc.dictionary_encode(table.column(plan.tf_column)).combine_chunks()
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32)
        named = codes[codes >= 0]
        freq = np.bincount(named, minlength=len(encoded.dictionary)) / len(named) if len(named) else np.zeros(0)
        tf = dict(zip(encoded.dictionary.to_pylist(), freq.tolist(), strict=True))
        name_index = next(i for i, c in enumerate(comparisons) if c.name == "name")
    model = Model(plan, prior, tf)
    note("scoring candidate pairs")
    tables = model.weight_tables()
    prior_weight = math.log2(prior / (1 - prior))
    kept: list[tuple[Array, Array, Array, Array, Array]] = []
    for start in range(0, total, PAIR_CHUNK):
        stop = min(start + PAIR_CHUNK, total)
        gammas = vectors[pattern[start:stop], :k_count]
        tf_weight = np.zeros(stop - start)
        if name_index >= 0:
            exact = np.flatnonzero(gammas[:, name_index] == comparisons[name_index].count - 1)
            if len(exact):
                u_exact = comparisons[name_index].u[-1]
                named_codes = codes[a[start:stop][exact]]
                term = np.where(named_codes >= 0, freq[np.maximum(named_codes, 0)], u_exact)
                tf_weight[exact] = np.log2(u_exact / np.maximum(term, 1e-12))
        weight = np.full(stop - start, prior_weight) + tf_weight
        for i, table_i in enumerate(tables):
            weight += table_i[gammas[:, i].astype(np.int64) + 1]
        if keep_above is None:
            keep: Array | slice = slice(None)
        else:
            keep = np.flatnonzero(_probability(weight) >= keep_above)
        kept.append((a[start:stop][keep], b[start:stop][keep], gammas[keep], weight[keep], tf_weight[keep]))
    del a, b, pattern
    if not kept:
        kept.append(
            (np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros((0, k_count), np.int8), np.zeros(0), np.zeros(0))
        )
    parts = list(zip(*kept, strict=True))
    return Scored(
        np.concatenate(parts[0]),
        np.concatenate(parts[1]),
        np.concatenate(parts[2]),
        np.concatenate(parts[3]),
        np.concatenate(parts[4]),
        model,
        total,
    )


def _probability(weight: Array) -> Array:
    return np.asarray(1.0 / (1.0 + np.exp2(-np.clip(weight, -1000, 1000))))


class _Present:
    """What `build_plan` reads of a frame (its columns, and whether each holds a value), for an
    Arrow table."""

    def __init__(self, table: pa.Table) -> None:
        self.columns = table.column_names
        self._table = table

    def __getitem__(self, col: str) -> _Column:
        return _Column(self._table.column(col))


class _Column:
    def __init__(self, column: pa.ChunkedArray) -> None:
        self._column = column

    def notna(self) -> _Column:
        return self

    def any(self) -> bool:
        return bool(self._column.null_count < len(self._column))


def explain(scored: Scored, index: int) -> dict[str, dict[str, Any]]:
    """Per field of one scored pair: the level reached, its Bayes factor and match weight."""
    evidence: dict[str, dict[str, Any]] = {}
    for i, c in enumerate(scored.model.comparisons):
        gamma = int(scored.gammas[index, i])
        if gamma == -1:
            continue  # a missing value is no evidence either way
        weight = _log2_factor(c.m[gamma], c.u[gamma])
        if c.name == "name" and gamma == c.count - 1:
            weight += float(scored.tf_weight[index])  # a common name (王伟) agrees by chance more often
        evidence[c.name.removeprefix("s_").removeprefix("d_").removeprefix("c_").removeprefix("a_")] = {
            "level": c.label(gamma),
            "bayes_factor": round(2.0**weight, 4),
            "match_weight": round(weight, 2),
        }
    return evidence

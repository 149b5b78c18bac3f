"""The Fellegi–Sunter model over weak evidence: DuckDB computes the comparison vectors, numpy
estimates the weights and scores.

Per-field m/u probabilities are estimated from the data itself, as Splink does it: u from a random
sample of record pairs, m by EM on a few blocking passes (each pass leaves out the fields it blocks
on), the prior from the pairs sharing a strong identifier. EM runs over the *distinct* comparison
vectors with their counts, so a million candidate pairs cost a few thousand rows of arithmetic.
Blocking never uses a name alone: a name is always paired with a date or a place, so 王伟 × 王伟
pairs stay within one birthday or one city and the pair count stays near-linear.

The comparison levels are the ones `weights.py` evaluates one pair at a time for online linking;
`weights.extract` writes them in the format `weights.Scorer` reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd

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


def _present(frame: pd.DataFrame, prefix: str) -> list[str]:
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


def build_plan(frame: pd.DataFrame, *, broad: bool = False) -> Plan:
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
    return Plan(comparisons, blocks, em_blocks, deterministic, "n_full" if has_name else None)


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


def _connect() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    # DuckDB draws its own progress bar on stdout, which would corrupt `--json` output.
    connection.execute("SET enable_progress_bar = false")
    return connection


def gamma_query(comparisons: Sequence[Comparison], pairs: str, extra: Sequence[str] = ()) -> str:
    columns = ", ".join([f"{c.gamma_sql()} AS g{i}" for i, c in enumerate(comparisons)] + list(extra))
    return (
        f"SELECT p.a, p.b, {columns} FROM {pairs} p JOIN recs l ON l.uid = p.a JOIN recs r ON r.uid = p.b"
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

    @property
    def probability(self) -> Array:
        return np.asarray(1.0 / (1.0 + np.exp2(-np.clip(self.weight, -1000, 1000))))


def _block_sql(block: tuple[tuple[str, ...], str | None], cap: int) -> str:
    """Pairs agreeing on every column of the block, within blocks of at most `cap` records (and,
    with a finer column, where the left record lacks it)."""
    columns, finer = block
    keys = ", ".join(columns)
    present = " AND ".join(f"{c} IS NOT NULL" for c in columns)
    on = " AND ".join(f"l.{c} = r.{c}" for c in columns)
    grouped = f"SELECT uid, {keys}, count(*) OVER (PARTITION BY {keys}) AS size FROM recs WHERE {present}"
    if finer is None:
        return (
            f"SELECT l.uid AS a, r.uid AS b FROM ({grouped}) l JOIN ({grouped}) r ON {on} AND l.uid < r.uid"
            f" WHERE l.size <= {int(cap)}"
        )
    lacking = f"SELECT * FROM ({grouped}) WHERE uid IN (SELECT uid FROM recs WHERE {finer} IS NULL)"
    return (
        f"SELECT least(l.uid, r.uid) AS a, greatest(l.uid, r.uid) AS b FROM ({lacking}) l"
        f" JOIN ({grouped}) r ON {on} AND l.uid <> r.uid WHERE l.size <= {int(cap)}"
    )


def score_pairs(
    frame: pd.DataFrame,
    *,
    sample_pairs: int = 1_000_000,
    block_cap: int = BLOCK_CAP,
    broad: bool = False,
    note: Callable[[str], None] = print,
) -> Scored:
    """Block, train by EM on the frame and score every candidate pair."""
    plan = build_plan(frame, broad=broad)
    comparisons = plan.comparisons
    n = len(frame)
    connection = _connect()
    connection.register("recs", frame)
    note("blocking")
    union = " UNION ".join(
        _block_sql(b, min(block_cap, SINGLE_BLOCK_CAP) if len(b[0]) == 1 and b[0][0][:2] != "s_" else block_cap)
        for b in plan.blocks
    )
    connection.execute(f"CREATE TEMP TABLE pairs AS {union}")
    flags = [
        f"({' AND '.join(f'l.{c} = r.{c}' for c in block)}) IS TRUE AS e{k}" for k, block in enumerate(plan.em_blocks)
    ]
    flags += [
        f"({' AND '.join(f'l.{c} = r.{c}' for c in block)}) IS TRUE AS s{k}"
        for k, block in enumerate(plan.deterministic)
    ]
    result = connection.execute(gamma_query(comparisons, "pairs", flags)).fetchnumpy()
    a, b = result["a"].astype(np.int64), result["b"].astype(np.int64)
    gammas = _gammas(result, len(comparisons))
    note("u by random sampling")
    _estimate_u(connection, comparisons, n, sample_pairs)
    deterministic = np.zeros(len(a), dtype=bool)
    for k in range(len(plan.deterministic)):
        deterministic |= result[f"s{k}"]
    total_pairs = n * (n - 1) / 2
    prior = float(deterministic.sum()) / DETERMINISTIC_RECALL / total_pairs if total_pairs else 1e-4
    prior = min(max(prior, 1e-9), 0.5)
    note("m by EM")
    for c in comparisons:
        c.m = _default_m(c.count)
    estimates: dict[int, list[list[float]]] = {}
    for k, block in enumerate(plan.em_blocks):
        chosen = result[f"e{k}"]
        active = [i for i, c in enumerate(comparisons) if not set(c.columns) & set(block)]
        patterns, counts = _distinct(gammas[chosen])
        for i in _em(patterns, counts, comparisons, active, prior):
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
    tf_weight = np.zeros(len(a))
    if plan.tf_column:
        names = frame[plan.tf_column].dropna()
        freq = names.value_counts(normalize=True)
        tf = {str(k): float(v) for k, v in freq.items()}
        name_index = next(i for i, c in enumerate(comparisons) if c.name == "name")
        exact = gammas[:, name_index] == comparisons[name_index].count - 1
        if exact.any():
            values = frame[plan.tf_column].to_numpy(dtype=object)[a[exact]]
            u_exact = comparisons[name_index].u[-1]
            term = np.array([tf.get(v, u_exact) for v in values], dtype=float)
            tf_weight[exact] = np.log2(u_exact / np.maximum(term, 1e-12))
    model = Model(plan, prior, tf)
    note("scoring candidate pairs")
    weight = np.full(len(a), math.log2(prior / (1 - prior))) + tf_weight
    for i, table in enumerate(model.weight_tables()):
        weight += table[gammas[:, i].astype(np.int64) + 1]
    connection.close()
    return Scored(a, b, gammas, weight, tf_weight, model)


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

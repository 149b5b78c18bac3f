"""The funnel's chain walk over columns (numpy), for engines that hand back arrays.

Input: one row per step event of the persons in the funnel, as arrays `pid`, `us` (epoch
microseconds), `step` (0-based step index) and `b` (breakdown code of a step-1 event; ignored for
the others). The semantics are those of `queries.py`'s chain SQL (ClickHouse `windowFunnel`): each
step-1 event starts a chain; step k+1 is the earliest step-(k+1) event at or after the step-k event,
within the window from the chain's start; per person and breakdown value the deepest chain counts,
the earliest-started among equals giving the step times.

Ordering rows by (pid, us, step) puts a step-(k+1) event at the same microsecond after the step-k
event, so "the earliest step-(k+1) event at or after position i" is a reverse running minimum of
positions: no join, one pass per step.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Chains:
    """Per (person, breakdown value) group: the best chain's depth and step times."""

    b: I64  # breakdown code of the group
    depth: I64  # 1..n
    times: I64  # shape (groups, n): step times in us, valid where step < depth


def _stable_order_by(values: I64) -> I64:
    """A stable ordering by an integer column: least-significant-digit radix passes of 16 bits
    (numpy sorts 16-bit keys by counting) when the values are small, else a stable comparison sort."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= 1 << 48:
        return np.argsort(values, kind="stable").astype(np.int64)
    order = np.arange(len(values), dtype=np.int64)
    shift = 0
    while shift == 0 or high >> shift:
        digit = ((values[order] >> shift) & 0xFFFF).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
        shift += 16
    return order


def _merge_sorted_runs(pid: I64) -> I64 | None:
    """A stable ordering by pid for rows made of a few runs each sorted by pid (the summary's day
    files): every row's place is the rows of smaller pids, plus its pid's rows in earlier runs, plus
    its rank within its run. None when the runs are too many or the ids too large for that."""
    size = len(pid)
    breaks = np.flatnonzero(pid[1:] < pid[:-1]) + 1
    high = int(pid.max())
    if int(pid.min()) < 0 or high > 4 * size + 1_000_000 or len(breaks) > max(64, size // 256):
        return None
    counts = np.bincount(pid, minlength=high + 1)
    before = np.cumsum(counts) - counts
    seen = np.zeros(high + 1, dtype=np.int64)
    dest = np.empty(size, dtype=np.int64)
    bounds = [0, *breaks.tolist(), size]
    for a, b in itertools.pairwise(bounds):
        p = pid[a:b]
        heads = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
        lengths = np.diff(np.r_[heads, len(p)])
        rank = np.arange(len(p), dtype=np.int64) - np.repeat(heads, lengths)
        dest[a:b] = before[p] + seen[p] + rank
        seen[p[heads]] += lengths
    order = np.empty(size, dtype=np.int64)
    order[dest] = np.arange(size, dtype=np.int64)
    return order


def person_time_order(pid: I64, us: I64, step: npt.NDArray[np.int8]) -> I64:
    """Indices ordering the rows by (pid, us, step).

    Rows usually arrive in (us, step) order per person (summary files are per day, sorted by person,
    time and step), so a stable sort by person alone gives the order; otherwise a full lexsort.
    """
    if len(pid) < 2:
        return np.arange(len(pid), dtype=np.int64)
    merged = _merge_sorted_runs(pid)
    order = merged if merged is not None else _stable_order_by(pid)
    p, u, s = pid[order], us[order], step[order]
    same = p[1:] == p[:-1]
    if bool(np.any(same & ((u[1:] < u[:-1]) | ((u[1:] == u[:-1]) & (s[1:] < s[:-1]))))):
        order = np.lexsort((step, us, pid)).astype(np.int64)
    return order


def walk(
    pid: I64,
    us: I64,
    step: npt.NDArray[np.int8],
    b: I64 | None,
    n: int,
    window_us: int,
    ordered: bool = False,
) -> Chains:
    """Every chain's depth and step times, then the best chain per (pid, b); `b` None: no breakdown."""
    if not ordered:
        order = person_time_order(pid, us, step)
        pid, us, step = pid[order], us[order], step[order]
        b = None if b is None else b[order]
    starts = np.flatnonzero(step == 0)
    times = np.zeros((len(starts), n), dtype=np.int64)
    t0 = us[starts]
    times[:, 0] = t0
    depth = np.ones(len(starts), dtype=np.int64)
    live = np.arange(len(starts), dtype=np.int64)  # the chains still growing
    pos = starts
    for k in range(1, n):
        if not len(live):
            break
        # The first step-k event at or after each live chain's step-(k-1) event, in (pid, us, step) order.
        at_k = np.flatnonzero(step == k)
        j = np.searchsorted(at_k, pos)
        ok = j < len(at_k)
        cand = at_k[np.where(ok, j, 0)] if len(at_k) else np.zeros(len(live), dtype=np.int64)
        ok &= pid[cand] == pid[starts[live]]
        ok &= us[cand] <= t0[live] + window_us
        live, pos = live[ok], cand[ok]
        times[live, k] = us[pos]
        depth[live] += 1
    # The best chain per (pid, b): deepest first, then earliest start (starts are in time order).
    sp = pid[starts]
    person = np.cumsum(np.r_[0, sp[1:] != sp[:-1]]).astype(np.int64) if len(sp) else sp
    codes = b[starts] if b is not None else np.zeros(len(starts), dtype=np.int64)
    width = int(codes.max()) + 1 if len(codes) else 1
    group = person * width + codes
    if b is None and len(group):
        # Each person's chains are one run: its deepest depth, then the first chain reaching it.
        heads = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        deepest = np.maximum.reduceat(depth, heads)
        best = np.flatnonzero(depth == deepest[group])
        first = best[np.r_[True, group[best][1:] != group[best][:-1]]]
    else:
        pick = np.argsort(group * 16 + (15 - depth), kind="stable")
        g = group[pick]
        first = pick[np.r_[True, g[1:] != g[:-1]]] if len(g) else pick
    return Chains(b=codes[first], depth=depth[first], times=times[first])


def lower_median(values: I64) -> int | None:
    """The lower median (ClickHouse quantileExactLow(0.5), DuckDB quantile_disc(x, 0.5))."""
    if len(values) == 0:
        return None
    k = (len(values) - 1) // 2
    return int(np.partition(values, k)[k])


def summarize(chains: Chains, n: int) -> tuple[dict[int, list[int]], dict[int, list[int | None]]]:
    """Per breakdown code: persons reaching each step, and the lower median us between steps."""
    depths: dict[int, list[int]] = {}
    medians: dict[int, list[int | None]] = {}
    for code in np.unique(chains.b).tolist():
        mask = chains.b == code
        d = chains.depth[mask]
        hist = np.bincount(d, minlength=n + 1)
        reached = np.cumsum(hist[::-1])[::-1][1 : n + 1]
        depths[int(code)] = [int(x) for x in reached]
        t = chains.times[mask]
        medians[int(code)] = [lower_median(t[d >= k + 1, k] - t[d >= k + 1, k - 1]) for k in range(1, n)]
    return depths, medians

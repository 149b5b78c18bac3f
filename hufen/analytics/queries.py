"""All analytics SQL: funnels, retention and activity over the ONE DATA lake.

Each query is written once against the engine's fragments (`engines.py`): the engine supplies the
dialect-specific pieces (Parquet source, local-time periods, JSON, medians), and the rest of the SQL
is the common subset of DuckDB and ClickHouse. The one exception is the funnel count on ClickHouse,
which uses the engine's own `windowFunnel` as the reference the DuckDB formulation must equal.

Funnel semantics (ClickHouse `windowFunnel(window)`, default mode): every step-1 event starts a
chain; step k+1 extends a chain that reached step k when it happens at or after the step-k event
(equal timestamps allowed) and no later than the chain's first event plus the window (inclusive).
A person counts at the deepest step any of their chains reached. With a breakdown, the value is
taken from the chain's step-1 event, and a person is counted under each value that started a chain.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from hufen.analytics import chains, summaries
from hufen.analytics.engines import Engine, _quote

PERIODS = ("day", "week", "month")
BREAKDOWNS = ("dealer", "region", "channel")  # or "prop:<key>" / "<key>" for a JSON property
NONE_LABEL = "(none)"

NAMED_FUNNELS: dict[str, tuple[str, ...]] = {
    "acquisition": ("lead_created", "store_visited", "test_drive", "order_placed", "vehicle_delivered"),
    # "a|b": either event is the step (referral or repurchase ends the fission funnel).
    "retention": ("vehicle_delivered", "member_joined", "app_active", "post_created", "referral_made|repurchase"),
}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_PROP = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Scope:
    """Which events an actor may analyse: None = all dealers."""

    dealer_ids: frozenset[int] | None = None


@dataclass(frozen=True)
class Range:
    date_from: dt.date
    date_to: dt.date
    tz: str = "Asia/Shanghai"

    def start_us(self, day: dt.date | None = None) -> int:
        """Epoch microseconds of local midnight starting `day` (default: date_from)."""
        d = day or self.date_from
        local = dt.datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(self.tz))
        return int(local.timestamp()) * 1_000_000

    def end_us(self) -> int:
        return self.start_us(self.date_to + dt.timedelta(days=1))

    def days(self) -> list[dt.date]:
        n = (self.date_to - self.date_from).days + 1
        return [self.date_from + dt.timedelta(days=i) for i in range(n)]


@dataclass(frozen=True)
class FunnelSpec:
    steps: tuple[str, ...]
    window_us: int
    by: str | None = None
    dealer_labels: Sequence[tuple[int, str]] = field(default_factory=tuple)


def _in(step: str) -> str:
    """The SQL condition tail for a step: one event name, or alternatives `a|b`."""
    return "IN (" + ", ".join(_quote(n) for n in step.split("|")) + ")"


def step_events(steps: Sequence[str]) -> list[str]:
    return [n for step in steps for n in step.split("|")]


def check_event_name(name: str, argument: str) -> str:
    if not all(_NAME.match(part) for part in name.split("|")):
        raise ValueError(f"{argument}: {name!r} is not an event name (lower case letters, digits, _)")
    return name


def _events_cte(
    engine: Engine,
    scope: Scope,
    names: Sequence[str],
    lo_us: int,
    hi_us: int,
    extra: str = "",
    properties: bool = False,
) -> str:
    ts_us = engine.epoch_us("ts")
    where = [
        "person_id IS NOT NULL",
        f"event IN ({', '.join(_quote(n) for n in names)})" if names else "true",
        f"{ts_us} >= {lo_us}",
        f"{ts_us} < {hi_us}",
    ]
    if scope.dealer_ids is not None:
        ids = ", ".join(str(int(d)) for d in sorted(scope.dealer_ids)) or "NULL"
        where.append(f"dealer_id IN ({ids})")
    cols = f"person_id AS pid, event, ts, {ts_us} AS us{extra}"
    src = engine.event_source((lo_us, hi_us), properties=properties)
    return f"SELECT {cols} FROM {src} AS src WHERE {' AND '.join(where)}"


def _breakdown_expr(engine: Engine, spec: FunnelSpec) -> tuple[str, str]:
    """(expression for the breakdown value, join clause)."""
    by = spec.by
    if by is None:
        return "''", ""
    if by == "dealer":
        return f"coalesce({engine.to_text('src.dealer_id')}, '{NONE_LABEL}')", ""
    if by == "channel":
        return f"coalesce(nullif(src.channel, ''), '{NONE_LABEL}')", ""
    if by == "region":
        table = engine.mapping_table("dealer_region", spec.dealer_labels)
        return (
            f"coalesce(nullif(dr.label, ''), '{NONE_LABEL}')",
            f" LEFT JOIN {table} AS dr ON dr.dealer_id = src.dealer_id",
        )
    key = by.removeprefix("prop:")
    return f"coalesce({engine.json_text('src.properties', key)}, '{NONE_LABEL}')", ""


def _funnel_events(engine: Engine, scope: Scope, spec: FunnelSpec, rng: Range) -> tuple[str, int]:
    bexpr, join = _breakdown_expr(engine, spec)
    lo, hi = rng.start_us(), rng.end_us()
    # Chains may only start in the range; later steps may follow up to the window after its end.
    props = spec.by is not None and spec.by not in BREAKDOWNS
    names = step_events(spec.steps)
    base = _events_cte(engine, scope, names, lo, hi + spec.window_us + 1, extra=f", {bexpr} AS b", properties=props)
    base = base.replace(" AS src WHERE", f" AS src{join} WHERE", 1)
    return base, hi


def _chains_sql(engine: Engine, scope: Scope, spec: FunnelSpec, rng: Range) -> str:
    """Every chain (one per step-1 event), each next step the earliest one that may extend it."""
    base, hi = _funnel_events(engine, scope, spec, rng)
    w = spec.window_us
    ctes = [
        f"ev AS ({base})",
        f"c1 AS (SELECT DISTINCT pid, b, us AS t0, us AS u1 FROM ev WHERE event {_in(spec.steps[0])} AND us < {hi})",
    ]
    for k, step in enumerate(spec.steps[1:], start=2):
        prev = ", ".join(f"c.u{i}" for i in range(1, k))
        ctes.append(f"e{k} AS (SELECT DISTINCT pid, us FROM ev WHERE event {_in(step)})")
        ctes.append(
            f"c{k} AS (SELECT c.pid AS pid, c.b AS b, c.t0 AS t0, {prev}, "
            f"CASE WHEN e.us <= c.t0 + {w} THEN e.us END AS u{k} "
            f"FROM c{k - 1} AS c ASOF LEFT JOIN e{k} AS e ON c.pid = e.pid AND e.us >= c.u{k - 1})"
        )
    n = len(spec.steps)
    depth = " + ".join(["1"] + [f"(CASE WHEN u{k} IS NULL THEN 0 ELSE 1 END)" for k in range(2, n + 1)])
    cols = ", ".join(f"u{k}" for k in range(1, n + 1))
    ctes.append(f"chains AS (SELECT pid, b, t0, {cols}, {depth} AS depth FROM c{n})")
    # One chain per person and value: the deepest, earliest-started one (it gives the step times).
    ctes.append(
        "best AS (SELECT * FROM (SELECT *, row_number() OVER "
        "(PARTITION BY pid, b ORDER BY depth DESC, t0) AS rn FROM chains) AS r WHERE rn = 1)"
    )
    return "WITH " + ", ".join(ctes)


def _funnel_rows(engine: Engine, scope: Scope, spec: FunnelSpec, rng: Range) -> tuple[str, int]:
    """SQL for the funnel's rows (pid, us, b, step) and the end of the range: from the named funnel's
    step summary for the days where it is fresh, else (and for the other days) from the events."""
    n_step = "CASE " + " ".join(f"WHEN event {_in(s)} THEN {k}" for k, s in enumerate(spec.steps)) + " END"
    named = [name for name, steps in NAMED_FUNNELS.items() if steps == tuple(spec.steps)]
    use = bool(getattr(engine, "use_summaries", False)) and bool(named) and (spec.by is None or spec.by in BREAKDOWNS)
    if not use:
        base, hi = _funnel_events(engine, scope, spec, rng)
        return f"SELECT pid, us, b, {n_step} AS step FROM ({base}) AS e", hi
    lo, hi = rng.start_us(), rng.end_us()
    top = hi + spec.window_us + 1
    zone = ZoneInfo(rng.tz)
    first = dt.datetime.fromtimestamp(lo / 1e6, zone).date()
    last = dt.datetime.fromtimestamp((top - 1) / 1e6, zone).date()
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    src, spans = _summary_split(engine, summaries.funnel_kind(named[0]), days, rng)
    bexpr, join = _breakdown_expr(engine, spec)
    parts = []
    if src:
        parts.append(
            f"SELECT person_id AS pid, us, {bexpr} AS b, step FROM {src} AS src{join} "
            f"WHERE person_id IS NOT NULL AND us >= {lo} AND us < {top}{_scope_and(scope, 'src.')}"
        )
    names = step_events(spec.steps)
    for a, b in spans:
        a, b = max(a, lo), min(b, top)
        if a >= b:
            continue
        base = _events_cte(engine, scope, names, a, b, extra=f", {bexpr} AS b")
        base = base.replace(" AS src WHERE", f" AS src{join} WHERE", 1)
        parts.append(f"SELECT pid, us, b, {n_step} AS step FROM ({base}) AS e")
    if not parts:
        base, _ = _funnel_events(engine, scope, spec, _empty_range(rng))
        parts.append(f"SELECT pid, us, b, {n_step} AS step FROM ({base}) AS e WHERE false")
    return " UNION ALL ".join(parts), hi


def _empty_range(rng: Range) -> Range:
    """A range for an empty read (same time zone)."""
    return Range(rng.date_from, rng.date_from, rng.tz)


def _walk_chains(
    engine: Engine, scope: Scope, spec: FunnelSpec, rng: Range
) -> tuple[dict[str, list[int]], dict[str, list[float | None]]]:
    """Counts and medians from the events as columns, the chains walked in numpy (`chains.py`).

    The engine only filters the step events and numbers the steps; with a breakdown, a first pass
    lists the values that started a chain so the second can hand them back as small integers.
    """
    rows, hi = _funnel_rows(engine, scope, spec, rng)
    n = len(spec.steps)
    keep = f"(step > 0 OR us < {hi})"
    values = [""]
    code = "0"
    if spec.by is not None:
        values = [str(r[0]) for r in engine.query(f"SELECT DISTINCT b FROM ({rows}) AS r WHERE step = 0 AND us < {hi}")]
        values.sort()
        whens = " ".join(f"WHEN {_quote(v)} THEN {i}" for i, v in enumerate(values))
        code = f"CASE WHEN step = 0 THEN (CASE b {whens} ELSE 0 END) ELSE 0 END" if values else "0"
    bc = f", CAST({code} AS BIGINT) AS bc" if spec.by is not None else ""
    got = engine.arrays(
        f"SELECT CAST(pid AS BIGINT) AS pid, CAST(us AS BIGINT) AS us, CAST(step AS TINYINT) AS step{bc} "
        f"FROM ({rows}) AS r WHERE {keep}"
    )
    if not bool(np.any(got["step"] == 0)):
        return {}, {}
    walked = chains.walk(got["pid"], got["us"], got["step"], got.get("bc"), n, spec.window_us)
    depth_codes, median_codes = chains.summarize(walked, n)
    depths = {values[c]: v for c, v in depth_codes.items()}
    medians = {values[c]: [None if m is None else round(m / 1_000_000, 3) for m in v] for c, v in median_codes.items()}
    return depths, (medians if n >= 2 else {})


def funnel_depths(engine: Engine, scope: Scope, spec: FunnelSpec, rng: Range) -> dict[str, list[int]]:
    """Per breakdown value: how many persons reached each step."""
    n = len(spec.steps)
    if engine.name == "duckdb":
        return _walk_chains(engine, scope, spec, rng)[0]
    if engine.name == "clickhouse":
        base, hi = _funnel_events(engine, scope, spec, rng)
        conds = [f"e.event {_in(spec.steps[0])} AND e.b = s.b AND e.us < {hi}"]
        conds += [f"e.event {_in(s)}" for s in spec.steps[1:]]
        sql = (
            f"WITH ev AS ({base}), starts AS (SELECT DISTINCT pid, b FROM ev "
            f"WHERE event {_in(spec.steps[0])} AND us < {hi}) "
            f"SELECT b, depth, count() FROM (SELECT s.b AS b, windowFunnel({spec.window_us})"
            f"(toUInt64(e.us), {', '.join(conds)}) AS depth FROM ev AS e INNER JOIN starts AS s ON e.pid = s.pid "
            f"GROUP BY e.pid, s.b) AS f WHERE depth > 0 GROUP BY b, depth"
        )
    else:
        sql = _chains_sql(engine, scope, spec, rng) + " SELECT b, depth, count(*) FROM best GROUP BY b, depth"
    out: dict[str, list[int]] = {}
    for b, depth, count in engine.query(sql):
        counts = out.setdefault(b, [0] * n)
        for k in range(int(depth)):
            counts[k] += int(count)
    return out


def funnel_median_seconds(engine: Engine, scope: Scope, spec: FunnelSpec, rng: Range) -> dict[str, list[float | None]]:
    """Per breakdown value: the (lower) median seconds from step k to step k+1 of each person's chain."""
    n = len(spec.steps)
    if n < 2:
        return {}
    meds = ", ".join(engine.lower_median(f"CASE WHEN depth >= {k + 1} THEN u{k + 1} - u{k} END") for k in range(1, n))
    sql = _chains_sql(engine, scope, spec, rng) + f" SELECT b, {meds} FROM best GROUP BY b"
    if engine.name == "clickhouse":
        sql += " SETTINGS join_use_nulls = 1"
    out: dict[str, list[float | None]] = {}
    for row in engine.query(sql):
        out[row[0]] = [None if v is None else round(int(v) / 1_000_000, 3) for v in row[1:]]
    return out


def _depths_and_medians(
    engine: Engine, scope: Scope, spec: FunnelSpec, rng: Range
) -> tuple[dict[str, list[int]], dict[str, list[float | None]]]:
    """Both results from one pass over the chains (DuckDB); ClickHouse counts with `windowFunnel`."""
    n = len(spec.steps)
    if engine.name == "duckdb":
        return _walk_chains(engine, scope, spec, rng)
    if engine.name == "clickhouse" or n < 2:
        return funnel_depths(engine, scope, spec, rng), funnel_median_seconds(engine, scope, spec, rng)
    meds = ", ".join(engine.lower_median(f"CASE WHEN depth >= {k + 1} THEN u{k + 1} - u{k} END") for k in range(1, n))
    sql = _chains_sql(engine, scope, spec, rng) + (
        f" SELECT b, depth, count(*), {meds} FROM best GROUP BY GROUPING SETS ((b, depth), (b))"
    )
    depths: dict[str, list[int]] = {}
    medians: dict[str, list[float | None]] = {}
    for row in engine.query(sql):
        b, depth, count = row[0], row[1], row[2]
        if depth is None:  # the (b) grouping set: the medians over all of b's chains
            medians[b] = [None if v is None else round(int(v) / 1_000_000, 3) for v in row[3:]]
            continue
        counts = depths.setdefault(b, [0] * n)
        for k in range(int(depth)):
            counts[k] += int(count)
    return depths, medians


def funnel(engine: Engine, scope: Scope, spec: FunnelSpec, rng: Range) -> dict[str, Any]:
    depths, medians = _depths_and_medians(engine, scope, spec, rng)
    n = len(spec.steps)

    def shape(counts: list[int], med: list[float | None]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for k, name in enumerate(spec.steps):
            rows.append(
                {
                    "name": name,
                    "count": counts[k],
                    "conversion": round(counts[k] / counts[0], 4) if counts[0] else None,
                    "step_conversion": round(counts[k] / counts[k - 1], 4) if k and counts[k - 1] else None,
                    "median_seconds_from_previous": med[k - 1] if k and med else None,
                }
            )
        return rows

    if spec.by is None:
        total = depths.get("", [0] * n)
        return {"steps": shape(total, medians.get("", []))}
    # Totals count each person once: rerun without the breakdown.
    plain = FunnelSpec(spec.steps, spec.window_us)
    result: dict[str, Any] = funnel(engine, scope, plain, rng)
    result["by"] = spec.by
    result["breakdown"] = [
        {"value": value, "steps": shape(depths[value], medians.get(value, []))}
        for value in sorted(depths, key=lambda v: (-depths[v][0], v))
    ]
    return result


def retention(
    engine: Engine, scope: Scope, rng: Range, start: str, returning: str, period: str, periods: int
) -> dict[str, Any]:
    """Cohorts by the period of each person's first start event in the range; retained in period n
    when a return event (at or after that first start, before the range's end) fell in it."""
    lo, hi = rng.start_us(), rng.end_us()
    first_p = engine.local_period("first_ts", period)
    ret_p = engine.local_period("ts", period)
    sql = (
        f"WITH ev AS ({_events_cte(engine, scope, sorted({start, returning}), lo, hi)}), "
        f"firsts AS (SELECT pid, min(us) AS first_us, min(ts) AS first_ts FROM ev "
        f"WHERE event = {_quote(start)} GROUP BY pid), "
        f"cohorts AS (SELECT pid, first_us, {first_p} AS cohort FROM firsts), "
        f"rets AS (SELECT DISTINCT f.pid AS pid, f.cohort AS cohort, "
        f"{engine.period_diff(period, 'f.cohort', ret_p)} AS n FROM ev AS e "
        f"INNER JOIN cohorts AS f ON e.pid = f.pid WHERE e.event = {_quote(returning)} AND e.us >= f.first_us) "
        f"SELECT cohort, -1 AS n, count(*) FROM cohorts GROUP BY cohort "
        f"UNION ALL SELECT cohort, n, count(*) FROM rets WHERE n < {int(periods)} GROUP BY cohort, n"
    )
    matrix: dict[str, list[int]] = {}
    sizes: dict[str, int] = {}
    for cohort, n, count in engine.query(sql):
        if int(n) < 0:
            sizes[cohort] = int(count)
        else:
            matrix.setdefault(cohort, [0] * periods)[int(n)] = int(count)
    cohorts = []
    for cohort in sorted(sizes):
        row = matrix.get(cohort, [0] * periods)
        size = sizes[cohort]
        cohorts.append(
            {
                "cohort": cohort,
                "size": size,
                "retained": row,
                "rates": [round(c / size, 4) if size else None for c in row],
            }
        )
    return {"start": start, "return": returning, "period": period, "periods": periods, "cohorts": cohorts}


def last_days_of_months(rng: Range) -> list[dt.date]:
    return [d for d in rng.days() if (d + dt.timedelta(days=1)).day == 1]


def _day_span(rng: Range, day: dt.date) -> tuple[int, int]:
    return rng.start_us(day), rng.start_us(day + dt.timedelta(days=1))


def _summary_split(
    engine: Engine, kind: str, days: Sequence[dt.date], rng: Range
) -> tuple[str | None, list[tuple[int, int]]]:
    """The summary files of `kind` for the days that have a fresh one (a FROM item, or None), and the
    [lo, hi) spans of the other days, to be read from the raw events."""
    fresh = summaries.fresh_days(engine.lake, engine.tz, days)
    have = [d for d in days if d in fresh and os.path.exists(summaries.summary_file(engine.lake, kind, d))]
    spans: list[tuple[int, int]] = []
    for d in days:
        if d in fresh:
            continue
        lo, hi = _day_span(rng, d)
        if spans and spans[-1][1] == lo:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    return (engine.day_files_source(kind, have) if have else None), spans


def _person_days_sql(
    engine: Engine, scope: Scope, lo_us: int, hi_us: int, summary: bool, rng: Range, distinct: bool = True
) -> str:
    """(pid, local day) of any activity, from the events or the daily summaries (the days without a
    fresh summary from the events). Distinct, or (`distinct=False`) with a few repeats left for the
    caller: a person seen with several dealers on a summarised day."""
    day = engine.local_period("ts", "day")
    if not summary:
        return f"SELECT DISTINCT pid, {day} AS day FROM ({_events_cte(engine, scope, (), lo_us, hi_us)}) AS e"
    days = Range(rng.date_from - dt.timedelta(days=29), rng.date_to, rng.tz).days()
    src, spans = _summary_split(engine, summaries.PERSONS, days, rng)
    one = " AND pfirst" if scope.dealer_ids is None else _scope_and(scope)
    parts = [f"SELECT pid, day FROM {src} AS s WHERE true{one}"] if src else []
    if spans or not parts:
        spans = spans or [(lo_us, lo_us)]
        parts += [
            f"SELECT DISTINCT pid, {day} AS day FROM ({_events_cte(engine, scope, (), a, b)}) AS e" for a, b in spans
        ]
    union = " UNION ALL ".join(parts)
    return f"SELECT DISTINCT pid, day FROM ({union}) AS pd" if distinct else union


def _active_series_numpy(engine: Engine, pdays: str, first: dt.date, ndays: int) -> dict[str, list[int]]:
    """DAU, WAU and MAU for `ndays` days from `first`, walking the days in order with each person's
    last active day: the persons active within the last W days are those whose last active day is in
    them, so a histogram of last active days gives every window's exact distinct count."""
    got = engine.arrays(
        f"SELECT CAST(pid AS BIGINT) AS pid, CAST(date_diff('day', {engine.date_literal(first)}, day) AS BIGINT) "
        f"AS dn FROM ({pdays}) AS p"
    )
    pid, dn = got["pid"], got["dn"]
    if len(pid) > 1:
        ordered = bool(np.all((dn[1:] > dn[:-1]) | ((dn[1:] == dn[:-1]) & (pid[1:] >= pid[:-1]))))
        if not ordered:
            order = np.lexsort((pid, dn))
            pid, dn = pid[order], dn[order]
        keep = np.r_[True, (pid[1:] != pid[:-1]) | (dn[1:] != dn[:-1])]
        pid, dn = pid[keep], dn[keep]
    if len(pid) and (int(pid.min()) < 0 or int(pid.max()) > 8 * len(pid) + 1_000_000):
        pid = np.unique(pid, return_inverse=True)[1].astype(np.int64)  # sparse ids: number them densely
    last = np.full(int(pid.max()) + 1 if len(pid) else 1, -1, dtype=np.int64)
    hist = np.zeros(ndays, dtype=np.int64)
    bounds = np.searchsorted(dn, np.arange(ndays + 1))
    out: dict[str, list[int]] = {"dau": [], "wau": [], "mau": []}
    for d in range(ndays):
        p = pid[bounds[d] : bounds[d + 1]]
        prev = last[p]
        prev = prev[prev >= 0]
        if len(prev):
            hist -= np.bincount(prev, minlength=ndays)
        last[p] = d
        hist[d] += len(p)
        out["dau"].append(len(p))
        out["wau"].append(int(hist[max(0, d - 6) : d + 1].sum()))
        out["mau"].append(int(hist[max(0, d - 29) : d + 1].sum()))
    return out


def daily_active(engine: Engine, scope: Scope, rng: Range) -> dict[str, int]:
    """Exact DAU per local day (distinct persons with any event), from the daily summaries where they
    are fresh (a count of one row per person; a distinct count within the actor's dealers) and from the
    events for the other days."""
    days = rng.days()
    src, spans = _summary_split(engine, summaries.PERSONS, days, rng)
    parts = []
    if src:
        if scope.dealer_ids is None:
            parts.append(f"SELECT day, count(*) AS n FROM {src} AS s WHERE pfirst GROUP BY day")
        else:
            parts.append(
                f"SELECT day, count(DISTINCT pid) AS n FROM {src} AS s WHERE true{_scope_and(scope)} GROUP BY day"
            )
    day = engine.local_period("ts", "day")
    for a, b in spans:
        cte = _events_cte(engine, scope, (), a, b)
        parts.append(f"SELECT {day} AS day, count(DISTINCT pid) AS n FROM ({cte}) AS e GROUP BY {day}")
    found = {str(d): int(n) for d, n in engine.query(" UNION ALL ".join(parts))} if parts else {}
    return {d.isoformat(): found.get(d.isoformat(), 0) for d in days}


def active(
    engine: Engine,
    scope: Scope,
    rng: Range,
    member_event: str = "member_joined",
    summary: bool = False,
    member_days: Sequence[dt.date] | None = None,
) -> dict[str, Any]:
    """DAU, WAU and MAU (distinct persons active in the day / 7 / 30 days ending on each day),
    stickiness (DAU/MAU), events per day and by name, and Member Day participation."""
    lo = rng.start_us(rng.date_from - dt.timedelta(days=29))
    hi = rng.end_us()
    series: dict[str, dict[str, int]] = {"dau": {}, "wau": {}, "mau": {}}
    if engine.name == "duckdb":
        first = rng.date_from - dt.timedelta(days=29)
        pdays = _person_days_sql(engine, scope, lo, hi, summary, rng, distinct=False)
        walked = _active_series_numpy(engine, pdays, first, (rng.date_to - first).days + 1)
        for label, values in walked.items():
            series[label] = {(first + dt.timedelta(days=i)).isoformat(): v for i, v in enumerate(values) if i >= 29}
    else:
        _active_series_sql(engine, scope, rng, summary, series)
    counts = _event_counts(engine, scope, rng, summary)
    days = []
    for d in rng.days():
        key = d.isoformat()
        dau, mau = series["dau"].get(key, 0), series["mau"].get(key, 0)
        days.append(
            {
                "day": key,
                "dau": dau,
                "wau": series["wau"].get(key, 0),
                "mau": mau,
                "stickiness": round(dau / mau, 4) if mau else None,
                "events": counts["days"].get(key, 0),
            }
        )
    mdays = list(member_days) if member_days is not None else last_days_of_months(rng)
    return {
        "days": days,
        "event_counts": counts["events"],
        "member_days": member_day_participation(engine, scope, rng, mdays, member_event, summary),
    }


def _active_series_sql(
    engine: Engine, scope: Scope, rng: Range, summary: bool, series: dict[str, dict[str, int]]
) -> None:
    """DAU, WAU and MAU in SQL (the ClickHouse reference)."""
    lo = rng.start_us(rng.date_from - dt.timedelta(days=29))
    hi = rng.end_us()
    pdays = _person_days_sql(engine, scope, lo, hi, summary, rng)
    d_to = engine.date_literal(rng.date_to)
    # A person active on day d counts for the days [d, min(next active day, d + W)): these
    # intervals do not overlap per person, so a running sum of +1/-1 gives exact distinct counts.
    parts = []
    for label, w in (("dau", 1), ("wau", 7), ("mau", 30)):
        parts.append(
            f"SELECT day, {label!r} AS k, 1 AS delta FROM pd UNION ALL "
            f"SELECT CASE WHEN nxt IS NULL OR nxt > day + {w} THEN day + {w} ELSE nxt END, {label!r}, -1 FROM pd"
        )
    deltas = " UNION ALL ".join(parts)
    sql = (
        f"WITH pd0 AS ({pdays}), "
        f"pd AS (SELECT pid, day, lead(day) OVER (PARTITION BY pid ORDER BY day) AS nxt FROM pd0), "
        f"d AS ({deltas}), per AS (SELECT day, k, sum(delta) AS s FROM d GROUP BY day, k), "
        f"run AS (SELECT day, k, sum(s) OVER (PARTITION BY k ORDER BY day "
        f"ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS v FROM per) "
        f"SELECT day, k, v FROM run WHERE day <= {d_to}"
    )
    if engine.name == "clickhouse":
        sql = sql.replace(
            "lead(day) OVER (PARTITION BY pid ORDER BY day)",
            "nullIf(leadInFrame(day) OVER (PARTITION BY pid ORDER BY day "
            "ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING), toDate(0))",
        )
        sql += " SETTINGS join_use_nulls = 1"
    # The running sums change only on days with a delta: carry each value forward over the others.
    changes: dict[str, list[tuple[str, int]]] = {"dau": [], "wau": [], "mau": []}
    for day, k, v in engine.query(sql):
        changes[k].append((str(day), int(v)))
    for k, rows in changes.items():
        rows.sort()
        i, value = 0, 0
        for d in rng.days():
            key = d.isoformat()
            while i < len(rows) and rows[i][0] <= key:
                value = rows[i][1]
                i += 1
            series[k][key] = value


def _event_counts(engine: Engine, scope: Scope, rng: Range, summary: bool) -> dict[str, dict[str, int]]:
    day = engine.local_period("ts", "day")
    spans = [(rng.start_us(), rng.end_us())]
    parts = []
    if summary:
        src, spans = _summary_split(engine, summaries.COUNTS, rng.days(), rng)
        if src:
            parts.append(f"SELECT day, event, n FROM {src} AS s WHERE true{_scope_and(scope)}")
    for a, b in spans:
        parts.append(f"SELECT {day} AS day, event, 1 AS n FROM ({_events_cte(engine, scope, (), a, b)}) AS e")
    rows = (
        engine.query(f"SELECT day, event, sum(n) FROM ({' UNION ALL '.join(parts)}) AS s GROUP BY day, event")
        if parts
        else []
    )
    days: dict[str, int] = {}
    events: dict[str, int] = {}
    for d, event, n in rows:
        days[d] = days.get(d, 0) + int(n)
        events[event] = events.get(event, 0) + int(n)
    return {"days": days, "events": dict(sorted(events.items(), key=lambda kv: (-kv[1], kv[0])))}


def member_day_participation(
    engine: Engine, scope: Scope, rng: Range, days: Sequence[dt.date], member_event: str, summary: bool
) -> list[dict[str, Any]]:
    """Members = persons with a `member_event` before the day (local midnight); share active on it.

    One query for all the days: each person's first member event, then one conditional count per
    day for the members and one join of the days' active persons against those first events.
    `summary` changes nothing here: the engine reads the compact daily summaries wherever they are fresh.
    """
    if not days:
        return []
    wanted, days = list(days), sorted(set(days))
    starts = [rng.start_us(d) for d in days]
    ends = [rng.start_us(d + dt.timedelta(days=1)) for d in days]
    keys = [str(u) for u in starts]
    m_cte = _events_cte(engine, Scope(), (member_event,), 0, max(starts))
    first = f"SELECT pid, min(us) AS first FROM ({m_cte}) AS x GROUP BY pid"
    # One branch per day, each reading only the partitions of its day.
    per_day = " UNION ALL ".join(
        f"SELECT pid, {lo} AS k FROM ({_events_cte(engine, scope, (), lo, hi)}) AS y{i}"
        for i, (lo, hi) in enumerate(zip(starts, ends, strict=True))
    )
    act_src = f"SELECT DISTINCT pid, k FROM ({per_day}) AS y"
    members = " UNION ALL ".join(
        f"SELECT 'm' AS what, {k} AS k, sum(CASE WHEN first < {k} THEN 1 ELSE 0 END) AS n FROM f" for k in keys
    )
    sql = (
        f"WITH f AS ({first}), a AS ({act_src}) "
        f"SELECT 'a' AS what, a.k AS k, count(*) AS n FROM a INNER JOIN f ON a.pid = f.pid WHERE f.first < a.k "
        f"GROUP BY a.k UNION ALL {members}"
    )
    found: dict[tuple[str, str], int] = {(what, str(k)): int(n or 0) for what, k, n in engine.query(sql)}
    key_of = dict(zip(days, keys, strict=True))
    out: list[dict[str, Any]] = []
    for day in wanted:
        k = key_of[day]
        m, act = found.get(("m", k), 0), found.get(("a", k), 0)
        out.append({"day": day.isoformat(), "members": m, "active": act, "share": round(act / m, 4) if m else None})
    return out


def _scope_and(scope: Scope, prefix: str = "") -> str:
    if scope.dealer_ids is None:
        return ""
    return f" AND {prefix}dealer_id IN ({', '.join(str(int(d)) for d in sorted(scope.dealer_ids)) or 'NULL'})"

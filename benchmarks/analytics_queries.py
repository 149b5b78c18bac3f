"""Benchmark the analytics on a year of generated events: DuckDB vs ClickHouse (chdb), raw vs summaries.

    .venv/bin/python benchmarks/analytics_queries.py [--per-day 30000] [--days 365] [--persons 300000]
        [--lake DIR] [--repeat 2] [--skip clickhouse] [--cases funnel_5step_30d_year_counts ...]

Engines: `duckdb` (reads the daily summaries where fresh, the raw events elsewhere), `duckdb_raw` (raw
events only) and `clickhouse` (chdb over the raw events; its funnel counts are `windowFunnel`). Prints
one JSON object: generation and summary build times, then per query and engine the best wall time and
the CPU seconds of that run, the load average before the query, and whether all engines' results are
identical.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hufen.analytics import queries as q
from hufen.analytics.engines import ClickHouseEngine, DuckDBEngine, Engine
from hufen.analytics.lakegen import SCHEMA, write_table
from hufen.analytics.summaries import build_daily_summaries

EVENTS = {
    "app_active": 0.38,
    "page_viewed": 0.30,
    "post_created": 0.05,
    "lead_created": 0.06,
    "store_visited": 0.05,
    "test_drive": 0.04,
    "order_placed": 0.03,
    "vehicle_delivered": 0.025,
    "member_joined": 0.025,
    "referral_made": 0.01,
    "repurchase": 0.005,
    "points_earned": 0.025,
}
START = dt.date(2025, 1, 1)
ALL = ("duckdb", "duckdb_raw", "clickhouse")


def generate(lake: str, days: int, per_day: int, persons: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    names = np.array(list(EVENTS))
    probs = np.array(list(EVENTS.values()))
    probs = probs / probs.sum()
    channels = np.array(["app", "wechat", "dealer", "web"])
    epoch = int(dt.datetime(START.year, START.month, START.day, tzinfo=dt.UTC).timestamp()) * 1_000_000
    total = 0
    for day in range(days):
        n = int(per_day * rng.uniform(0.8, 1.2))
        ts = epoch + day * 86_400_000_000 + np.sort(rng.integers(0, 86_400_000_000, n))
        # A Zipf-ish person distribution: a few very active persons, a long tail.
        pid = (rng.pareto(1.2, n) * persons / 20).astype(np.int64) % persons + 1
        table = pa.table(
            {
                "event_id": pa.array([f"{day}-{i}" for i in range(n)]),
                "event": pa.array(rng.choice(names, n, p=probs)),
                "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                "person_id": pa.array(pid),
                "anonymous_id": pa.nulls(n, pa.string()),
                "dealer_id": pa.array(pid % 60 + 1),
                "channel": pa.array(channels[pid % 4]),
                "properties": pa.nulls(n, pa.string()),
                "received_at": pa.array(ts, pa.timestamp("us", tz="UTC")),
            },
            schema=SCHEMA,
        )
        total += write_table(lake, table, name=f"d{day}")
    return total


def timed(fn: Callable[[], Any], repeat: int = 2) -> tuple[float, float, Any]:
    """Best wall seconds of `repeat` runs, the process CPU seconds of that run, and the result."""
    best, cpu, result = float("inf"), 0.0, None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        wall = time.perf_counter() - t
        if wall < best:
            best, cpu = wall, time.process_time() - c
    return round(best, 3), round(cpu, 2), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-day", type=int, default=30_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--persons", type=int, default=300_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lake", help="reuse/keep a lake here instead of a temp dir")
    ap.add_argument("--skip", nargs="*", default=[], help="engines to leave out")
    ap.add_argument("--cases", nargs="*", default=[], help="run only these queries")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    lake = args.lake or tempfile.mkdtemp(prefix="hufen-bench-lake-")
    out: dict[str, Any] = {
        "per_day": args.per_day,
        "days": args.days,
        "persons": args.persons,
        "cpus": os.cpu_count(),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        if not os.path.isdir(os.path.join(lake, "events")):
            t = time.perf_counter()
            out["events"] = generate(lake, args.days, args.per_day, args.persons, args.seed)
            out["generate_s"] = round(time.perf_counter() - t, 1)
        else:
            out["events"] = DuckDBEngine(lake).query(f"SELECT count(*) FROM {DuckDBEngine(lake).source()}")[0][0]
        print("lake ready", out, file=sys.stderr, flush=True)
        t = time.perf_counter()
        out["summaries_full_build"] = build_daily_summaries(lake)
        out["summaries_full_build_s"] = round(time.perf_counter() - t, 1)
        # Touch one day's file: only the local days it overlaps are rebuilt.
        one = os.path.join(lake, "events", f"date={(START + dt.timedelta(days=min(100, args.days // 2))).isoformat()}")
        for f in os.listdir(one):
            os.utime(os.path.join(one, f))
        t = time.perf_counter()
        out["summaries_incremental"] = build_daily_summaries(lake)
        out["summaries_incremental_s"] = round(time.perf_counter() - t, 2)

        year = q.Range(START, START + dt.timedelta(days=args.days - 1))
        month = q.Range(START + dt.timedelta(days=180), START + dt.timedelta(days=209))
        weeks = q.Range(START + dt.timedelta(days=91), START + dt.timedelta(days=91 + 83))
        spec = q.FunnelSpec(q.NAMED_FUNNELS["acquisition"], 30 * 86_400_000_000)
        scope = q.Scope()
        engines: dict[str, Engine] = {
            "duckdb": DuckDBEngine(lake),
            "duckdb_raw": DuckDBEngine(lake, use_summaries=False),
            "clickhouse": ClickHouseEngine(lake),
        }
        # Which engines run each query: the raw year of activity takes minutes on chdb and on raw DuckDB.
        cases: dict[str, tuple[Callable[[Engine], Any], tuple[str, ...]]] = {
            "funnel_5step_30d_year_counts": (lambda e: q.funnel_depths(e, scope, spec, year), ALL),
            "funnel_5step_30d_year_full": (lambda e: q.funnel(e, scope, spec, year), ALL),
            "retention_12_weeks": (
                lambda e: q.retention(e, scope, weeks, "lead_created", "app_active", "week", 12),
                ALL,
            ),
            "dau_year_exact": (lambda e: q.daily_active(e, scope, year), ("duckdb", "clickhouse")),
            "dau_year_exact_raw": (lambda e: q.daily_active(e, scope, year), ("duckdb_raw",)),
            "active_30_days": (lambda e: q.active(e, scope, month), ALL),
            "active_30_days_summary": (lambda e: q.active(e, scope, month, summary=True), ("duckdb", "clickhouse")),
            "active_year_summary": (lambda e: q.active(e, scope, year, summary=True), ("duckdb", "clickhouse")),
            "active_year": (lambda e: q.active(e, scope, year), ("duckdb",)),
        }
        results: dict[str, Any] = {}
        answers_by_case: dict[str, list[Any]] = {}
        for case, (fn, which) in cases.items():
            if args.cases and case not in args.cases:
                continue
            row: dict[str, Any] = {"load_avg_1m": round(os.getloadavg()[0], 2)}
            answers = []
            for name in which:
                if name in args.skip:
                    continue
                row[f"{name}_s"], row[f"{name}_cpu_s"], answer = timed(
                    functools.partial(fn, engines[name]), args.repeat
                )
                answers.append(answer)
            row["identical"] = len(answers) >= 2 and all(a == answers[0] for a in answers)
            answers_by_case[case] = answers
            results[case] = row
            print(case, json.dumps(row), file=sys.stderr, flush=True)
        out["queries"] = results
        dau = answers_by_case.get("dau_year_exact", []) + answers_by_case.get("dau_year_exact_raw", [])
        if len(dau) >= 2:
            out["dau_summaries_equal_raw"] = all(a == dau[0] for a in dau)
        out["lake_mb"] = round(
            sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(lake, "events")) for f in fs)
            / 1e6,
            1,
        )
    finally:
        if not args.lake:
            shutil.rmtree(lake, ignore_errors=True)
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

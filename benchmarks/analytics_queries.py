"""Benchmark the analytics on a year of generated events: DuckDB vs ClickHouse (chdb), raw vs summaries.

    .venv/bin/python benchmarks/analytics_queries.py [--per-day 30000] [--days 365] [--persons 300000]

Prints one JSON object: generation time, then each query's wall time per engine and whether the
engines' results are identical.
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


def timed(fn: Callable[[], Any], repeat: int = 2) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return round(best, 3), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-day", type=int, default=30_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--persons", type=int, default=300_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lake", help="reuse/keep a lake here instead of a temp dir")
    ap.add_argument("--skip", nargs="*", default=[], help="engines to leave out")
    args = ap.parse_args()
    lake = args.lake or tempfile.mkdtemp(prefix="hufen-bench-lake-")
    out: dict[str, Any] = {"per_day": args.per_day, "days": args.days, "persons": args.persons}
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
        engines: dict[str, Engine] = {"duckdb": DuckDBEngine(lake), "clickhouse": ClickHouseEngine(lake)}
        cases: dict[str, Callable[[Engine], Any]] = {
            "funnel_5step_30d_year_counts": lambda e: q.funnel_depths(e, scope, spec, year),
            "funnel_5step_30d_year_full": lambda e: q.funnel(e, scope, spec, year),
            "retention_12_weeks": lambda e: q.retention(e, scope, weeks, "lead_created", "app_active", "week", 12),
            "active_30_days_raw": lambda e: q.active(e, scope, month),
            "active_30_days_summary": lambda e: q.active(e, scope, month, summary=True),
            "active_year_raw": lambda e: q.active(e, scope, year),
            "active_year_summary": lambda e: q.active(e, scope, year, summary=True),
        }
        results: dict[str, Any] = {}
        for case, fn in cases.items():
            row: dict[str, Any] = {}
            answers = []
            for name, engine in engines.items():
                if name in args.skip:
                    continue
                row[f"{name}_s"], answer = timed(functools.partial(fn, engine))
                answers.append(answer)
            row["identical"] = len(answers) == 2 and answers[0] == answers[1]
            results[case] = row
            print(case, json.dumps(row), file=sys.stderr, flush=True)
        out["queries"] = results
        out["raw_equals_summary_year"] = q.active(engines["duckdb"], scope, year) == q.active(
            engines["duckdb"], scope, year, summary=True
        )
        out["lake_mb"] = round(
            sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(lake, "events")) for f in fs)
            / 1e6,
            1,
        )
    finally:
        if not args.lake:
            shutil.rmtree(lake, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

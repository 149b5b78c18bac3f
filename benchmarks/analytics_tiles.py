"""Benchmark the console's chart tiles with the chart cache: first (uncached) and p95 of cached reads.

    .venv/bin/python benchmarks/analytics_tiles.py --lake var/bench-analytics-year [--hits 50]

Uses a lake made by `benchmarks/analytics_queries.py --lake DIR` (kept in var/, not committed). Each tile is
the selector the console page calls (funnel, double funnel, retention, activity) for an HQ actor, through the
chart cache (a local-memory Django cache here; Redis in production). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", required=True)
    ap.add_argument("--hits", type=int, default=50)
    ap.add_argument("--from", dest="date_from", default="2025-01-01")
    ap.add_argument("--to", dest="date_to", default="2025-12-31")
    args = ap.parse_args()
    scratch = tempfile.mkdtemp(prefix="hufen-bench-tiles-")
    os.environ["DATABASE_URL"] = f"sqlite:///{scratch}/store.sqlite3"
    os.environ["HUFEN_LAKE_URL"] = os.path.abspath(args.lake)
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hufen.settings")
    import django

    django.setup()
    from django.core.cache import cache

    from hufen.analytics import queries as q
    from hufen.analytics import selectors as s
    from hufen.common.actors import SYSTEM

    cache.clear()
    rng = s.parse_range(args.date_from, args.date_to)
    month = s.parse_range(args.date_to[:8] + "01", args.date_to)
    window = s.parse_window("30d")
    acquisition = s.FunnelQuery(q.NAMED_FUNNELS["acquisition"], window, rng)
    tiles: dict[str, Callable[[], Any]] = {
        "funnel_year": lambda: s.funnel_for(SYSTEM, acquisition, s.open_engine()),
        "retention_12_weeks": lambda: s.retention_for(
            SYSTEM, start="lead_created", returning="app_active", period="week", periods=12,
            rng=s.parse_range(None, args.date_to, default_days=84), engine=s.open_engine(),
        ),
        "activity_month": lambda: s.active_for(SYSTEM, rng=month, engine=s.open_engine()),
    }  # fmt: skip
    out: dict[str, Any] = {"lake": args.lake, "hits": args.hits, "tiles": {}}
    all_hits: list[float] = []
    for name, tile in tiles.items():
        t = time.perf_counter()
        tile()
        first = time.perf_counter() - t
        hits = []
        for _ in range(args.hits):
            t = time.perf_counter()
            tile()
            hits.append(time.perf_counter() - t)
        all_hits += hits
        out["tiles"][name] = {
            "uncached_s": round(first, 3),
            "cached_p50_ms": round(statistics.median(hits) * 1000, 1),
            "cached_p95_ms": round(sorted(hits)[int(0.95 * len(hits)) - 1] * 1000, 1),
        }
    out["cached_p95_ms_all_tiles"] = round(sorted(all_hits)[int(0.95 * len(all_hits)) - 1] * 1000, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Benchmark event ingestion: the API's service path, `hufen events import`, flush and compaction.

    .venv/bin/python benchmarks/tracking_ingest.py [--events 1000000] [--api-events 100000] [--cores 2]

Runs in a scratch SQLite store and a scratch lake (both deleted after), pinned to `--cores` CPUs,
and prints one JSON object. Events carry an anonymous device id, a channel and a small property
object, over 30 days; the importer reads Parquet files of `--events / 10` rows each, so that every
date partition ends with ten files for the compaction to merge.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from io import StringIO
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

EVENT_NAMES = ["app_active", "store_visited", "member_joined", "repurchase", "vehicle_delivered"]


def raw_events(start: int, count: int, base: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"ev-{i}",
            "event": EVENT_NAMES[i % len(EVENT_NAMES)],
            "ts": (base + dt.timedelta(seconds=(i * 2593) % (30 * 86400))).isoformat(),
            "anonymous_id": f"dev-{i % 50_000}",
            "channel": "app",
            "properties": {"screen": "home", "n": i % 7},
        }
        for i in range(start, start + count)
    ]


def event_file(path: str, start: int, count: int, base: dt.datetime, fmt: str = "parquet") -> None:
    rows = raw_events(start, count, base)
    if fmt == "jsonl":
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        return
    table = pa.table(
        {
            "event_id": [r["event_id"] for r in rows],
            "event": [r["event"] for r in rows],
            "ts": [r["ts"] for r in rows],
            "anonymous_id": [r["anonymous_id"] for r in rows],
            "channel": [r["channel"] for r in rows],
            "properties": [json.dumps(r["properties"]) for r in rows],
        }
    )
    if fmt == "csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000, help="events through `hufen events import`")
    parser.add_argument("--api-events", type=int, default=100_000, help="events through the API's service")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--files", type=int, default=10, help="the import is split over this many files")
    parser.add_argument("--format", choices=["parquet", "jsonl", "csv"], default="parquet")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.cores]))
    scratch = tempfile.mkdtemp(prefix="hufen-bench-tracking-")
    os.environ["DATABASE_URL"] = f"sqlite:///{scratch}/store.sqlite3"
    os.environ["HUFEN_LAKE_URL"] = f"{scratch}/lake"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hufen.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from hufen.common.actors import SYSTEM
    from hufen.tracking.services import events_ingest, lake_compact, pending_flush

    call_command("migrate", verbosity=0)
    base = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=31)
    result: dict[str, Any] = {"cores": args.cores, "database": "sqlite", "events": args.events}
    try:
        batches = [raw_events(i, min(1000, args.api_events - i), base) for i in range(0, args.api_events, 1000)]
        started, cpu = time.perf_counter(), time.process_time()
        for batch in batches:
            events_ingest(actor=SYSTEM, raw_events=batch)
        api_seconds = time.perf_counter() - started
        result["api_service"] = {
            "events": args.api_events,
            "seconds": round(api_seconds, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "events_per_s": round(args.api_events / api_seconds) if args.api_events else 0,
        }
        started = time.perf_counter()
        flushed = pending_flush()
        result["flush"] = {**flushed, "seconds": round(time.perf_counter() - started, 2)}

        files = []
        step = max(1, args.events // args.files)
        for number, first in enumerate(range(args.api_events, args.api_events + args.events, step)):
            path = f"{scratch}/import-{number}.{args.format}"
            event_file(path, first, min(step, args.api_events + args.events - first), base, args.format)
            files.append(path)
        started, cpu = time.perf_counter(), time.process_time()
        accepted = 0
        for path in files:
            out = StringIO()
            call_command("events", "import", path, "--json", "--no-progress", stdout=out)
            accepted += json.loads(out.getvalue())["accepted"]
        import_seconds = time.perf_counter() - started
        result["import"] = {
            "format": args.format,
            "accepted": accepted,
            "files": len(files),
            "seconds": round(import_seconds, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "events_per_s": round(accepted / import_seconds),
        }
        started = time.perf_counter()
        compacted = lake_compact()
        result["compaction"] = {**compacted, "seconds": round(time.perf_counter() - started, 2)}
        import duckdb

        from hufen.tracking.lake import events_glob

        glob = events_glob(os.environ["HUFEN_LAKE_URL"])
        [(total, distinct)] = (
            duckdb.connect()
            .execute(f"SELECT count(*), count(DISTINCT event_id) FROM read_parquet('{glob}')")
            .fetchall()
        )
        result["lake"] = {"rows": total, "distinct_event_ids": distinct, "expected": args.events + args.api_events}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Benchmark event ingestion: the API's service path, HTTP, `hufen events import`, flush and compaction.

    .venv/bin/python benchmarks/tracking_ingest.py [--events 1000000] [--api-events 100000]
        [--http-events 100000 --http-connections 8 --workers 2 --threads 4] [--cores 2]

Runs in a scratch SQLite store and a scratch lake (both deleted after), pinned to `--cores` CPUs,
and prints one JSON object. Events carry an anonymous device id, a channel and a small property
object, over 30 days; the importer reads Parquet files of `--events / 10` rows each, so that every
date partition ends with ten files for the compaction to merge.

HTTP: a real `hufen serve` (gunicorn, `--workers` x `--threads`, DEBUG off) on a free local port, and
a client of `--http-connections` keep-alive connections posting batches of 1,000 events (bodies
serialised, and every worker warmed with empty batches, before the clock starts) with a brand API
client's token. Every 200 means the batch is durable; the figure is events acknowledged per second of
wall time, and the lake is checked to hold each event once. Client and server share the same CPUs
(the client is a small part: it only sends bytes). `server_cpu_us_per_event` is the CPU the server's
processes (`app`) and, with `--postgres`, the database backends serving them (`db`) spent per event:
unlike events/s, it hardly depends on what else the machine is doing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from io import StringIO
from typing import Any

import psycopg
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_token() -> str:
    """A brand-scoped API client in the scratch store (the kind an app backend would use)."""
    from django.core.management import call_command

    from hufen.org.models import Brand

    Brand.objects.get_or_create(code="bench", defaults={"name": "基准品牌", "positioning": "mass"})
    out = StringIO()
    call_command("apiclient", "create", "--name", "ingest benchmark", "--brand", "bench", "--json", stdout=out)
    return str(json.loads(out.getvalue())["token"])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (gunicorn's master and workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as handle:
                    todo.extend(int(child) for child in handle.read().split())
        except OSError:
            continue
    return found


def _server_cpu(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the HTTP server's processes and of the PostgreSQL backends of this
    database (same machine), by pid; empty where /proc is missing."""
    if not os.path.isdir("/proc"):
        return {}
    cpu = {f"app:{pid}": _cpu_seconds(pid) for pid in _process_tree(server_pid)}
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            cpu.update({f"db:{pid}": _cpu_seconds(pid) for (pid,) in cursor.fetchall()})
    return cpu


def _cpu_used(before: dict[str, float], after: dict[str, float], kind: str) -> float:
    return sum(v - before.get(k, 0.0) for k, v in after.items() if k.startswith(kind))


def http_ingest(args: argparse.Namespace, start: int, base: dt.datetime, token: str) -> dict[str, Any]:
    """Post `--http-events` events to a real server over `--http-connections` connections."""
    port = free_port()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    hufen = os.path.join(os.path.dirname(sys.executable), "hufen")
    server = subprocess.Popen(
        [hufen, "serve", "--port", str(port), "--workers", str(args.workers), "--threads", str(args.threads)],
        cwd=root,
        # As in production: DEBUG off (production refuses it), no access log.
        env={**os.environ, "HUFEN_DEBUG": "0", "GUNICORN_CMD_ARGS": "--access-logfile /dev/null --backlog 256"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                probe.request("GET", "/api/v1/openapi.json")
                probe.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("hufen serve did not answer within 60 s")
        bodies = [
            json.dumps({"events": raw_events(i, min(1000, start + args.http_events - i), base)}).encode()
            for i in range(start, start + args.http_events, 1000)
        ]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        def warm() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            for _ in range(3):
                conn.request("POST", "/api/v1/events", body=b'{"events": []}', headers=headers)
                conn.getresponse().read()
            conn.close()

        # Before the clock: every worker thread's first request (Django loads the URLconf and the API's
        # schemas lazily, each thread opens its database connection), as a server that has been up a while.
        warmers = [threading.Thread(target=warm) for _ in range(2 * args.workers * args.threads)]
        for thread in warmers:
            thread.start()
        for thread in warmers:
            thread.join()
        lock = threading.Lock()
        queue = list(reversed(bodies))
        totals = {"accepted": 0, "duplicates": 0, "rejected": 0, "requests": 0, "errors": 0}
        latencies: list[float] = []

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            while True:
                with lock:
                    if not queue:
                        break
                    body = queue.pop()
                sent = time.perf_counter()
                conn.request("POST", "/api/v1/events", body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                took = time.perf_counter() - sent
                with lock:
                    latencies.append(took)
                    totals["requests"] += 1
                    if response.status != 200:
                        totals["errors"] += 1
                        continue
                    answer = json.loads(data)
                    for key in ("accepted", "duplicates", "rejected"):
                        totals[key] += answer[key]
            conn.close()

        threads = [threading.Thread(target=client) for _ in range(args.http_connections)]
        cpu_before = _server_cpu(server.pid)
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        cpu_after = _server_cpu(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies.sort()
    return {
        "events": args.http_events,
        **totals,
        "connections": args.http_connections,
        "server": f"gunicorn {args.workers} workers x {args.threads} threads",
        "seconds": round(seconds, 2),
        "events_per_s": round(totals["accepted"] / seconds) if seconds else 0,
        # Load-independent: CPU the server spent per acknowledged event (gunicorn's processes; with
        # --postgres also the database backends serving them).
        "server_cpu_us_per_event": {
            kind: round(_cpu_used(cpu_before, cpu_after, kind) / totals["accepted"] * 1e6, 1)
            for kind in (("app", "db") if args.postgres else ("app",))
            if totals["accepted"] and cpu_after
        },
        "batch_latency_ms": {
            "p50": round(latencies[len(latencies) // 2] * 1000) if latencies else None,
            "p95": round(latencies[int(len(latencies) * 0.95)] * 1000) if latencies else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000, help="events through `hufen events import`")
    parser.add_argument("--api-events", type=int, default=100_000, help="events through the API's service")
    parser.add_argument("--http-events", type=int, default=100_000, help="events posted to a real server")
    parser.add_argument("--http-connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers for the HTTP run")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--files", type=int, default=10, help="the import is split over this many files")
    parser.add_argument("--format", choices=["parquet", "jsonl", "csv"], default="parquet")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="write-ahead store in a scratch PostgreSQL database (as production) instead of SQLite",
    )
    parser.add_argument(
        "--pg-prefix",
        default="hufen_bench_tracking",
        help="name prefix of the scratch PostgreSQL database (a random suffix is added; dropped afterwards)",
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.cores]))
    scratch = tempfile.mkdtemp(prefix="hufen-bench-tracking-")
    pg_admin = os.environ.get("HUFEN_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    pg_name = f"{args.pg_prefix}_{uuid.uuid4().hex[:8]}"
    if args.postgres:
        with psycopg.connect(pg_admin, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{pg_name}"')
        os.environ["DATABASE_URL"] = pg_admin.rsplit("/", 1)[0] + "/" + pg_name
    else:
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
    result: dict[str, Any] = {
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "cores": args.cores,
        "database": "postgresql" if args.postgres else "sqlite",
        "events": args.events,
    }
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
        if args.http_events:
            result["http"] = http_ingest(args, 10**9, base, http_token())
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
        import_cpu = time.process_time() - cpu
        result["import"] = {
            "format": args.format,
            "accepted": accepted,
            "files": len(files),
            "seconds": round(import_seconds, 2),
            "cpu_seconds": round(import_cpu, 2),
            "events_per_s": round(accepted / import_seconds),
            # Load-independent: events per CPU-second of the importing process (DuckDB's threads included).
            "events_per_cpu_s": round(accepted / max(import_cpu, 1e-9)),
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
        expected = args.events + args.api_events + args.http_events
        result["lake"] = {"rows": total, "distinct_event_ids": distinct, "expected": expected}
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if args.postgres:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(pg_admin, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Benchmark ONE ID in the database: `identity rebuild` over N stored records, and online linking.

    .venv/bin/python benchmarks/identity_online.py [RECORDS] [--online 200] [--postgres]

RECORDS (default 20,000) noisy multi-source records from the synthetic generator are resolved once
by the batch engine and stored as SourceRecords with their identifier and blocking-key index rows
and one Person per cluster (setup, timed separately). Then:
1. `identity_rebuild` over all of them (no new evidence: IDs must stay put);
2. `--online` held-out records of the same population linked one by one through `identity_link_one`
   (latency p50 / p99 per record, with every write: record, index rows, audit, event, person);
3. a second rebuild, which now has the new evidence, and how many online decisions it kept.
The database is a temporary SQLite file or, with --postgres, a scratch PostgreSQL database created
and dropped here. Prints one JSON object and keeps a copy in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIELDS = (
    "name",
    "phone",
    "email",
    "id_number",
    "birth_date",
    "gender",
    "province",
    "city",
    "district",
    "address",
    "wechat_unionid",
    "vin",
)


def workload(records: int, online: int) -> dict[str, Any]:
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from hufen.common.actors import SYSTEM
    from hufen.identity.linking import ONLINE_SCHEMA, block_keys_of, identifiers_of
    from hufen.identity.matching import resolve
    from hufen.identity.models import BlockKey, Identifier, SourceRecord
    from hufen.identity.prepare import prepare_rows
    from hufen.identity.rebuild import identity_rebuild
    from hufen.identity.services import RecordInput, identity_link_one
    from hufen.identity.synthetic import generate
    from hufen.people.models import Person

    call_command("migrate", verbosity=0)
    out: dict[str, Any] = {"records": records, "online_records": online}
    began = time.monotonic()
    generated = [row for row, _ in generate(records + online, seed=7)]
    base, held_out = generated[:records], generated[records:]
    fields = [{k: r[k] for k in FIELDS if r.get(k)} for r in base]
    rows = prepare_rows([{"record_id": r["record_id"], **f} for r, f in zip(base, fields, strict=True)], ONLINE_SCHEMA)
    resolution = resolve([{"record_id": r["record_id"], **f} for r, f in zip(base, fields, strict=True)], ONLINE_SCHEMA)
    clusters = sorted(set(resolution.person_ids))
    persons = Person.objects.bulk_create([Person(name="待定", source="bench") for _ in clusters], batch_size=5000)
    person_of = {label: p.pk for label, p in zip(clusters, persons, strict=True)}
    now = timezone.now()
    stored = SourceRecord.objects.bulk_create(
        [
            SourceRecord(
                source=r["source"],
                source_key=r["record_id"],
                raw=f,
                normalized={k: v for k, v in row.items() if k not in {"uid", "rid"}},
                fingerprint="bench",
                received_at=now,
                person_id=person_of[label],
                decision="new",
            )
            for r, f, row, label in zip(base, fields, rows, resolution.person_ids, strict=True)
        ],
        batch_size=5000,
    )
    Identifier.objects.bulk_create(
        [
            Identifier(kind=kind, value=value, record_id=s.pk, person_id=s.person_id)
            for s in stored
            for kind, value in identifiers_of(s.normalized)
        ],
        batch_size=10000,
    )
    BlockKey.objects.bulk_create(
        [
            BlockKey(key=key, record_id=s.pk, person_id=s.person_id)
            for s in stored
            for key in block_keys_of(s.normalized)
        ],
        batch_size=10000,
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    out["setup_seconds"] = round(time.monotonic() - began, 1)
    out["persons"] = len(clusters)

    before = dict(SourceRecord.objects.values_list("pk", "person_id"))
    first = identity_rebuild(actor=SYSTEM)
    after = dict(SourceRecord.objects.values_list("pk", "person_id"))
    out["rebuild"] = first.as_dict()
    out["rebuild_records_per_s"] = round(records / first.seconds["total"], 1)
    out["rebuild_stable_share"] = round(sum(before[k] == after[k] for k in before) / len(before), 5)

    latencies: list[float] = []
    decisions: dict[int, int] = {}
    for r in held_out:
        record = RecordInput(
            source=r["source"], source_key=r["record_id"], fields={k: r[k] for k in FIELDS if r.get(k)}
        )
        t = time.perf_counter()
        result = identity_link_one(actor=SYSTEM, record=record)
        latencies.append((time.perf_counter() - t) * 1000)
        assert result.record_id is not None and result.person_id is not None
        decisions[result.record_id] = result.person_id
    if latencies:
        latencies.sort()
        out["online_ms"] = {
            "p50": round(statistics.median(latencies), 2),
            "p99": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
            "max": round(latencies[-1], 2),
        }
        second = identity_rebuild(actor=SYSTEM)
        out["rebuild_after_online"] = second.as_dict()
        kept = SourceRecord.objects.filter(pk__in=list(decisions)).values_list("pk", "person_id")
        out["online_equals_rebuild_share"] = round(sum(decisions[pk] == p for pk, p in kept) / len(decisions), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("records", nargs="?", type=int, default=20_000)
    parser.add_argument("--online", type=int, default=200)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(workload(args.records, args.online)))
        return
    scratch = tempfile.mkdtemp(prefix="hufen-bench-")
    if args.postgres:
        name = f"hufen_bench_{uuid.uuid4().hex[:8]}"
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
        url = f"postgres://postgres@127.0.0.1:5432/{name}"
    else:
        url = f"sqlite:///{scratch}/bench.sqlite3"
    env = {**os.environ, "DATABASE_URL": url, "HUFEN_VAR_DIR": scratch, "DJANGO_SETTINGS_MODULE": "hufen.settings"}
    try:
        done = subprocess.run(
            [sys.executable, __file__, str(args.records), "--online", str(args.online), "--inner"],
            env=env,
            cwd=ROOT,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if args.postgres:
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", name], check=False)
    result = {
        **json.loads(done.stdout.strip().splitlines()[-1]),
        "database": url.split("://", 1)[0],
        "cores": os.cpu_count(),
    }
    out = ROOT / "benchmarks" / "results" / f"identity_online_{result['database']}_{args.records}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

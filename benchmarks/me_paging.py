"""Benchmark paging a member's history over the API, newest first and oldest first, deep into it.

    .venv/bin/python benchmarks/me_paging.py [ENTRIES] [--members M] [--postgres]

ENTRIES (default 1,000,000) points entries are written straight into the ledger table for M members
(default 200), interleaved (entry i belongs to member i mod M), so every member's rows are spread over
the whole id range, as they are for members who earn a little every day for years. The rows are
benchmark data: amounts and balances are not a consistent ledger (the pages only read them). One
member then signs in through the real services and reads its whole history with
`GET /api/v1/me/points?limit=50&order=…` through Django's test client (no network), following
`next_cursor` to the end, once newest first and once oldest first. Prints per order the first, a middle
and the last page's time, mean/p50/p95 over all pages, and queries per page; on PostgreSQL also the
plan of a deep newest-first page. The database is a temporary SQLite file or, with --postgres, a
scratch database `hufen_memberapi_bench_*` on 127.0.0.1, dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

from scratch import ROOT


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "pages": len(samples),
        "first_ms": round(samples[0] * 1000, 2),
        "middle_ms": round(samples[len(samples) // 2] * 1000, 2),
        "last_ms": round(samples[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(samples) * 1000, 2),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 2),
    }


def _fill(entries: int, account_ids: list[int], vendor: str) -> float:
    """Insert `entries` ledger rows round-robin over the accounts, in SQL; returns the seconds taken."""
    from django.db import connection

    from hufen.membership.models import PointsEntry

    table = PointsEntry._meta.db_table
    accounts = ",".join(f"({i},{a})" for i, a in enumerate(account_ids))
    columns = (
        "account_id, kind, amount, reason, ref_type, ref_id, idempotency_key, actor_label, balance_after, created_at"
    )
    values = "a.account_id, 'award', 1 + s.i %% 97, 'goodwill', '', '', 'bench-' || s.i, 'bench', s.i, {ts}"
    started = time.perf_counter()
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            ts = f"now() - ({int(entries)} - s.i) * interval '1 second'"
            cursor.execute(
                f"WITH a(k, account_id) AS (VALUES {accounts}) "
                f"INSERT INTO {table} ({columns}) "
                f"SELECT {values.format(ts=ts)} FROM generate_series(1, %s) AS s(i) "
                f"JOIN a ON a.k = s.i %% %s ORDER BY s.i",
                [entries, len(account_ids)],
            )
            cursor.execute(f"ANALYZE {table}")
        else:
            ts = f"datetime('now', '-' || ({int(entries)} - s.i) || ' seconds')"
            cursor.execute(
                f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %s), "
                f"a(k, account_id) AS (VALUES {accounts}) "
                f"INSERT INTO {table} ({columns}) "
                f"SELECT {values.format(ts=ts)} FROM s JOIN a ON a.k = s.i %% %s ORDER BY s.i",
                [entries, len(account_ids)],
            )
            cursor.execute("ANALYZE")
    return time.perf_counter() - started


def workload(entries: int, members: int) -> dict[str, object]:
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from hufen.common.actors import SYSTEM
    from hufen.membership.models import PointsAccount, PointsEntry
    from hufen.membership.services import member_join
    from hufen.org.models import Brand
    from hufen.people.models import Person
    from hufen.portal.models import SmsMessage
    from hufen.portal.services import JoinRequired, login_code_request, member_join_with_consent, member_sign_in
    from hufen.portal.terms import TERMS_VERSION

    call_command("migrate", verbosity=0)
    brand = Brand.objects.create(code="bench", name="基准品牌", positioning="mass")
    phones = [f"+86139{i:08d}" for i in range(members)]
    persons = Person.objects.bulk_create(Person(name=f"车主{i}", phone=p, source="bench") for i, p in enumerate(phones))
    # The first person signs in through the app (consent, member token); the others are enrolled.
    login_code_request(phone=phones[0], brand_code="bench")
    body = SmsMessage.objects.filter(phone=phones[0]).order_by("-id").values_list("body", flat=True).first() or ""
    code = re.search(r"(\d{6})", body)
    assert code is not None
    try:
        signed = member_sign_in(phone=phones[0], code=code.group(1), brand_code="bench", channel="api")
    except JoinRequired as needed:
        signed = member_join_with_consent(
            ticket=needed.pending.ticket, accept_terms=True, terms_version=TERMS_VERSION, channel="api"
        )
    for person in persons[1:]:
        member_join(actor=SYSTEM, person=person, brand=brand, channel="api")
    cache.clear()
    accounts = list(PointsAccount.objects.order_by("member_id").values_list("id", flat=True))
    mine = PointsAccount.objects.get(member=signed.member).pk
    fill_seconds = _fill(entries, accounts, connection.vendor)
    own_rows = PointsEntry.objects.filter(account_id=mine).count()

    client = Client(HTTP_HOST="127.0.0.1")
    headers = {"Authorization": f"Bearer {signed.token}"}
    client.get("/api/v1/me/points", {"limit": 50}, headers=headers)  # warm up: URL resolver, imports

    def walk(order: str) -> tuple[list[float], int, list[int]]:
        samples: list[float] = []
        queries = 0
        seen: list[int] = []
        query: dict[str, Any] = {"limit": 50, "order": order}
        while True:
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get("/api/v1/me/points", query, headers=headers)
                samples.append(time.perf_counter() - started)
            assert response.status_code == 200, response.content[:300]
            queries = max(queries, len(captured))
            page = response.json()
            seen.extend(row["id"] for row in page["items"])
            if page["next_cursor"] is None:
                return samples, queries, seen
            query["cursor"] = page["next_cursor"]

    results: dict[str, Any] = {}
    for order in ("newest", "oldest"):
        samples, queries, seen = walk(order)
        assert len(seen) == own_rows == len(set(seen)), (order, len(seen), own_rows)
        assert seen == sorted(seen, reverse=order == "newest")
        results[order] = {**_summary(samples), "queries_per_page": queries}
    if connection.vendor == "postgresql":
        middle = sorted(PointsEntry.objects.filter(account_id=mine).values_list("id", flat=True))[own_rows // 2]
        with connection.cursor() as cursor:
            cursor.execute(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING ON) SELECT * FROM membership_pointsentry "
                "WHERE account_id = %s AND id < %s ORDER BY id DESC LIMIT 51",
                [mine, middle],
            )
            results["plan_deep_newest_page"] = [row[0] for row in cursor.fetchall()]
    return {
        "benchmark": "me_paging",
        "entries": entries,
        "members": members,
        "member_entries": own_rows,
        "fill_seconds": round(fill_seconds, 1),
        **results,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("entries", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(workload(args.entries, args.members)))
        return
    scratch = tempfile.mkdtemp(prefix="hufen-bench-")
    db_name = f"hufen_memberapi_bench_{uuid.uuid4().hex[:8]}"
    if args.postgres:
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", db_name], check=True)
        url = f"postgres://postgres@127.0.0.1:5432/{db_name}"
    else:
        url = f"sqlite:///{scratch}/bench.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "HUFEN_VAR_DIR": scratch,
        "HUFEN_LAKE_URL": f"{scratch}/lake",
        "DJANGO_SETTINGS_MODULE": "hufen.settings",
    }
    env.pop("REDIS_URL", None)
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        done = subprocess.run(
            [sys.executable, __file__, str(args.entries), "--members", str(args.members), "--inner"],
            env=env,
            cwd=ROOT,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if args.postgres:
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", db_name], check=False)
    result = {
        **json.loads(done.stdout.strip().splitlines()[-1]),
        "database": url.split("://", 1)[0],
        "cores": os.cpu_count(),
        "load_average_start": load_before,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }
    out = ROOT / "benchmarks" / "results" / f"me_paging_{result['database']}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

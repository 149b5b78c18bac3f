"""Benchmark the member self-service API (/api/v1/me): sign-in with consent, then the reads and a redeem.

    .venv/bin/python benchmarks/me_api.py [MEMBERS] [--entries N] [--postgres]

MEMBERS (default 200) sign in through the real services (SMS code from the outbox, terms agreed,
member token issued for channel `api`) and get N ledger entries each (default 50). Then every member
calls, through Django's test client in one process (no HTTP server, so this is the cost of the view,
auth and database work, not of the network): GET /me/card, /me/points?limit=50, /me/benefits,
/me/memberday and POST /me/benefits/{id}/redeem with an Idempotency-Key. The database is a temporary
SQLite file, or with --postgres a scratch database `hufen_portal_bench_*` on 127.0.0.1 that is
dropped afterwards; migrations are not timed. Prints one JSON object (per call: mean, p50, p95 in ms
and queries per request) and keeps a copy in benchmarks/results/.
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
from collections.abc import Callable
from typing import Any

from scratch import ROOT


def _summary(samples: list[float], queries: list[int]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(samples),
        "mean_ms": round(statistics.fmean(samples) * 1000, 2),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
        "queries": max(queries),
    }


def workload(members: int, entries: int) -> dict[str, object]:
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from hufen.common.actors import SYSTEM
    from hufen.membership.benefits import benefit_create
    from hufen.membership.ledger import points_award
    from hufen.org.models import Brand
    from hufen.people.models import Person
    from hufen.portal.models import SmsMessage
    from hufen.portal.services import JoinRequired, login_code_request, member_join_with_consent, member_sign_in
    from hufen.portal.terms import TERMS_VERSION

    call_command("migrate", verbosity=0)
    Brand.objects.create(code="bench", name="基准品牌", positioning="mass")
    phones = [f"+86139{i:08d}" for i in range(members)]
    Person.objects.bulk_create(Person(name=f"车主{i}", phone=p, source="bench") for i, p in enumerate(phones))

    sign_in: list[float] = []
    tokens: list[str] = []
    for phone in phones:
        started = time.perf_counter()
        login_code_request(phone=phone, brand_code="bench")
        body = SmsMessage.objects.filter(phone=phone).order_by("-id").values_list("body", flat=True).first() or ""
        code = re.search(r"(\d{6})", body)
        assert code is not None
        try:
            signed = member_sign_in(phone=phone, code=code.group(1), brand_code="bench", channel="api")
        except JoinRequired as needed:
            signed = member_join_with_consent(
                ticket=needed.pending.ticket, accept_terms=True, terms_version=TERMS_VERSION, channel="api"
            )
        sign_in.append(time.perf_counter() - started)
        tokens.append(signed.token)
        for k in range(entries):
            points_award(
                actor=SYSTEM, member=signed.member, amount=100, reason="goodwill", idempotency_key=f"b{phone}{k}"
            )
        cache.clear()  # the one-code-a-minute throttle is per phone; keep the cache small
    item = benefit_create(
        actor=SYSTEM,
        member_program_id=signed.member.program_id,
        code="wash",
        name="精洗",
        points_price=10,
        stock=members * 10,
    )

    client = Client(HTTP_HOST="127.0.0.1")
    calls: dict[str, Callable[[str, int], Any]] = {
        "card": lambda t, i: client.get("/api/v1/me/card", headers={"Authorization": f"Bearer {t}"}),
        "points": lambda t, i: client.get("/api/v1/me/points", {"limit": 50}, headers={"Authorization": f"Bearer {t}"}),
        "benefits": lambda t, i: client.get("/api/v1/me/benefits", headers={"Authorization": f"Bearer {t}"}),
        "memberday": lambda t, i: client.get("/api/v1/me/memberday", headers={"Authorization": f"Bearer {t}"}),
        "redeem": lambda t, i: client.post(
            f"/api/v1/me/benefits/{item.pk}/redeem",
            "{}",
            content_type="application/json",
            headers={"Authorization": f"Bearer {t}", "Idempotency-Key": f"r{i}"},
        ),
    }
    results: dict[str, Any] = {"sign_in_and_join": _summary(sign_in, [0])}
    for call in calls.values():  # warm up: the first request builds the URL resolver and imports lazily
        call(tokens[0], -1)
    for name, call in calls.items():
        samples: list[float] = []
        queries: list[int] = []
        for i, token in enumerate(tokens):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = call(token, i)
                samples.append(time.perf_counter() - started)
            assert response.status_code in (200, 201), (name, response.status_code, response.content[:300])
            queries.append(len(captured))
        results[name] = _summary(samples, queries)
    results["sign_in_and_join"].pop("queries")
    return {"benchmark": "me_api", "members": members, "entries_per_member": entries, **results}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("members", nargs="?", type=int, default=200)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(workload(args.members, args.entries)))
        return
    scratch = tempfile.mkdtemp(prefix="hufen-bench-")
    db_name = f"hufen_portal_bench_{uuid.uuid4().hex[:8]}"
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
    env.pop("REDIS_URL", None)  # the local-memory cache: throttles stay in this process
    try:
        done = subprocess.run(
            [sys.executable, __file__, str(args.members), "--entries", str(args.entries), "--inner"],
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
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    out = ROOT / "benchmarks" / "results" / f"me_api_{result['database']}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

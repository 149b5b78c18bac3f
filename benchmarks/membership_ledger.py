"""Benchmark the points ledger: award / spend / redeem throughput and `points verify` time.

    .venv/bin/python benchmarks/membership_ledger.py [MEMBERS] [--postgres]

MEMBERS defaults to 2,000 (each gets 5 awards and 2 spends, one redemption). The database is a
temporary SQLite file (or, with --postgres, a scratch database created with `createdb` on
127.0.0.1 and dropped afterwards); migrations run first and are not timed. Single writer: this
measures the cost of one ledger transaction, not concurrency (see tests/test_concurrency.py).
Prints one JSON object and keeps a copy in benchmarks/results/.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from scratch import ROOT, run_benchmark


def workload(members: int) -> dict[str, object]:
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.core.management import call_command

    from hufen.common.actors import SYSTEM
    from hufen.membership.benefits import benefit_create, benefit_redeem
    from hufen.membership.ledger import points_award, points_spend
    from hufen.membership.models import Member
    from hufen.membership.selectors import ledger_verify
    from hufen.membership.services import member_join
    from hufen.org.models import Brand
    from hufen.people.models import Person

    call_command("migrate", verbosity=0)
    brand = Brand.objects.create(code="bench", name="基准品牌", positioning="mass")
    persons = Person.objects.bulk_create(Person(name=f"会员{i}", phone="") for i in range(members))
    timings: dict[str, float] = {}

    def timed(name: str, count: int, fn: Callable[[], object]) -> None:
        began = time.monotonic()
        fn()
        seconds = time.monotonic() - began
        timings[f"{name}_per_s"] = round(count / seconds, 1)

    joined: list[Member] = []
    timed(
        "join",
        members,
        lambda: joined.extend(member_join(actor=SYSTEM, person=p, brand=brand, channel="import") for p in persons),
    )
    timed(
        "award",
        members * 5,
        lambda: [
            points_award(actor=SYSTEM, member=m, amount=200, reason="goodwill", idempotency_key=f"a{k}")
            for m in joined
            for k in range(5)
        ],
    )
    timed(
        "spend",
        members * 2,
        lambda: [
            points_spend(actor=SYSTEM, member=m, amount=150, reason="merchant", idempotency_key=f"s{k}")
            for m in joined
            for k in range(2)
        ],
    )
    item = benefit_create(
        actor=SYSTEM,
        member_program_id=joined[0].program_id,
        code="wash",
        name="洗车",
        points_price=100,
        stock=10**8,
    )
    timed(
        "redeem",
        members,
        lambda: [benefit_redeem(actor=SYSTEM, member=m, item=item, quantity=1, idempotency_key="r") for m in joined],
    )
    began = time.monotonic()
    found = ledger_verify()
    timings["verify_seconds"] = round(time.monotonic() - began, 2)
    return {"members": members, "entries": members * 8, "discrepancies": len(found), **timings}


def main() -> None:
    run_benchmark(script=__file__, name="membership_ledger", size_arg="members", default_size=2_000, workload=workload)


if __name__ == "__main__":
    main()

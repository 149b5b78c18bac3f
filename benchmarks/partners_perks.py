"""Benchmark the Territory Partner counter flow: car key issue, verify (6-digit code) and perk
redemption, plus the monthly value report over the redemptions.

    .venv/bin/python benchmarks/partners_perks.py [OWNERS] [--postgres]

OWNERS defaults to 500 (each shows one key at one of 20 merchants and gets one perk). The database is
a temporary SQLite file (or, with --postgres, a scratch database created with `createdb` on
127.0.0.1 and dropped afterwards); migrations run first and are not timed. Single client: this is
the cost of one counter transaction (tests/test_concurrency.py proves caps under concurrency).
Prints one JSON object and keeps a copy in benchmarks/results/.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from decimal import Decimal

from scratch import ROOT, run_benchmark

MERCHANTS = 20


def workload(owners: int) -> dict[str, object]:
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from hufen.common.actors import SYSTEM, Actor, Role
    from hufen.org.models import Brand, Region, Staff
    from hufen.partners import carkey
    from hufen.partners.carkey import CarKey, CarKeyHolder, car_key_issue, car_key_verify
    from hufen.partners.models import Merchant, MerchantOperator
    from hufen.partners.offers import offer_create, perk_redeem
    from hufen.partners.reports import value_report
    from hufen.partners.selectors import actor_for_merchant_operator
    from hufen.partners.validation import credit_check_char
    from hufen.people.models import Ownership, Person, Vehicle, VehicleModel

    call_command("migrate", verbosity=0)
    # A benchmark is one legitimate client hammering its own merchants: lift the per-member limits.
    carkey.MEMBER_VERIFICATIONS_PER_WINDOW = 10**9
    carkey.MEMBER_ISSUES_PER_WINDOW = 10**9
    brand = Brand.objects.create(code="bench", name="基准品牌", positioning="mass")
    Region.objects.create(code="bench", name="基准大区")
    model = VehicleModel.objects.create(
        brand=brand,
        series="基准 S1",
        name="2026款",
        energy_type="bev",
        price_band="c",
        msrp_fen=1,
        year=2026,
        wmi="LBV",
    )
    persons = Person.objects.bulk_create(Person(name=f"车主{i}", phone="") for i in range(owners))
    vehicles = Vehicle.objects.bulk_create(Vehicle(vin=f"LBV{i:014d}", model=model, colour="白") for i in range(owners))
    now = timezone.now()
    Ownership.objects.bulk_create(
        Ownership(person=p, vehicle=v, delivered_at=now - dt.timedelta(days=30))
        for p, v in zip(persons, vehicles, strict=True)
    )
    operators: list[Actor] = []
    offers = []
    from django.contrib.auth.models import User

    for m in range(MERCHANTS):
        first17 = f"91330106MA{m:07d}"
        merchant = Merchant.objects.create(
            kind="territory",
            name=f"伙伴门店{m}",
            legal_name=f"基准商户{m}有限公司",
            credit_code=first17 + credit_check_char(first17),
            scenario="food",
            city=["杭州市", "上海市", "广州市", "成都市"][m % 4],
            address="基准路 1 号",
            latitude=Decimal("30.27"),
            longitude=Decimal("120.15"),
            status="active",
        )
        merchant.brands.set([brand])
        user = User.objects.create_user(username=f"shop{m}", password=None)
        staff = Staff.objects.create(user=user, name=f"店员{m}", role="merchant_operator")
        MerchantOperator.objects.create(staff=staff, merchant=merchant)
        operators.append(actor_for_merchant_operator(staff))
        offers.append(
            offer_create(
                actor=SYSTEM,
                merchant=merchant,
                data={
                    "title": "9 折",
                    "kind": "percent",
                    "percent_off": 10,
                    "per_owner_per_day": 3,
                    "valid_from": now - dt.timedelta(days=1),
                    "valid_until": now + dt.timedelta(days=30),
                },
            )
        )
    members = [Actor(kind="member", role=Role.MEMBER, label=f"m{p.pk}", person_id=p.pk) for p in persons]
    timings: dict[str, float] = {}

    def timed(name: str, count: int, fn: Callable[[], object]) -> object:
        began = time.monotonic()
        out = fn()
        timings[f"{name}_per_s"] = round(count / (time.monotonic() - began), 1)
        return out

    keys: list[CarKey] = timed("issue", owners, lambda: [car_key_issue(actor=a) for a in members])  # type: ignore[assignment]
    holders: list[CarKeyHolder] = timed(  # type: ignore[assignment]
        "verify",
        owners,
        lambda: [car_key_verify(actor=operators[i % MERCHANTS], code=k.short_code) for i, k in enumerate(keys)],
    )
    timed(
        "redeem",
        owners,
        lambda: [
            perk_redeem(
                actor=operators[i % MERCHANTS],
                key_id=h.key_id,
                offer_id=offers[i % MERCHANTS].pk,
                bill_fen=10_000 + i,
                idempotency_key=f"bench-form-{i}",
            )
            for i, h in enumerate(holders)
        ],
    )
    began = time.monotonic()
    rows = value_report(actor=SYSTEM, month=timezone.localtime(now).strftime("%Y-%m"), by="city")
    timings["value_report_ms"] = round((time.monotonic() - began) * 1000, 1)
    return {"owners": owners, "merchants": MERCHANTS, "cities": len(rows), **timings}


def main() -> None:
    run_benchmark(script=__file__, name="partners_perks", size_arg="owners", default_size=500, workload=workload)


if __name__ == "__main__":
    main()

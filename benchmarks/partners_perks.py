"""Benchmark the Territory Partner counter flow: car key issue, verify (6-digit code), the merchant
page's offer list for the verified owner, and perk redemption, plus the monthly value report.

    .venv/bin/python benchmarks/partners_perks.py [OWNERS] [--merchants N] [--offers K] [--postgres]

OWNERS defaults to 500 (each shows one key at one of N merchants, default 20, and gets one perk from
one of the merchant's K offers, default 1). The database is a temporary SQLite file (or, with
--postgres, a scratch database `hufen_partners_bench_*` created with `createdb` on 127.0.0.1 and
dropped afterwards); migrations run first and are not timed. Single client: this is the cost of one
counter transaction (tests/test_concurrency.py proves caps under concurrency). Prints one JSON
object and keeps a copy in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal

from scratch import ROOT


def workload(owners: int, merchants: int = 20, offers_per_merchant: int = 1) -> dict[str, object]:
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
    from hufen.partners.offers import offer_create, offers_for_key, perk_redeem
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
    offers: list[list[int]] = []
    from django.contrib.auth.models import User

    for m in range(merchants):
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
            [
                offer_create(
                    actor=SYSTEM,
                    merchant=merchant,
                    data={
                        "title": f"9 折 {k}",
                        "kind": "percent",
                        "percent_off": 10,
                        "per_owner_per_day": 3,
                        "valid_from": now - dt.timedelta(days=1),
                        "valid_until": now + dt.timedelta(days=30),
                    },
                ).pk
                for k in range(offers_per_merchant)
            ]
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
        lambda: [car_key_verify(actor=operators[i % merchants], code=k.short_code) for i, k in enumerate(keys)],
    )
    timed(
        "offers_for_key",
        owners,
        lambda: [offers_for_key(actor=operators[i % merchants], key_id=h.key_id) for i, h in enumerate(holders)],
    )
    timed(
        "redeem",
        owners,
        lambda: [
            perk_redeem(
                actor=operators[i % merchants],
                key_id=h.key_id,
                offer_id=offers[i % merchants][i // merchants % offers_per_merchant],
                bill_fen=10_000 + i,
                idempotency_key=f"bench-form-{i}",
            )
            for i, h in enumerate(holders)
        ],
    )
    began = time.monotonic()
    rows = value_report(actor=SYSTEM, month=timezone.localtime(now).strftime("%Y-%m"), by="city")
    timings["value_report_ms"] = round((time.monotonic() - began) * 1000, 1)
    return {
        "owners": owners,
        "merchants": merchants,
        "offers": merchants * offers_per_merchant,
        "cities": len(rows),
        **timings,
    }


def main() -> None:
    """Like scratch.run_benchmark, with the merchant and offer counts and this benchmark's own
    scratch database prefix."""
    parser = argparse.ArgumentParser()
    parser.add_argument("owners", nargs="?", type=int, default=500)
    parser.add_argument("--merchants", type=int, default=20)
    parser.add_argument("--offers", type=int, default=1, help="offers per merchant")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(workload(args.owners, args.merchants, args.offers)))
        return
    scratch = tempfile.mkdtemp(prefix="hufen-bench-")
    db_name = f"hufen_partners_bench_{uuid.uuid4().hex[:8]}"
    if args.postgres:
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", db_name], check=True)
        url = f"postgres://postgres@127.0.0.1:5432/{db_name}"
    else:
        url = f"sqlite:///{scratch}/bench.sqlite3"
    env = {**os.environ, "DATABASE_URL": url, "HUFEN_VAR_DIR": scratch, "DJANGO_SETTINGS_MODULE": "hufen.settings"}
    inner = [str(args.owners), "--merchants", str(args.merchants), "--offers", str(args.offers), "--inner"]
    try:
        done = subprocess.run(
            [sys.executable, __file__, *inner], env=env, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True
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
    out = ROOT / "benchmarks" / "results" / f"partners_perks_{result['database']}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

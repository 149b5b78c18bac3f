"""`hufen memberday schedule [--brand CODE] [--months N] [--json]`: make sure the coming Member Days
exist (by default the last day of each month, brand time). Idempotent: run it daily from the scheduler.

`hufen memberday award-pending [--batch N] [--every SECONDS] [--json]`: pay the pending check-ins now,
in batches (the scheduler does it every 5 seconds; `--every` keeps paying on its own timer where no
scheduler runs). Safe to run twice and next to the scheduler."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hufen.common.actors import SYSTEM
from hufen.common.errors import FieldError
from hufen.memberday.awards import memberday_award_pending
from hufen.memberday.services import memberday_schedule
from hufen.org.models import Brand


class Command(BaseCommand):
    help = "Member Day (会员日): schedule the coming occurrences."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        schedule = sub.add_parser("schedule", help="create the Member Days of this and the next months (idempotent)")
        schedule.add_argument("--brand", default="", help="a brand code; default: every brand")
        schedule.add_argument("--months", type=int, default=3, help="this month and the next N-1 (1-24)")
        schedule.add_argument("--json", action="store_true")
        award = sub.add_parser("award-pending", help="pay the pending check-ins' points now (batched)")
        award.add_argument("--batch", type=int, default=500, help="check-ins per ledger transaction (1-5000)")
        award.add_argument("--every", type=float, default=0, help="keep running: drain every N seconds (0.5-3600)")
        award.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "award-pending":
            self._award_pending(options)
            return
        brands = Brand.objects.order_by("code")
        if options["brand"]:
            brands = brands.filter(code=options["brand"])
            if not brands.exists():
                raise CommandError(f"--brand: no brand with code {options['brand']!r}")
        out: dict[str, list[str]] = {}
        for brand in brands:
            try:
                scheduled = memberday_schedule(actor=SYSTEM, brand=brand, months=options["months"])
            except FieldError as exc:
                raise CommandError(f"--{exc.field}: {exc.reason}") from exc
            out[brand.code] = [o.day.isoformat() for o in scheduled]
        if options["json"]:
            self.stdout.write(json.dumps(out))
            return
        for code, days in out.items():
            self.stdout.write(f"{code}: {', '.join(days)}")

    def _award_pending(self, options: dict[str, Any]) -> None:
        every = options["every"]
        if every and not 0.5 <= every <= 3600:
            raise CommandError("--every: 0.5 to 3600 seconds")
        while True:
            try:
                result = memberday_award_pending(actor=SYSTEM, batch=options["batch"])
            except FieldError as exc:
                raise CommandError(f"--{exc.field}: {exc.reason}") from exc
            if not every:
                break
            if result.checkins:
                self.stdout.write(json.dumps(result.as_dict()))
                self.stdout.flush()
            time.sleep(every)
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict()))
            return
        outcomes = ", ".join(f"{k} {v}" for k, v in result.as_dict()["outcomes"].items()) or "nothing pending"  # type: ignore[attr-defined]
        self.stdout.write(
            f"{result.checkins} check-ins in {result.batches} batches ({outcomes}), {result.points} points"
        )

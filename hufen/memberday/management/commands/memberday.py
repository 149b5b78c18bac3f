"""`hufen memberday schedule [--brand CODE] [--months N] [--json]`: make sure the coming Member Days
exist (by default the last day of each month, brand time). Idempotent: run it daily from the scheduler."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hufen.common.actors import SYSTEM
from hufen.common.errors import FieldError
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

    def handle(self, *args: Any, **options: Any) -> None:
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

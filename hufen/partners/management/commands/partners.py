"""`hufen partners operator-create --merchant ID --username U --name N` (a /merchant/ login),
`hufen partners key-create --merchant ID --name NAME` (a partner's own API key, printed once),
`hufen partners settlement --merchant ID --month YYYY-MM [--json]` and
`hufen partners value --month YYYY-MM [--by city|merchant|scenario] [--brand CODE] [--json]`."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hufen.common.actors import SYSTEM
from hufen.common.errors import FieldError, PermissionDenied
from hufen.org.models import Brand
from hufen.partners.coupons import coupon_settlement, partner_key_create
from hufen.partners.models import Merchant
from hufen.partners.reports import brand_monthly_value, value_report
from hufen.partners.services import merchant_operator_create


class Command(BaseCommand):
    help = "Territory Partners and cross-industry partners: partner keys, settlements, value reports."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        key = sub.add_parser("key-create", help="create a partner's own API key (hp_...); printed once")
        key.add_argument("--merchant", type=int, required=True)
        key.add_argument("--name", required=True)
        op = sub.add_parser(
            "operator-create", help="a merchant-page login for an active merchant; password printed once"
        )
        op.add_argument("--merchant", type=int, required=True)
        op.add_argument("--username", required=True)
        op.add_argument("--name", required=True)
        op.add_argument("--phone", default="")
        st = sub.add_parser("settlement", help="coupons redeemed at a partner in a month")
        st.add_argument("--merchant", type=int, required=True)
        st.add_argument("--month", required=True)
        st.add_argument("--json", action="store_true")
        val = sub.add_parser("value", help="value created for owners in a month")
        val.add_argument("--month", required=True)
        val.add_argument("--by", default="city", choices=["city", "merchant", "scenario"])
        val.add_argument("--brand", default="")
        val.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, "_" + options["action"].replace("-", "_"))(options)
        except (FieldError, PermissionDenied) as exc:
            raise CommandError(str(exc)) from exc

    def _merchant(self, merchant_id: int) -> Merchant:
        merchant = Merchant.objects.filter(pk=merchant_id).first()
        if merchant is None:
            raise CommandError(f"--merchant: merchant {merchant_id} does not exist")
        return merchant

    def _key_create(self, options: dict[str, Any]) -> None:
        key, token = partner_key_create(
            actor=SYSTEM, merchant=self._merchant(options["merchant"]), name=options["name"]
        )
        self.stdout.write(f"partner key {key.pk} for {key.merchant.name}: {token}")
        self.stdout.write("Store it now: it is not shown again.")

    def _operator_create(self, options: dict[str, Any]) -> None:
        password = secrets.token_urlsafe(12)
        staff = merchant_operator_create(
            actor=SYSTEM,
            merchant=self._merchant(options["merchant"]),
            username=options["username"],
            name=options["name"],
            password=password,
            phone=options["phone"],
        )
        self.stdout.write(f"merchant operator {staff.user.username} (log in at /merchant/login/): password {password}")
        self.stdout.write("Store it now: it is not shown again.")

    def _settlement(self, options: dict[str, Any]) -> None:
        s = coupon_settlement(actor=SYSTEM, merchant=self._merchant(options["merchant"]), month=options["month"])
        if options["json"]:
            self.stdout.write(json.dumps(asdict(s), ensure_ascii=False))
            return
        for line in s.lines:
            self.stdout.write(f"{line.title}\t{line.redeemed}\t{line.total_fen / 100:.2f}")
        self.stdout.write(f"total\t{s.redeemed}\t{s.total_fen / 100:.2f}")

    def _value(self, options: dict[str, Any]) -> None:
        brand = None
        if options["brand"]:
            brand = Brand.objects.filter(code=options["brand"]).first()
            if brand is None:
                raise CommandError(f"--brand: unknown brand {options['brand']!r}")
        rows = value_report(actor=SYSTEM, month=options["month"], by=options["by"], brand=brand)
        total = brand_monthly_value(actor=SYSTEM, brand=brand, month=options["month"]).value_fen if brand else None
        if options["json"]:
            out = [{**asdict(r), "value_fen": r.value_fen, "repeat_rate": r.repeat_rate} for r in rows]
            self.stdout.write(
                json.dumps({"month": options["month"], "brand_value_fen": total, "rows": out}, ensure_ascii=False)
            )
            return
        for r in rows:
            self.stdout.write(f"{r.key}\t{r.visits}\t{r.unique_owners}\t{r.value_fen / 100:.2f}")
        if total is not None:
            self.stdout.write(f"brand total\t{total / 100:.2f}")

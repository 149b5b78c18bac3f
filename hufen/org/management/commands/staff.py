"""`hufen staff create|list|deactivate`: manage console users and their roles from the shell.

The first HQ admin of a fresh installation is created here; later staff can be created the same way
or by import.
"""

from __future__ import annotations

import getpass
import json
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from hufen.common.actors import SYSTEM, Role
from hufen.common.audit import audit
from hufen.common.errors import FieldError
from hufen.org.models import Brand, Dealer, Region, Staff
from hufen.org.services import staff_create

STAFF_ROLES = [r.value for r in Role if r not in (Role.API_CLIENT, Role.SYSTEM)]


class Command(BaseCommand):
    help = "Create, list or deactivate staff (console users with a role and a data scope)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a staff user")
        create.add_argument("--username", required=True)
        create.add_argument("--name", required=True, help="display name, e.g. 王小伟")
        create.add_argument("--role", required=True, choices=STAFF_ROLES)
        create.add_argument("--region", default="", help="region code (region_manager)")
        create.add_argument("--dealer", default="", help="dealer code (dealer_manager, butler)")
        create.add_argument("--brand", action="append", default=[], help="brand code (repeatable)")
        create.add_argument("--phone", default="")
        create.add_argument(
            "--password-env", default="", help="read the password from this environment variable instead of a prompt"
        )
        listing = sub.add_parser("list", help="list staff")
        listing.add_argument("--role", choices=STAFF_ROLES)
        listing.add_argument("--dealer", default="")
        listing.add_argument("--json", action="store_true")
        deactivate = sub.add_parser("deactivate", help="deactivate a staff user (keeps history)")
        deactivate.add_argument("username")

    def handle(self, *args: Any, **opts: Any) -> None:
        getattr(self, f"_{opts['action']}")(opts)

    def _create(self, opts: dict[str, Any]) -> None:
        region = _lookup(Region, "--region", opts["region"])
        dealer = _lookup(Dealer, "--dealer", opts["dealer"])
        brands = [_lookup(Brand, "--brand", code) for code in opts["brand"]]
        if opts["password_env"]:
            password = os.environ.get(opts["password_env"], "")
            if not password:
                raise CommandError(f"--password-env: environment variable {opts['password_env']} is empty or unset")
        else:
            password = getpass.getpass("password: ")
        if len(password) < 8:
            raise CommandError("password: must be at least 8 characters")
        try:
            staff = staff_create(
                actor=SYSTEM,
                username=opts["username"],
                password=password,
                name=opts["name"],
                role=Role(opts["role"]),
                phone=opts["phone"],
                region=region,
                dealer=dealer,
                brands=[b for b in brands if b is not None],
            )
        except FieldError as exc:
            raise CommandError(f"--{exc.field}: {exc.reason}") from exc
        self.stdout.write(self.style.SUCCESS(f"created {staff.user.username} ({staff.role})"))

    def _list(self, opts: dict[str, Any]) -> None:
        qs = Staff.objects.select_related("user", "dealer", "region").order_by("id")
        if opts["role"]:
            qs = qs.filter(role=opts["role"])
        if opts["dealer"]:
            qs = qs.filter(dealer__code=opts["dealer"])
        rows = [
            {
                "username": s.user.username,
                "name": s.name,
                "role": s.role,
                "region": s.region.code if s.region else None,
                "dealer": s.dealer.code if s.dealer else None,
                "active": s.is_active,
            }
            for s in qs
        ]
        if opts["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False))
            return
        for r in rows:
            self.stdout.write(
                f"{r['username']:<20} {r['role']:<18} {r['region'] or '':<10} {r['dealer'] or '':<10} "
                f"{'' if r['active'] else '(inactive) '}{r['name']}"
            )

    @transaction.atomic
    def _deactivate(self, opts: dict[str, Any]) -> None:
        staff = Staff.objects.select_related("user").filter(user__username=opts["username"]).first()
        if staff is None:
            raise CommandError(f"username: {opts['username']!r} is not a staff user")
        staff.is_active = False
        staff.save(update_fields=["is_active"])
        staff.user.is_active = False
        staff.user.save(update_fields=["is_active"])
        audit(actor=SYSTEM, action="staff.deactivate", obj_type="staff", obj_id=staff.pk)
        self.stdout.write(f"deactivated {opts['username']}")


def _lookup(model: Any, flag: str, code: str) -> Any:
    if not code:
        return None
    obj = model.objects.filter(code=code).first()
    if obj is None:
        raise CommandError(f"{flag}: no {model._meta.verbose_name} with code {code!r}")
    return obj

"""`hufen points verify` (reconcile every account) and `hufen points expire [--as-of DATE]`."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hufen.common.actors import SYSTEM
from hufen.membership.ledger import points_expire_due
from hufen.membership.management.commands.members import parse_as_of
from hufen.membership.selectors import ledger_verify


class Command(BaseCommand):
    help = "Points ledger: reconcile and expire."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        ver = sub.add_parser("verify", help="reconcile every account; exit 1 on any discrepancy")
        ver.add_argument("--json", action="store_true")
        exp = sub.add_parser("expire", help="write expiry entries for lots past their date (idempotent)")
        exp.add_argument("--as-of", dest="as_of", default=None, help="YYYY-MM-DD (start of day, Asia/Shanghai)")
        exp.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "verify":
            self._verify(options["json"])
            return
        try:
            as_of = parse_as_of(options["as_of"])
        except argparse.ArgumentTypeError as exc:
            raise CommandError(f"--as-of: {exc}") from exc
        entries = points_expire_due(actor=SYSTEM, as_of=as_of)
        expired = -sum(e.amount for e in entries)
        if options["json"]:
            self.stdout.write(json.dumps({"accounts": len(entries), "points": expired, "as_of": as_of.isoformat()}))
        else:
            self.stdout.write(f"expired {expired} points in {len(entries)} accounts as of {as_of.isoformat()}")

    def _verify(self, as_json: bool) -> None:
        found = ledger_verify()
        if as_json:
            self.stdout.write(json.dumps({"ok": not found, "discrepancies": [asdict(d) for d in found]}, default=str))
        else:
            for d in found:
                self.stdout.write(
                    f"{d.check}: {d.row} (account {d.account_id}): expected {d.expected}, found {d.found}"
                )
            self.stdout.write("ledger consistent" if not found else f"{len(found)} discrepancies")
        if found:
            sys.exit(1)

"""`hufen points verify` (reconcile every account), `hufen points expire [--as-of DATE]` and
`hufen points earn [--since WHEN] [--json] [--every SECONDS]` (apply the earning rules)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import time
from dataclasses import asdict
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hufen.common.actors import SYSTEM
from hufen.membership.earning import points_earn
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
        earn = sub.add_parser("earn", help="apply the earning rules to events received since the watermark")
        earn.add_argument(
            "--since", default=None, help="re-judge from YYYY-MM-DD (Asia/Shanghai) or an ISO date-time with offset"
        )
        earn.add_argument("--json", action="store_true")
        earn.add_argument("--every", type=float, default=None, help="loop: run every N seconds until stopped")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "verify":
            self._verify(options["json"])
            return
        if options["action"] == "earn":
            self._earn(options)
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

    def _earn(self, options: dict[str, Any]) -> None:
        since = parse_since(options["since"]) if options["since"] else None
        stop = False

        def _stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stop
            stop = True

        if options["every"]:
            signal.signal(signal.SIGTERM, _stop)
            signal.signal(signal.SIGINT, _stop)
        while True:
            result = points_earn(actor=SYSTEM, since=since).as_dict()
            if options["json"]:
                self.stdout.write(json.dumps(result, ensure_ascii=False))
            else:
                outcomes = ", ".join(f"{k} {v}" for k, v in result["outcomes"].items()) or "no decisions"
                self.stdout.write(
                    f"judged {result['events']} events since {result['since']}: {outcomes}; "
                    f"{result['points']} points awarded ({result['seconds']} s)"
                )
            if not options["every"] or stop:
                return
            since = None  # later rounds continue from the watermark
            deadline = time.monotonic() + options["every"]
            while not stop and time.monotonic() < deadline:
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            if stop:
                return


def parse_since(raw: str) -> dt.datetime:
    """A date (start of day, Asia/Shanghai) or an ISO date-time with an offset."""
    try:
        if len(raw) == 10:
            return parse_as_of(raw)
        value = dt.datetime.fromisoformat(raw)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise CommandError(f"--since: {raw!r} is not a date (YYYY-MM-DD) or an ISO date-time") from exc
    if value.tzinfo is None:
        raise CommandError(f"--since: {raw!r} needs a time zone offset, e.g. +08:00")
    return value.astimezone(dt.UTC)

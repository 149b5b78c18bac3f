"""`hufen idempotency purge [--days 7] [--json]`: forget stored responses past the retention window."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hufen.api.idempotency import RETENTION_DAYS, idempotency_purge
from hufen.common.pii import FieldError


class Command(BaseCommand):
    help = "Idempotency-Key records: purge those older than the retention window."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        purge = sub.add_parser("purge", help=f"delete records older than --days (default {RETENTION_DAYS})")
        purge.add_argument("--days", type=int, default=RETENTION_DAYS)
        purge.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            deleted = idempotency_purge(older_than_days=options["days"])
        except FieldError as exc:
            raise CommandError(f"--days: {exc.reason}") from exc
        if options["json"]:
            self.stdout.write(json.dumps({"deleted": deleted, "days": options["days"]}))
        else:
            self.stdout.write(f"purged {deleted} idempotency records older than {options['days']} days")

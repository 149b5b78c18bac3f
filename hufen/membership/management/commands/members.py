"""`hufen members import FILE.csv [--skip-bad-rows]` and `hufen members review-tiers [--as-of DATE]`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from hufen.common.actors import SYSTEM
from hufen.membership.importer import members_import
from hufen.membership.services import members_review_tiers


def parse_as_of(raw: str | None) -> dt.datetime:
    """A date means its start in Asia/Shanghai (the group's business day); default: now."""
    if raw is None:
        return timezone.now()
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a date (YYYY-MM-DD)") from exc
    import zoneinfo

    return dt.datetime.combine(day, dt.time(), tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai")).astimezone(dt.UTC)


class Command(BaseCommand):
    help = "Membership: bulk import and the tier review."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="enrol persons from a CSV (brand, person_id or phone, channel)")
        imp.add_argument("file", type=Path)
        imp.add_argument("--skip-bad-rows", action="store_true", help="apply the good rows of a file with bad ones")
        imp.add_argument("--json", action="store_true")
        rev = sub.add_parser("review-tiers", help="downgrade/upgrade tiers by the qualifying period (idempotent)")
        rev.add_argument("--as-of", dest="as_of", default=None, help="review date YYYY-MM-DD (default: now)")
        rev.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "import":
            self._import(options)
        else:
            try:
                as_of = parse_as_of(options["as_of"])
            except argparse.ArgumentTypeError as exc:
                raise CommandError(f"--as-of: {exc}") from exc
            result = members_review_tiers(actor=SYSTEM, as_of=as_of)
            if options["json"]:
                self.stdout.write(json.dumps(asdict(result)))
            else:
                self.stdout.write(
                    f"reviewed {result.reviewed} members: {result.downgraded} downgraded, {result.upgraded} upgraded"
                )

    def _import(self, options: dict[str, Any]) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        result = members_import(actor=SYSTEM, path=path, skip_bad_rows=options["skip_bad_rows"])
        applied = result.joined + result.already_members
        if options["json"]:
            self.stdout.write(json.dumps(asdict(result), ensure_ascii=False))
        else:
            for e in result.errors:
                self.stderr.write(f"row {e.row}, column {e.column}: {e.reason}")
            self.stdout.write(
                f"joined {result.joined}, already members {result.already_members}, skipped rows {result.skipped}"
            )
        if result.errors and not applied and not options["skip_bad_rows"]:
            raise CommandError(
                f"{len(result.errors)} bad rows; nothing imported (use --skip-bad-rows to apply the rest)"
            )

"""`hufen identity resolve INPUT.csv --output OUT.csv [--config FILE] [--review REVIEW.csv] [--json]`.

Batch resolution needs no database: no system checks, no ORM, so it runs on a laptop with nothing
but the file (and with DATABASE_URL pointing at a server that is down).

The online side works on the database: `ingest FILE --source dms` links a file's rows through the
same path as the API, `rebuild` re-resolves every stored record keeping person IDs stable, and
`train` estimates the Fellegi–Sunter weights that online linking scores with.
"""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console

from hufen.identity.batch import InputError, resolve_file
from hufen.identity.schema import DEFAULT_SCHEMA, ConfigError, load_schema


class Command(BaseCommand):
    help = "ONE ID identity resolution (resolve: file to file, no database)."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=ArgumentParser)
        resolve = sub.add_parser("resolve", help="link the records of a CSV file into persons")
        resolve.add_argument("input", type=Path, help="CSV with a record_id column (UTF-8, UTF-8 BOM or GB18030)")
        resolve.add_argument("--output", required=True, type=Path, help="CSV: record_id,person_id,score")
        resolve.add_argument("--config", type=Path, help="TOML: column kinds and thresholds")
        resolve.add_argument("--review", type=Path, help="CSV of gray-zone pairs with per-field evidence")
        resolve.add_argument("--encoding", help="input encoding, e.g. gbk (default: detect UTF-8 / GB18030)")
        resolve.add_argument("--no-score", action="store_true", help="write record_id,person_id only")
        resolve.add_argument("--json", action="store_true", dest="as_json", help="print a JSON summary")
        resolve.add_argument("--no-progress", action="store_true", help="no progress display")

        ingest = sub.add_parser("ingest", help="link a CSV's records into the database (as the API does)")
        ingest.add_argument("file", type=Path, help="CSV with record_id (the source key) and the record fields")
        ingest.add_argument("--source", required=True, help="source system, e.g. dms, app, wechat, leads")
        ingest.add_argument("--skip-bad-rows", action="store_true", help="link the good rows of a file with bad ones")
        ingest.add_argument("--encoding", help="input encoding, e.g. gbk (default: detect UTF-8 / GB18030)")
        ingest.add_argument("--json", action="store_true", dest="as_json", help="print a JSON summary")
        ingest.add_argument("--no-progress", action="store_true", help="no progress bar")
        rebuild = sub.add_parser("rebuild", help="re-resolve every source record; person IDs stay stable")
        rebuild.add_argument("--json", action="store_true", dest="as_json", help="print a JSON summary")
        rebuild.add_argument("--no-progress", action="store_true", help="no progress display")
        train = sub.add_parser("train", help="estimate the model weights online linking scores with")
        train.add_argument("file", nargs="?", type=Path, help="CSV to train on (default: the stored records)")
        train.add_argument("--synthetic", type=int, default=0, help="train on N generated records instead")
        train.add_argument("--output", type=Path, help="write the weights to this JSON file, not the database")
        train.add_argument("--json", action="store_true", dest="as_json", help="print a JSON summary")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "resolve":
            self._resolve(**options)
        else:
            from hufen.identity.management import online

            getattr(online, action)(self, **options)

    def _resolve(
        self,
        *,
        input: Path,
        output: Path,
        config: Path | None,
        review: Path | None,
        encoding: str | None,
        no_score: bool,
        as_json: bool,
        no_progress: bool,
        **_: Any,
    ) -> None:
        for target in (output, review):
            if target is not None and not target.parent.resolve().is_dir():
                raise CommandError(f"{target}: directory {target.parent} does not exist")
        try:
            schema = load_schema(config) if config else DEFAULT_SCHEMA
        except ConfigError as exc:
            raise CommandError(f"config {exc}") from exc
        console = Console(stderr=True)
        show = not (no_progress or as_json) and sys.stderr.isatty()
        try:
            if show:
                with console.status("resolving") as status:
                    result = resolve_file(
                        input,
                        output,
                        schema=schema,
                        review_path=review,
                        with_score=not no_score,
                        encoding=encoding,
                        progress=lambda stage: status.update(f"resolving: {stage}"),
                    )
            else:
                result = resolve_file(
                    input, output, schema=schema, review_path=review, with_score=not no_score, encoding=encoding
                )
        except ConfigError as exc:
            raise CommandError(f"input {exc}") from exc
        except InputError as exc:
            raise CommandError(str(exc)) from exc
        except ValueError as exc:  # e.g. a config with nothing to block on
            raise CommandError(str(exc)) from exc
        stats = result.stats
        if as_json:
            self.stdout.write(json.dumps(stats))
        else:
            self.stdout.write(
                f"{stats['records']} records → {stats['persons']} persons "
                f"({stats['merged_pairs']} model merges, {stats['review_pairs']} pairs to review) "
                f"in {stats['seconds']} s; wrote {output}"
            )

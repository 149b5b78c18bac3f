"""`hufen demo [--persons N] [--seed S]`: generate (or top up) the demo dataset."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from hufen.common.pii import FieldError
from hufen.demo.generate import DEFAULT_PERSONS, DEFAULT_SEED, DemoResult, check_persons, check_seed, generate_demo
from hufen.demo.logins import CONSOLE_URL, DEMO_PASSWORD, PORTAL_LOGIN, demo_logins, render_logins


def _argument(check: Callable[[object], int]) -> Callable[[str], int]:
    """Turn a FieldError into argparse's message: `argument --persons: must be at least 1, got -5`."""

    def parse(text: str) -> int:
        try:
            return check(text)
        except FieldError as exc:
            raise argparse.ArgumentTypeError(exc.reason) from exc

    return parse


class Command(BaseCommand):
    help = (
        "Generate the demo dataset: 2 brands, 6 regions, 60 dealers, ~300 staff with one login per role, "
        "and N persons with households, cars, ownership history, service visits and butlers. "
        "Safe to run again: nothing is duplicated; a larger --persons adds the difference."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--persons",
            type=_argument(check_persons),
            default=DEFAULT_PERSONS,
            help=f"persons in the dataset, 1 to 20,000,000 (default {DEFAULT_PERSONS:,})",
        )
        parser.add_argument(
            "--seed",
            type=_argument(check_seed),
            default=DEFAULT_SEED,
            help=f"random seed; the same seed gives the same data (default {DEFAULT_SEED})",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--no-logins", action="store_true", help="don't print the logins table (`hufen serve` prints it)"
        )
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help="print one JSON object (counts, logins) and nothing else",
        )

    def handle(
        self, *args: Any, persons: int, seed: int, no_progress: bool, as_json: bool, no_logins: bool, **options: Any
    ) -> None:
        self._migrate(quiet=as_json)
        # The bar goes to stderr, so stdout stays clean for the report or the JSON.
        show = not (no_progress or as_json) and sys.stderr.isatty()
        progress = Progress(
            TextColumn("[bold]demo[/] persons"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not show,
            transient=True,
        )
        task = progress.add_task("persons", total=None)
        with progress:
            try:
                result = generate_demo(
                    persons=persons,
                    seed=seed,
                    on_start=lambda n: progress.update(task, total=n),
                    on_progress=lambda k: progress.advance(task, k),
                )
            except FieldError as exc:
                raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(json.dumps(self._summary(result), ensure_ascii=False))
        else:
            self._report(result, logins=not no_logins)

    def _migrate(self, quiet: bool) -> None:
        """A fresh checkout has an empty database: bring it up to date first."""
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            if not quiet:
                self.stderr.write("Applying migrations first …")
            call_command("migrate", interactive=False, verbosity=0)

    def _summary(self, result: DemoResult) -> dict[str, Any]:
        return {
            "persons": result.persons_present,
            "persons_requested": result.persons_requested,
            "persons_added": result.persons_added,
            "seed": result.seed,
            "seconds": result.seconds,
            "created": result.created,
            "loyalty": result.loyalty,
            "rows": result.rows,
            "events": result.events,
            "url": CONSOLE_URL,
            "logins": [login.as_dict() for login in demo_logins()],
            "portal": PORTAL_LOGIN.as_dict(),
        }

    def _report(self, result: DemoResult, *, logins: bool) -> None:
        if result.persons_added:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo dataset ready: {result.persons_present:,} persons "
                    f"({result.persons_added:,} added, seed {result.seed}) in {result.seconds:.1f} s."
                )
            )
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"The demo dataset already exists with {result.persons_present:,} persons "
                    f"(asked for {result.persons_requested:,}): nothing was added. "
                    "For a different dataset, use a fresh database (DATABASE_URL or a new var/ folder)."
                )
            )
        self.stdout.write("  " + " · ".join(f"{name.replace('_', ' ')} {n:,}" for name, n in result.rows.items()))
        if result.events:
            self.stdout.write(
                f"  lake events {int(result.events['lake_events']):,} in {int(result.events['partitions']):,} "
                f"daily files ({result.events['seconds']:.1f} s)"
            )
        self.stdout.write("")
        self.stdout.write(f"Console: {CONSOLE_URL}   (every demo login's password: {DEMO_PASSWORD})")
        if logins:
            self.stdout.write(render_logins(), ending="")

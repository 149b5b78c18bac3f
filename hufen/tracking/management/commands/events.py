"""`hufen events import|flush|compact|ship-outbox|run-scheduler`: the ONE DATA pipeline's jobs.

`import` checks the whole file first and writes nothing if any row is bad, unless `--skip-bad-rows`
(then the bad rows go to the dead-letter store and the rest is written). Exit status: 0 all good,
1 rows rejected (nothing written without `--skip-bad-rows`), 2 bad arguments.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from hufen.common.actors import SYSTEM
from hufen.tracking.bulk import BulkChecker, dedupe_first, payload_of
from hufen.tracking.catalogue import catalogue_load
from hufen.tracking.importer import file_format, read_chunks
from hufen.tracking.models import RejectedEvent
from hufen.tracking.services import lake_import_table, outbox_ship, pending_flush
from hufen.tracking.tasks import tracking_compact, tracking_flush
from hufen.tracking.validation import Problem

CHECK_CHUNK = 50_000
MAX_LISTED_ERRORS = 100
CLI_ACTOR = replace(SYSTEM, label="system:events-import")


def _row_estimate(path: Path, fmt: str) -> int | None:
    """The progress bar's total: exact for Parquet (footer), unknown for text files."""
    return pq.ParquetFile(path).metadata.num_rows if fmt == "parquet" else None


class Command(BaseCommand):
    help = "Import events, flush and compact the Parquet lake, ship the outbox, run the scheduler."
    # Jobs run often and from cron: skip the URL and model checks (seconds of imports) at each start.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="import a JSONL, CSV or Parquet file of events")
        imp.add_argument("file")
        imp.add_argument("--format", choices=["jsonl", "csv", "parquet"], help="default: from the file suffix")
        imp.add_argument("--skip-bad-rows", action="store_true", help="write the good rows even if some are bad")
        imp.add_argument("--json", action="store_true", help="print the summary as JSON")
        imp.add_argument("--no-progress", action="store_true")
        for name, text in [
            ("flush", "move acknowledged events from the write-ahead store into the lake"),
            ("compact", "ship the outbox, flush, and merge each date's small Parquet files into one"),
            ("ship-outbox", "move the platform's DomainEvents into the write-ahead store"),
        ]:
            sub.add_parser(name, help=text).add_argument("--json", action="store_true")
        sched = sub.add_parser(
            "run-scheduler", help="(legacy loop; prefer `hufen scheduler run`) flush and compact on a timer"
        )
        sched.add_argument("--flush-every", type=float, default=60.0)
        sched.add_argument("--compact-every", type=float, default=3600.0)
        sched.add_argument("--once", action="store_true", help="run each job once and exit")

    def handle(self, *args: Any, **opts: Any) -> None:
        action = opts["action"]
        if action == "import":
            self._import(opts)
            return
        if action == "run-scheduler":
            self._scheduler(opts)
            return
        jobs: dict[str, Callable[[], dict[str, Any]]] = {
            "flush": pending_flush,
            "compact": tracking_compact,
            "ship-outbox": lambda: {"shipped": outbox_ship()},
        }
        result = jobs[action]()
        self._print(result, opts["json"])

    def _print(self, result: dict[str, Any], as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(result, ensure_ascii=False))
        else:
            self.stdout.write(", ".join(f"{k}: {v}" for k, v in result.items()))

    def _import(self, opts: dict[str, Any]) -> None:
        path = Path(opts["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            fmt = file_format(path, opts["format"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        started = time.perf_counter()
        errors: list[dict[str, Any]] = []
        rejected_raw: list[tuple[int, Any, Problem]] = []
        clean: list[pa.Table] = []
        rows = 0
        checker = BulkChecker(CLI_ACTOR, catalogue_load(), timezone.now())
        try:
            with Progress(
                TextColumn("[bold]checking"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                disable=opts["no_progress"] or opts["json"], transient=True,
            ) as progress:  # fmt: skip
                task = progress.add_task("check", total=_row_estimate(path, fmt))
                for chunk in read_chunks(path, fmt):
                    checked = checker.check(chunk)
                    rows += chunk.table.num_rows + len(chunk.problems)
                    clean.append(checked.clean)
                    for number, problem, raw in checked.rejected:
                        errors.append({"row": number, "field": problem.field, "reason": problem.reason})
                        rejected_raw.append((number, raw, problem))
                    progress.advance(task, chunk.table.num_rows + len(chunk.problems))
        except (UnicodeDecodeError, pa.ArrowInvalid) as exc:  # not UTF-8 text, or not a Parquet file
            raise CommandError(f"{path}: cannot read it as {fmt} ({str(exc).splitlines()[0][:200]})") from None
        finally:
            checker.close()
        accepted, in_file_dupes = dedupe_first(clean)
        applied = not errors or opts["skip_bad_rows"]
        written = {"written": 0, "duplicates": 0}
        if applied:
            written = lake_import_table(table=accepted)
            self._dead_letters(rejected_raw)
        summary = {
            "file": str(path),
            "format": fmt,
            "rows": rows,
            "applied": applied,
            "accepted": written["written"],
            "duplicates": in_file_dupes + written["duplicates"],
            "rejected": len(errors),
            "reasons": dict(Counter(f"{e['field']}: {e['reason']}" for e in errors).most_common(20)),
            "errors": errors[:MAX_LISTED_ERRORS],
            "seconds": round(time.perf_counter() - started, 3),
        }
        self._print_import(summary, opts["json"])
        if errors:
            raise SystemExit(1)

    def _dead_letters(self, rejected: list[tuple[int, Any, Problem]]) -> None:
        now = timezone.now()
        RejectedEvent.objects.bulk_create(
            [
                RejectedEvent(
                    received_at=now,
                    source="import",
                    actor_label=CLI_ACTOR.label,
                    batch_index=number,
                    event_id=str(raw.get("event_id", ""))[:200] if isinstance(raw, dict) else "",
                    field=problem.field[:80],
                    reason=problem.reason[:300],
                    payload=payload_of(raw),
                )
                for number, raw, problem in rejected
            ],
            batch_size=5000,
        )

    def _print_import(self, summary: dict[str, Any], as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(summary, ensure_ascii=False))
            return
        self.stdout.write(
            f"{summary['file']}: {summary['rows']} rows, {summary['accepted']} accepted, "
            f"{summary['duplicates']} duplicate, {summary['rejected']} rejected ({summary['seconds']} s)"
        )
        for error in summary["errors"]:
            self.stdout.write(f"  row {error['row']}: {error['field']}: {error['reason']}")
        if not summary["applied"]:
            self.stdout.write("nothing was written (fix the rows or pass --skip-bad-rows)")

    def _scheduler(self, opts: dict[str, Any]) -> None:
        stop = False

        def _stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        next_flush = next_compact = 0.0
        while not stop:
            now = time.monotonic()
            if now >= next_compact:
                self._print({"job": "compact", **tracking_compact()}, True)
                next_compact = now + opts["compact_every"]
                next_flush = now + opts["flush_every"]
            elif now >= next_flush:
                self._print({"job": "flush", **tracking_flush()}, True)
                next_flush = now + opts["flush_every"]
            if opts["once"]:
                break
            time.sleep(min(1.0, max(0.0, min(next_flush, next_compact) - time.monotonic())))

"""The database-side `hufen identity` actions: ingest, rebuild, train (see the command's docstring)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from hufen.common.actors import SYSTEM
from hufen.identity.batch import InputError


def _check_database(command: BaseCommand) -> None:
    # `resolve` skips Django's checks so it runs without a database; these actions need one.
    command.check(databases=["default"])
    command.check_migrations()


def ingest(
    command: BaseCommand,
    *,
    file: Path,
    source: str,
    skip_bad_rows: bool,
    encoding: str | None,
    as_json: bool,
    no_progress: bool,
    **_: Any,
) -> None:
    from hufen.identity.ingest import identity_ingest

    _check_database(command)
    if not file.is_file():
        raise CommandError(f"{file}: no such file")
    with Progress(
        TextColumn("[bold]linking"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        disable=no_progress or as_json, transient=True, console=Console(stderr=True),
    ) as progress:  # fmt: skip
        task = progress.add_task("link", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            summary = identity_ingest(
                actor=SYSTEM, path=file, source=source, skip_bad_rows=skip_bad_rows, encoding=encoding, progress=advance
            )
        except InputError as exc:
            raise CommandError(str(exc)) from exc
    data = summary.as_dict()
    if as_json:
        command.stdout.write(json.dumps(data, ensure_ascii=False))
    else:
        state = "linked" if summary.applied else "REJECTED, nothing written (use --skip-bad-rows to link the good rows)"
        command.stdout.write(
            f"{summary.rows} rows from {file} ({source}): {state}; decisions {summary.decisions or {}}, "
            f"{summary.unchanged} unchanged, {summary.updated} updated, {summary.persons_created} new persons, "
            f"{summary.rejected} bad rows, {summary.seconds} s"
        )
        for error in summary.errors:
            command.stderr.write(f"row {error['row']}, {error['field'] or 'row'}: {error['reason']}")
    if summary.rejected:
        raise SystemExit(1)


def rebuild(command: BaseCommand, *, as_json: bool, no_progress: bool, **_: Any) -> None:
    from hufen.identity.rebuild import identity_rebuild

    _check_database(command)
    console = Console(stderr=True)
    show = not (no_progress or as_json) and sys.stderr.isatty()
    try:
        if show:
            with console.status("rebuilding") as status:
                summary = identity_rebuild(actor=SYSTEM, note=lambda stage: status.update(f"rebuilding: {stage}"))
        else:
            summary = identity_rebuild(actor=SYSTEM)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if as_json:
        command.stdout.write(json.dumps(summary.as_dict()))
    else:
        command.stdout.write(
            f"{summary.records} records: {summary.persons_before} → {summary.persons_after} persons, "
            f"{summary.records_moved} records moved, {summary.merges} merges, {summary.new_persons} new persons, "
            f"{summary.review_pairs} new pairs to review; model #{summary.model_id}; {summary.seconds} s"
        )


def train(
    command: BaseCommand, *, file: Path | None, synthetic: int, output: Path | None, as_json: bool, **_: Any
) -> None:
    from hufen.identity.batch import read_records
    from hufen.identity.linking import ONLINE_SCHEMA
    from hufen.identity.matching import resolve
    from hufen.identity.schema import DEFAULT_SCHEMA

    if file is not None and synthetic:
        raise CommandError("give a FILE or --synthetic N, not both")
    if file is not None:
        try:
            records = read_records(file, DEFAULT_SCHEMA)
        except InputError as exc:
            raise CommandError(str(exc)) from exc
        source, count = str(file), len(records)
        result = resolve(records, ONLINE_SCHEMA)
    elif synthetic:
        from hufen.identity.synthetic import generate

        records = [r for r, _ in generate(synthetic, seed=2026)]
        source, count = f"{synthetic} synthetic records", len(records)
        result = resolve(records, ONLINE_SCHEMA)
    else:
        from hufen.identity.rebuild import batch_resolve, load_rows

        _check_database(command)
        rows, _pks, _persons = load_rows()
        if not rows:
            raise CommandError("there are no source records to train on: give a FILE or --synthetic N")
        source, count = f"{len(rows)} stored records", len(rows)
        result = batch_resolve(rows, lambda stage: None)
    summary: dict[str, Any] = {"trained_on": source, "records": count, "prior": result.parameters["prior"]}
    if output is not None:
        output.write_text(json.dumps(result.parameters, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        summary["written"] = str(output)
    else:
        from hufen.identity.services import identity_model_store

        _check_database(command)
        stored = identity_model_store(actor=SYSTEM, parameters=result.parameters, trained_on=source, records=count)
        summary["model_id"] = stored.pk
    command.stdout.write(json.dumps(summary, ensure_ascii=False) if as_json else str(summary))

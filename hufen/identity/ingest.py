"""`hufen identity ingest FILE --source dms`: a file through the online linking path.

Every row is checked first; a file with a bad row writes nothing unless `skip_bad_rows`, and then
only the good rows are linked. The `record_id` column is the source key, so ingesting the same file
twice changes nothing (each row is an unchanged resend).
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hufen.common.actors import Actor
from hufen.common.pii import FieldError
from hufen.identity.batch import InputError, decode
from hufen.identity.linking import FIELDS
from hufen.identity.services import RecordInput, identity_link_one, record_clean

MAX_LISTED_ERRORS = 50


@dataclass
class IngestSummary:
    file: str
    source: str
    rows: int = 0
    applied: bool = False
    rejected: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    updated: int = 0
    persons_created: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def read_rows(path: Path, encoding: str | None) -> tuple[list[tuple[int, dict[str, str]]], list[dict[str, Any]]]:
    """(line, fields) per good row, and the errors of the bad ones; a file-level problem raises."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc
    text = decode(data, encoding)
    if not text.strip():
        raise InputError(f"{path}: the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader)]
    if "record_id" not in header:
        raise InputError(f"{path}: column record_id missing from the header ({', '.join(header)})")
    known = [h for h in header if h in FIELDS]
    good: list[tuple[int, dict[str, str]]] = []
    errors: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            errors.append({"row": line, "field": "", "reason": f"{len(values)} fields, the header has {len(header)}"})
            continue
        row = dict(zip(header, values, strict=True))
        rid = row["record_id"].strip()
        if not rid:
            errors.append({"row": line, "field": "record_id", "reason": "is empty"})
            continue
        if rid in seen:
            errors.append(
                {"row": line, "field": "record_id", "reason": f"duplicate {rid!r} (first on row {seen[rid]})"}
            )
            continue
        seen[rid] = line
        good.append((line, {"record_id": rid, **{k: row[k] for k in known}}))
    return good, errors


def identity_ingest(
    *,
    actor: Actor,
    path: Path,
    source: str,
    skip_bad_rows: bool = False,
    encoding: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IngestSummary:
    started = time.perf_counter()
    summary = IngestSummary(file=str(path), source=source)
    rows, errors = read_rows(path, encoding)
    records: list[RecordInput] = []
    for line, row in rows:
        rid = row.pop("record_id")
        record = RecordInput(source=source, source_key=rid, fields=row)
        try:
            record_clean(record)
        except FieldError as exc:
            errors.append({"row": line, "field": exc.field, "reason": exc.reason})
            continue
        records.append(record)
    summary.rows = len(rows) + sum(1 for e in errors if e["field"] in {"", "record_id"})
    summary.rejected = len(errors)
    summary.errors = sorted(errors, key=lambda e: e["row"])[:MAX_LISTED_ERRORS]
    if errors and not skip_bad_rows:
        summary.seconds = round(time.perf_counter() - started, 3)
        return summary
    summary.applied = True
    decisions: Counter[str] = Counter()
    for done, record in enumerate(records, start=1):
        result = identity_link_one(actor=actor, record=record)
        if result.replayed:
            summary.unchanged += 1
        else:
            decisions[result.decision] += 1
            summary.updated += 0 if result.created else 1
            summary.persons_created += result.decision in {"new", "review"}
        if progress is not None:
            progress(done, len(records))
    summary.decisions = dict(decisions)
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary

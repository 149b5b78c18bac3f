"""File-to-file resolution: read and check a CSV, resolve, write results atomically.

A rejected file writes nothing: the output goes to a temporary file beside the target and is
renamed only when everything succeeded.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hufen.identity.matching import Progress, Resolution, resolve
from hufen.identity.schema import DEFAULT_SCHEMA, Schema, check_columns


class InputError(ValueError):
    """A rejected input file; the message names the row or column and the reason."""


def decode(data: bytes, encoding: str | None = None) -> str:
    """UTF-8 (with or without BOM) first; GB18030 (a superset of GBK) for Chinese DMS exports."""
    if encoding:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise InputError(f"input: cannot be decoded as {encoding} ({exc})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as utf8_error:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            raise InputError(f"input: not UTF-8 (byte {utf8_error.start}) nor GB18030; pass --encoding") from utf8_error


def read_records(path: Path, schema: Schema, *, encoding: str | None = None) -> list[dict[str, str]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc
    text = decode(data, encoding)
    if not text.strip():
        raise InputError(f"{path}: the file is empty")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    check_columns(schema, header, strict=schema is not DEFAULT_SCHEMA)
    records: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        if None in row:
            raise InputError(f"row {line}: more fields than the header has columns")
        if any(value is None for value in row.values()):
            raise InputError(f"row {line}: fewer fields than the header has columns")
        rid = (row.get(schema.record_id) or "").strip()
        if not rid:
            raise InputError(f"row {line}, column {schema.record_id}: is empty")
        if rid in seen:
            raise InputError(f"row {line}, column {schema.record_id}: duplicate {rid!r} (first on row {seen[rid]})")
        seen[rid] = line
        row[schema.record_id] = rid
        records.append(row)
    if not records:
        raise InputError(f"{path}: no records after the header")
    return records


def _write_atomic(path: Path, write: Callable[[Any], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resolve_file(
    input_path: Path,
    output_path: Path,
    *,
    schema: Schema = DEFAULT_SCHEMA,
    review_path: Path | None = None,
    with_score: bool = True,
    encoding: str | None = None,
    progress: Progress | None = None,
) -> Resolution:
    records = read_records(input_path, schema, encoding=encoding)
    result = resolve(records, schema, progress=progress)

    def write_output(handle: Any) -> None:
        writer = csv.writer(handle)
        writer.writerow(["record_id", "person_id", "score"] if with_score else ["record_id", "person_id"])
        for rid, pid, score in zip(result.record_ids, result.person_ids, result.scores, strict=True):
            writer.writerow([rid, pid, "" if score is None else f"{score:.6f}"] if with_score else [rid, pid])

    def write_review(handle: Any) -> None:
        import json

        writer = csv.writer(handle)
        writer.writerow(["record_id_l", "record_id_r", "match_probability", "match_weight", "refused", "evidence"])
        for pair in result.review:
            writer.writerow(
                [
                    pair["record_id_l"],
                    pair["record_id_r"],
                    pair["match_probability"],
                    pair["match_weight"],
                    pair["refused"] or "",
                    json.dumps(pair["evidence"], ensure_ascii=False),
                ]
            )

    # Both files are complete in temporaries before either replaces its target.
    if review_path is not None:
        _write_atomic(review_path, write_review)
    _write_atomic(output_path, write_output)
    return result

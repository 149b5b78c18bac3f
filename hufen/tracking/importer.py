"""Reading event files for `hufen events import`: JSONL, CSV or Parquet, one raw event per row.

Rows keep their number in the file (CSV: the line, counting the header as line 1; JSONL: the line;
Parquet: the row, from 1) so that every problem can be reported where the user can find it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from hufen.tracking.validation import Problem

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}
Row = tuple[int, dict[str, Any] | Problem]


def file_format(path: Path, forced: str | None = None) -> str:
    fmt = forced or FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the format of {path.name!r}: use .jsonl, .csv or .parquet, or --format")
    return fmt


def read_rows(path: Path, fmt: str) -> Iterator[Row]:
    if fmt == "jsonl":
        yield from _jsonl(path)
    elif fmt == "csv":
        yield from _csv(path)
    else:
        yield from _parquet(path)


def _jsonl(path: Path) -> Iterator[Row]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, Problem("line", f"is not valid JSON ({exc.msg} at column {exc.colno})")
                continue
            yield number, value if isinstance(value, dict) else Problem("line", "is not a JSON object")


def _csv(path: Path) -> Iterator[Row]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        width = len(header)
        for values in reader:
            number = reader.line_num
            if not values:
                continue
            if len(values) != width:
                yield number, Problem("row", f"has {len(values)} columns, the header has {width}")
                continue
            yield number, {k: v for k, v in zip(header, values, strict=True) if v != ""}


def _parquet(path: Path) -> Iterator[Row]:
    source = pq.ParquetFile(path)
    number = 0
    for batch in source.iter_batches(batch_size=50_000):
        for record in batch.to_pylist():
            number += 1
            yield number, {k: v for k, v in record.items() if v is not None}

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

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from hufen.tracking.bulk import Chunk
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


# --- column-wise reading (the fast path of `hufen events import`, see tracking/bulk.py) ----------------

CHUNK_ROWS = 500_000
_BLOCK_BYTES = 64 << 20


def read_chunks(path: Path, fmt: str, rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    """The file as Arrow chunks with the same row numbers (and the same raw rows) as `read_rows`."""
    if fmt == "jsonl":
        yield from _jsonl_chunks(path, rows)
    elif fmt == "csv":
        yield from _csv_chunks(path, rows)
    else:
        yield from _parquet_chunks(path, rows)


def _jsonl_line(line: str) -> dict[str, Any] | Problem | None:
    """One line as `_jsonl` reads it (None: a blank line, which is not a row)."""
    if not line.strip():
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        return Problem("line", f"is not valid JSON ({exc.msg} at column {exc.colno})")
    return value if isinstance(value, dict) else Problem("line", "is not a JSON object")


def _lone_cr(data: bytes) -> bool:
    return data.count(b"\r") != data.count(b"\r\n")


def _jsonl_chunks(path: Path, rows: int) -> Iterator[Chunk]:
    with open(path, "rb") as handle:
        head = handle.read(_BLOCK_BYTES)
    if head.startswith(b"\xef\xbb\xbf") or _lone_cr(head):  # text-mode subtleties: the row reader decides
        yield from _legacy_chunks(read_rows(path, "jsonl"), rows)
        return
    number = 0
    numbers: list[int] = []
    lines: list[bytes] = []
    with open(path, "rb") as handle:
        rest = b""
        while True:
            block = handle.read(_BLOCK_BYTES)
            data = rest + block
            if not block:
                parts, rest = (data.split(b"\n") if data else []), b""
            else:
                cut = data.rfind(b"\n")
                parts, rest = (data[:cut].split(b"\n"), data[cut + 1 :]) if cut >= 0 else ([], data)
            for line in parts:
                number += 1
                if line.strip():
                    numbers.append(number)
                    lines.append(line)
                if len(lines) >= rows:
                    yield _jsonl_chunk(numbers, lines)
                    numbers, lines = [], []
            if not block:
                break
    if lines:
        yield _jsonl_chunk(numbers, lines)


def _jsonl_chunk(numbers: list[int], lines: list[bytes]) -> Chunk:
    text = pa.array(lines, pa.binary()).cast(pa.string())  # raises on invalid UTF-8, like the row reader
    table = pa.table({"row": pa.array(numbers, pa.int64()), "line": text})

    def raw(pos: int) -> Any:
        return _jsonl_line(lines[pos].decode())

    return Chunk("jsonl", table, raw)


def _parquet_chunks(path: Path, rows: int) -> Iterator[Chunk]:
    source = pq.ParquetFile(path)
    number = 0
    for batch in source.iter_batches(batch_size=rows):
        table = pa.Table.from_batches([batch])
        numbers = pa.array(range(number + 1, number + 1 + table.num_rows), pa.int64())
        number += table.num_rows

        def raw(pos: int, table: pa.Table = table) -> Any:
            record = table.slice(pos, 1).to_pylist()[0]
            return {k: v for k, v in record.items() if v is not None}

        yield Chunk("columns", table.add_column(0, "row", numbers), raw)


def _legacy_chunks(source: Iterator[Row], rows: int) -> Iterator[Chunk]:
    """Rows the column-wise reader cannot read the way the row reader does: all go row by row."""
    numbers: list[int] = []
    raws: list[Any] = []
    for number, raw in source:
        numbers.append(number)
        raws.append(raw)
        if len(raws) >= rows:
            yield _legacy_chunk(numbers, raws)
            numbers, raws = [], []
    if raws:
        yield _legacy_chunk(numbers, raws)


def _legacy_chunk(numbers: list[int], raws: list[Any]) -> Chunk:
    keep = [i for i, raw in enumerate(raws) if not isinstance(raw, Problem)]
    table = pa.table({"row": pa.array([numbers[i] for i in keep], pa.int64())})
    problems = [(numbers[i], raw, None) for i, raw in enumerate(raws) if isinstance(raw, Problem)]
    return Chunk("columns", table, lambda pos: raws[keep[pos]], problems)


def _csv_chunks(path: Path, rows: int) -> Iterator[Chunk]:
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    table, invalid = _csv_arrow(data)
    if table is None:
        yield from _legacy_chunks(read_rows(path, "csv"), rows)
        return
    # Physical line numbers of the non-empty lines: record k of the file (header = 1) is on line lines[k-1].
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
    starts = np.concatenate([[0], ends + 1])
    stops = np.concatenate([ends, [len(data)]])
    lengths = stops - starts
    cr = np.frombuffer(data, np.uint8)[np.maximum(stops - 1, 0)] == 13
    nonempty = np.flatnonzero((lengths > 1) | ((lengths == 1) & ~cr)) + 1
    if len(nonempty) != table.num_rows + len(invalid) + 1:  # a quoted value spans lines
        yield from _legacy_chunks(read_rows(path, "csv"), rows)
        return
    width = table.num_columns
    bad_records = {number for number, _ in invalid}
    record_numbers = np.setdiff1d(np.arange(2, len(nonempty) + 1), np.array(sorted(bad_records), dtype=np.int64))
    row_lines = nonempty[record_numbers - 1]
    problems = [
        (int(nonempty[number - 1]), Problem("row", f"has {count} columns, the header has {width}"), None)
        for number, count in invalid
    ]
    for start in range(0, max(table.num_rows, 1), rows):
        part = table.slice(start, rows)
        numbers = pa.array(row_lines[start : start + part.num_rows], pa.int64())

        def raw(pos: int, part: pa.Table = part) -> Any:
            return {k: v for k, v in part.slice(pos, 1).to_pylist()[0].items() if v != ""}

        yield Chunk("columns", part.add_column(0, "row", numbers), raw, problems if start == 0 else [])


def _csv_arrow(data: bytes) -> tuple[pa.Table | None, list[tuple[int, int]]]:
    """All-string table and the (record number, column count) of rows of the wrong width, or None."""
    if not data.strip() or _lone_cr(data):
        return None, []
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        header = next(csv.reader([first.decode()]))
    except (UnicodeDecodeError, StopIteration, csv.Error):
        return None, []
    if not header or len(set(header)) != len(header):
        return None, []
    invalid: list[tuple[int, int]] = []

    def on_invalid(row: Any) -> str:
        if row.number is None:
            raise ValueError("row number unknown")
        invalid.append((int(row.number), int(row.actual_columns)))
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(use_threads=False, column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, ValueError):
        return None, []
    return table, invalid  # pyarrow numbers records counting the skipped header as 1

"""Reading event files for `hufen events import`: JSONL, CSV or Parquet, one raw event per row.

Rows keep their number in the file (CSV: the line, counting the header as line 1; JSONL: the line;
Parquet: the row, from 1) so that every problem can be reported where the user can find it.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from hufen.tracking.bulk import Chunk
from hufen.tracking.validation import ID_FIELDS, Problem

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
    for first, piece in _line_groups(path, rows):
        starts = _line_starts(piece)
        if not _has_blank_line(piece):
            fast = _jsonl_typed_chunk(first, piece, starts)
            if fast is not None:
                yield fast
                continue
        lines = (piece[:-1] if piece.endswith(b"\n") else piece).split(b"\n")
        numbers = [first + i for i, line in enumerate(lines) if line.strip()]
        kept = [line for line in lines if line.strip()]
        if kept:
            yield _jsonl_chunk(numbers, kept)


_BLANK_LINE = re.compile(rb"\n[ \t\r\f\v]*\n")


def _has_blank_line(piece: bytes) -> bool:
    """Whether a line of `piece` is empty or only ASCII white space (not a row, in either reader)."""
    if _BLANK_LINE.search(b"\n" + piece) is not None:
        return True
    last = piece[piece.rfind(b"\n") + 1 :]
    return bool(last) and not last.strip()


def _line_starts(piece: bytes) -> np.ndarray:
    """Offsets of each line's start in `piece`, and one past its end (as if it ended with a newline)."""
    ends = np.flatnonzero(np.frombuffer(piece, np.uint8) == 10) + 1
    if not piece.endswith(b"\n"):
        ends = np.append(ends, len(piece) + 1)
    return np.concatenate([[0], ends]).astype(np.int64)


def _line_groups(path: Path, rows: int) -> Iterator[tuple[int, bytes]]:
    """The file as pieces of up to `rows` whole lines (blank ones included), with the first line's number."""
    number = 1
    rest = b""
    with open(path, "rb") as handle:
        while True:
            block = handle.read(_BLOCK_BYTES)
            data = rest + block
            if not data:
                break
            ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1
            if block:  # the unfinished last line waits for the next block
                if not len(ends):
                    rest = data
                    continue
                data, rest = data[: ends[-1]], data[ends[-1] :]
            else:
                rest = b""
                if not data.endswith(b"\n"):
                    ends = np.append(ends, len(data))
            start = 0
            for k in range(0, len(ends), rows):
                stop = int(ends[min(k + rows, len(ends)) - 1])
                yield number, data[start:stop]
                number += min(rows, len(ends) - k)
                start = stop
            if not block:
                break


# The contract's scalar fields as JSON must carry them: anything else (a number as a string, a float
# id, an unknown or repeated key, a line that is not an object) fails the strict reader for the
# whole group, which then takes the general path.
_JSON_SCALARS = pa.schema(
    [
        *((name, pa.string()) for name in ("event_id", "event", "ts", "phone", "anonymous_id", "channel")),
        *((name, pa.string()) for name in ID_FIELDS),
        ("person_id", pa.int64()),
        ("dealer_id", pa.int64()),
    ]
)


def _jsonl_typed_chunk(first: int, piece: bytes, starts: np.ndarray) -> Chunk | None:
    """Lines parsed by Arrow's strict JSON reader into typed columns (checked like Parquet columns),
    or None when a line is not plainly of the contract's shape."""
    count = len(starts) - 1
    try:
        table = pajson.read_json(
            pa.BufferReader(piece),
            parse_options=pajson.ParseOptions(explicit_schema=_JSON_SCALARS, unexpected_field_behavior="infer"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    extra = set(table.column_names) - set(_JSON_SCALARS.names) - {"properties"}
    if table.num_rows != count or extra:
        return None
    if "properties" in table.column_names:
        kind = table.schema.field("properties").type
        if pa.types.is_struct(kind):
            text = _properties_text(piece, starts)
            table = table.set_column(table.column_names.index("properties"), "properties", text)
        elif pa.types.is_null(kind):
            table = table.drop_columns(["properties"])
        elif not pa.types.is_string(kind):
            return None
    numbers = pa.array(np.arange(first, first + count, dtype=np.int64))

    def raw(pos: int) -> Any:
        return _jsonl_line(piece[starts[pos] : starts[pos + 1] - 1].decode())

    return Chunk("columns", table.add_column(0, "row", numbers), raw)


def _properties_text(piece: bytes, starts: np.ndarray) -> pa.Array:
    """Each line's `properties` object as JSON text (as the general path keeps it), else null."""
    data = piece if piece.endswith(b"\n") else piece + b"\n"
    text = pa.LargeStringArray.from_buffers(len(starts) - 1, pa.py_buffer(starts), pa.py_buffer(data))
    text.validate(full=True)
    con = duckdb.connect(config={"threads": 2})
    try:
        con.register("src", pa.table({"line": text}))
        result = con.sql(
            "SELECT CASE WHEN json_type(p) = 'OBJECT' THEN CAST(p AS VARCHAR) END AS properties "
            "FROM (SELECT json_extract(line, '$.\"properties\"') AS p FROM src)"
        ).to_arrow_table()
    finally:
        con.close()
    return result.column("properties").combine_chunks().cast(pa.string())


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

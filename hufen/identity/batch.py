"""File-to-file resolution: read and check a CSV, resolve, write results atomically.

A rejected file writes nothing: the output goes to a temporary file beside the target and is
renamed only when everything succeeded.

Memory stays bounded by the size of the prepared columns, not the file: the file's encoding is
checked block by block, Arrow parses it in blocks, and every few hundred thousand records are
normalised in a forked worker that ends with its batch; the results are written in slices.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv

from hufen.identity.matching import Progress, Resolution, _Stages, resolve_frame
from hufen.identity.prepare import prepare_batches, prepare_frame
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


SCAN_BLOCK = 1 << 24  # bytes decoded at a time when checking a file's encoding


def _scan(path: Path, encoding: str) -> tuple[bool, UnicodeDecodeError | None]:
    """Decode the file block by block without keeping the text: (any non-blank character, the
    first decoding error with its position counted from the start of the file)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    nonblank, offset = False, 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(SCAN_BLOCK):
                pending = len(decoder.getstate()[0])
                try:
                    text = decoder.decode(block)
                except UnicodeDecodeError as exc:
                    start = offset - pending + exc.start
                    return nonblank, UnicodeDecodeError(exc.encoding, exc.object, start, start + 1, exc.reason)
                nonblank = nonblank or (bool(text) and not text.isspace())
                offset += len(block)
            pending = len(decoder.getstate()[0])
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        start = offset - pending + exc.start
        return nonblank, UnicodeDecodeError(exc.encoding, exc.object, start, start + 1, exc.reason)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc
    return nonblank, None


def _detect(path: Path, encoding: str | None) -> str:
    """`decode`'s choice of encoding for a file, checked without holding the file's text."""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise InputError(f"input: cannot be decoded as {encoding} ({exc})") from exc
        nonblank, error = _scan(path, encoding)
        if error is not None:
            raise InputError(f"input: cannot be decoded as {encoding} ({error})") from error
        chosen = encoding
    else:
        nonblank, utf8_error = _scan(path, "utf-8-sig")
        chosen = "utf-8-sig"
        if utf8_error is not None:
            nonblank, error = _scan(path, "gb18030")
            if error is not None:
                raise InputError(
                    f"input: not UTF-8 (byte {utf8_error.start}) nor GB18030; pass --encoding"
                ) from utf8_error
            chosen = "gb18030"
    if not nonblank:
        raise InputError(f"{path}: the file is empty")
    return chosen


def _header(path: Path, encoding: str) -> list[str]:
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as handle:
        text = decoder.decode(handle.read(1 << 22))
    return next(csv.reader(io.StringIO(text, newline="")), [])


def _csv_options(include: list[str], *, encoding: str, utf8: bool) -> dict[str, Any]:
    """Arrow's options (`read_csv` / `open_csv` keywords) for a file in `encoding` (`utf8`: a UTF-8
    one, its BOM skipped by the caller): the `include` columns as they are written, every value text
    and none null, quoted newlines allowed."""
    return {
        "read_options": pa_csv.ReadOptions(block_size=1 << 24, encoding="utf8" if utf8 else encoding),
        "parse_options": pa_csv.ParseOptions(newlines_in_values=True),
        "convert_options": pa_csv.ConvertOptions(
            column_types={h: pa.string() for h in include},
            include_columns=include,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    }


def read_frame(
    path: Path, schema: Schema, *, encoding: str | None = None, only_schema_columns: bool = False
) -> pd.DataFrame:
    """`read_records` as a DataFrame of text columns, parsed by Arrow (a million rows in a second).

    The file is checked and parsed block by block: its text is never held whole, so a file of ten
    million rows costs about its own size in memory (less with `only_schema_columns`: then only the
    record id and the schema's columns are kept). Any file Arrow cannot parse cleanly, or with an
    empty or duplicate record id, is read again by `read_records`, whose error names the row."""
    chosen = _detect(path, encoding)
    utf8 = codecs.lookup(chosen).name in {"utf-8", "utf-8-sig"}
    raw_header = _header(path, chosen)
    header = [h.strip() for h in raw_header]
    check_columns(schema, header, strict=schema is not DEFAULT_SCHEMA)
    if len(set(raw_header)) != len(raw_header):
        return pd.DataFrame(read_records(path, schema, encoding=encoding))
    wanted = {schema.record_id, *schema.columns} if only_schema_columns else set(header)
    include = [raw for raw, name in zip(raw_header, header, strict=True) if name in wanted]
    try:
        with path.open("rb") as handle:
            if utf8 and handle.read(3) != codecs.BOM_UTF8:
                handle.seek(0)
            table = pa_csv.read_csv(handle, **_csv_options(include, encoding=chosen, utf8=utf8))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.DataFrame(read_records(path, schema, encoding=encoding))
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc
    names = [name for name in header if name in wanted]
    table = table.rename_columns(names)
    rid = pc.utf8_trim_whitespace(table.column(schema.record_id))
    if table.num_rows == 0:
        raise InputError(f"{path}: no records after the header")
    empty = pc.any(pc.equal(rid, "")).as_py()
    if empty or pc.count_distinct(rid).as_py() != table.num_rows:
        read_records(path, schema, encoding=encoding)  # raises, naming the row
    table = table.set_column(names.index(schema.record_id), schema.record_id, rid)
    return table.to_pandas(types_mapper=pd.ArrowDtype)


# Records normalised at a time (in a worker process each) when a file is read and prepared.
PREPARE_CHUNK = 400_000
# A file smaller than this is normalised in this process (with `prepare`'s own worker pool).
IN_PROCESS_BELOW = 48 << 20


def read_prepared(
    path: Path,
    schema: Schema,
    *,
    encoding: str | None = None,
    progress: Progress | None = None,
    chunk: int = PREPARE_CHUNK,
) -> pa.Table:
    """`prepare_frame(read_frame(path))` in one pass over the file, `chunk` records at a time: the
    raw columns of only one chunk are ever held, the prepared columns (Arrow strings) of all.
    Errors are `read_frame`'s: any file Arrow cannot parse cleanly, or with an empty or duplicate
    record id, is read again by `read_records`, whose error names the row."""
    chosen = _detect(path, encoding)
    utf8 = codecs.lookup(chosen).name in {"utf-8", "utf-8-sig"}
    raw_header = _header(path, chosen)
    header = [h.strip() for h in raw_header]
    check_columns(schema, header, strict=schema is not DEFAULT_SCHEMA)
    if len(set(raw_header)) != len(raw_header):
        return _prepared(pd.DataFrame(read_records(path, schema, encoding=encoding)), schema)
    wanted = {schema.record_id, *schema.columns}
    include = [raw for raw, name in zip(raw_header, header, strict=True) if name in wanted]
    names = [name for name in header if name in wanted]
    rid_at = names.index(schema.record_id)
    record_ids: list[pa.ChunkedArray] = []

    def frames() -> Iterator[pa.Table]:
        with path.open("rb") as handle:
            if utf8 and handle.read(3) != codecs.BOM_UTF8:
                handle.seek(0)
            reader = pa_csv.open_csv(handle, **_csv_options(include, encoding=chosen, utf8=utf8))
            pending: list[pa.RecordBatch] = []
            held = 0
            for batch in itertools.chain(reader, [None]):
                if batch is not None:
                    pending.append(batch)
                    held += batch.num_rows
                if held and (held >= chunk or batch is None):
                    table = pa.Table.from_batches(pending).rename_columns(names)
                    pending, held = [], 0
                    rid = pc.utf8_trim_whitespace(table.column(rid_at))
                    if pc.any(pc.equal(rid, "")).as_py():
                        read_records(path, schema, encoding=encoding)  # raises, naming the row
                    record_ids.append(rid)
                    yield table.set_column(rid_at, schema.record_id, rid)

    pieces: list[pa.Table] = []
    try:
        workers = 2 if path.stat().st_size > IN_PROCESS_BELOW else 1
        for prepared in prepare_batches(frames(), schema, workers=workers):
            pieces.append(prepared)
            if progress is not None:
                progress("normalising")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _prepared(pd.DataFrame(read_records(path, schema, encoding=encoding)), schema)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not pieces:
        raise InputError(f"{path}: no records after the header")
    rids = pa.chunked_array([c for r in record_ids for c in r.chunks], type=pa.string())
    if pc.count_distinct(rids).as_py() != len(rids):
        read_records(path, schema, encoding=encoding)  # raises, naming the row
    del rids
    record_ids.clear()
    pa.default_memory_pool().release_unused()  # what parsing the raw columns left in Arrow's pool
    return pa.concat_tables(pieces)


def _prepared(records: pd.DataFrame, schema: Schema) -> pa.Table:
    return pa.Table.from_pandas(prepare_frame(records, schema), preserve_index=False)


def _write_atomic(path: Path, write: Callable[[Any], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _with_stage_log(progress: Progress | None) -> Progress | None:
    """With HUFEN_STAGES=1 in the environment, each stage is also printed to stderr as
    `hufen-stage: NAME` (what benchmarks/identity/large.py reads to attribute memory to stages)."""
    if not os.environ.get("HUFEN_STAGES"):
        return progress

    def both(stage: str) -> None:
        print(f"hufen-stage: {stage}", file=sys.stderr, flush=True)
        if progress is not None:
            progress(stage)

    return both


# Output rows formatted and written at a time.
WRITE_CHUNK = 500_000


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
    started = time.perf_counter()
    stages = _Stages(_with_stage_log(progress), started)
    stages("reading and normalising")
    frame = read_prepared(input_path, schema, encoding=encoding)
    result = resolve_frame(frame, schema, progress=stages, started=started)
    del frame
    stages("writing")

    def write_output(handle: Any) -> None:
        n = len(result.record_id_array)
        for start in range(0, max(n, 1), WRITE_CHUNK):
            stop = min(start + WRITE_CHUNK, n)
            out = pd.DataFrame(
                {
                    "record_id": result.record_id_array.slice(start, stop - start).to_numpy(zero_copy_only=False),
                    "person_id": result.person_id_array.slice(start, stop - start).to_numpy(zero_copy_only=False),
                }
            )
            if with_score:
                best = result.best[start:stop]
                out["score"] = pd.array(np.where(best > 0, best, np.nan), dtype="Float64")
            out.to_csv(handle, index=False, header=start == 0, float_format="%.6f", na_rep="", lineterminator="\r\n")

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
    stages("done")
    return result

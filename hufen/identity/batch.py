"""File-to-file resolution: read and check a CSV, resolve, write results atomically.

A rejected file writes nothing: the output goes to a temporary file beside the target and is
renamed only when everything succeeded.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv

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


def read_frame(path: Path, schema: Schema, *, encoding: str | None = None) -> pd.DataFrame:
    """`read_records` as a DataFrame of text columns, parsed by Arrow (a million rows in a second).

    Any file Arrow cannot parse cleanly, or with an empty or duplicate record id, is read again by
    `read_records`, whose error names the row."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc
    text = decode(data, encoding)
    if not text.strip():
        raise InputError(f"{path}: the file is empty")
    body = data.removeprefix(codecs.BOM_UTF8)
    payload = body if (encoding is None and len(body) == len(text)) or _same_utf8(body, text) else text.encode("utf-8")
    raw_header = next(csv.reader(io.StringIO(text, newline="")), [])
    header = [h.strip() for h in raw_header]
    check_columns(schema, header, strict=schema is not DEFAULT_SCHEMA)
    if len(set(raw_header)) != len(raw_header):
        return pd.DataFrame(read_records(path, schema, encoding=encoding))
    try:
        table = pa_csv.read_csv(
            io.BytesIO(payload),
            read_options=pa_csv.ReadOptions(block_size=1 << 24),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={h: pa.string() for h in raw_header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.DataFrame(read_records(path, schema, encoding=encoding))
    table = table.rename_columns(header)
    rid = pc.utf8_trim_whitespace(table.column(schema.record_id))
    if table.num_rows == 0:
        raise InputError(f"{path}: no records after the header")
    empty = pc.any(pc.equal(rid, "")).as_py()
    if empty or pc.count_distinct(rid).as_py() != table.num_rows:
        read_records(path, schema, encoding=encoding)  # raises, naming the row
    table = table.set_column(header.index(schema.record_id), schema.record_id, rid)
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _same_utf8(body: bytes, text: str) -> bool:
    """Were the bytes UTF-8 already (then Arrow reads them as they are)?"""
    try:
        return body.decode("utf-8") == text
    except UnicodeDecodeError:
        return False


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
    records = read_frame(input_path, schema, encoding=encoding)
    result = resolve(records, schema, progress=progress)

    def write_output(handle: Any) -> None:
        out = pd.DataFrame({"record_id": result.record_ids, "person_id": result.person_ids})
        if with_score:
            out["score"] = pd.array(result.scores, dtype="Float64")
        out.to_csv(handle, index=False, float_format="%.6f", na_rep="", lineterminator="\r\n")

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

"""The column-wise batch path (Arrow CSV reader, normalisation) gives exactly what the per-record path gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hufen.common.pii import id_check_char
from hufen.identity import prepare as prepare_module
from hufen.identity.batch import InputError, read_frame, read_records
from hufen.identity.prepare import frame_columns, prepare_frame, prepare_rows
from hufen.identity.schema import DEFAULT_SCHEMA, Schema
from hufen.identity.synthetic import generate

ID = "11010519491231002"
VALID_ID = ID + id_check_char(ID)
EDGE_CASES = [
    {"phone": "＋８６ １３８ １２３４ ５６７８", "id_number": VALID_ID.lower()},  # full-width, lower-case x
    {"phone": "86-13812345678", "id_number": f" {VALID_ID[:9]} {VALID_ID[9:]} "},
    {"phone": "(138) 1234-5678", "id_number": "110105491231002"},  # a 15-digit card
    {"phone": "12345", "id_number": VALID_ID[:17] + ("1" if VALID_ID[17] != "1" else "2")},  # bad check
    {"phone": "17400012345", "id_number": "990105194912310021"},  # unknown region
    {"phone": "+86 174 0001 2345", "id_number": "110105209912310021"},  # born in the future
    {"phone": "0086 13912345678", "id_number": "11010519490231002X"},  # 31 February
    {"phone": "１３９12345678\u2028", "id_number": "１１０１０５１９４９１２３１００２" + VALID_ID[17]},
    {"phone": "not a phone", "id_number": "x" * 18, "email": " A.B@Example.COM ", "vin": "lsv abc"},
    {"phone": "", "id_number": "", "email": "a b@c.com", "name": "王先生", "address": "浙江杭州市西湖区文三路1号"},
]


def _records(n: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = [r for r, _ in generate(n, seed=21)]
    for i, case in enumerate(EDGE_CASES):
        records.append({"record_id": f"E{i}", **case})
    records.append({"record_id": "N", "name": None, "phone": None})  # missing cells
    return records


def _as_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    plain = frame.astype(object).where(frame.notna(), None)
    return list(plain.to_dict(orient="records"))


@pytest.mark.parametrize("parallel_above", [10**9, 50])
def test_batch_columns_equal_the_per_record_rows(monkeypatch: pytest.MonkeyPatch, parallel_above: int) -> None:
    # given generated records plus the awkward formats (full-width, 15-digit cards, bad checksums)
    records = _records(400)
    # when normalised column-wise (once in this process, once with the worker pool forced on)
    monkeypatch.setattr(prepare_module, "PARALLEL_ABOVE", parallel_above)
    frame = prepare_frame(records, DEFAULT_SCHEMA)
    # then every value equals what the per-record path computes
    expected = prepare_rows(records, DEFAULT_SCHEMA)
    assert list(frame.columns) == frame_columns(DEFAULT_SCHEMA)
    assert _as_rows(frame) == expected


def test_non_chinese_schema_keeps_phone_digits_and_name_parts() -> None:
    schema = Schema(
        record_id="id",
        columns={"first": "given_name", "last": "family_name", "tel": "phone", "dob": "date", "town": "category"},
        chinese=False,
    )
    records = [
        {"id": "1", "first": "Mary", "last": "Smith", "tel": "555-0101-2222", "dob": "1980-02-03", "town": "Lakeside"},
        {"id": "2", "first": "", "last": "", "tel": "12", "dob": "not a date", "town": ""},
        {"id": "3", "first": "Ann", "last": "Lee", "tel": "13812345678", "dob": "", "town": "Fairview"},
    ]
    assert _as_rows(prepare_frame(records, schema)) == prepare_rows(records, schema)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_arrow_reader_reads_what_the_strict_reader_reads(tmp_path: Path, encoding: str) -> None:
    # given a DMS export with quoted commas and line breaks, padded header names and record ids
    text = (
        " record_id ,name,address,phone\n"
        ' R1 ,王伟,"浙江省杭州市, 西湖区",138 1234 5678\n'
        'R2,"李\n娜",,\n'
        'R3,"say ""hi""",北京市朝阳区,\n'
    )
    path = tmp_path / "in.csv"
    path.write_bytes(text.encode(encoding))
    # when read by Arrow and by the row-by-row reader, then both give the same records
    frame = read_frame(path, DEFAULT_SCHEMA)
    assert frame.astype(object).to_dict(orient="records") == read_records(path, DEFAULT_SCHEMA)


def test_arrow_reader_leaves_bad_rows_to_the_strict_reader(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("record_id,name\nR1,王伟\nR1,李娜\n", encoding="utf-8")
    with pytest.raises(InputError, match="row 3, column record_id: duplicate 'R1' \\(first on row 2\\)"):
        read_frame(path, DEFAULT_SCHEMA)
    path.write_text("record_id,name\nR1,王伟,extra\n", encoding="utf-8")
    with pytest.raises(InputError, match="row 2: more fields than the header has columns"):
        read_frame(path, DEFAULT_SCHEMA)

"""Raw records → one table of normalised matching columns, named by role.

Column prefixes: `s_` strong identifier, `n_` name parts, `d_` date, `c_` category, `a_` address or
free text, plus `gender`. Empty or invalid cells become NULL, which the model reads as "no
evidence" rather than as a disagreement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from hufen.common.names import name_syllables
from hufen.common.pii import hash_id_number
from hufen.identity import normalize as nz
from hufen.identity.places import canonical_city, canonical_province, split_address
from hufen.identity.schema import Schema


def _phone(raw: str, chinese: bool) -> str | None:
    result = nz.normalize_phone(raw)
    if result.value or chinese:
        return result.value
    # Outside China a phone is still an identifier: compare its digits, whatever the format.
    digits = "".join(c for c in nz.fold(raw) if c.isdigit())
    return digits if len(digits) >= 6 else None


def _category(value: str, column: str, chinese: bool) -> str | None:
    text = nz.to_simplified(nz.fold(value)).lower()
    if chinese and column == "province":
        text = canonical_province(text)
    elif chinese and column == "city":
        text = canonical_city(text)
    return text or None


def prepare(records: Iterable[Mapping[str, str]], schema: Schema) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """One row per record with `uid` (0..n-1), `rid` (the record id) and the matching columns,
    as plain dicts (for the rule checks) and as a DataFrame (for Splink)."""
    rows = prepare_rows(records, schema)
    columns = frame_columns(schema)
    frame = pd.DataFrame(rows, columns=columns)
    return rows, frame.astype({c: "string" for c in columns if c != "uid"})


def frame_columns(schema: Schema) -> list[str]:
    strong = schema.of_kind("identifier", "phone", "email", "id_card", "vin")
    columns = ["uid", "rid", *(f"s_{c}" for c in strong), "n_full", "n_key", "n_sur", "n_given", "gender"]
    columns += [f"d_{c}" for c in schema.of_kind("date")] + [f"c_{c}" for c in schema.of_kind("category")]
    return columns + [f"a_{c}" for c in schema.of_kind("address", "text")]


def prepare_rows(records: Iterable[Mapping[str, str]], schema: Schema) -> list[dict[str, Any]]:
    """The matching columns of each record as a plain dict (also what online linking stores)."""
    strong = schema.of_kind("identifier", "phone", "email", "id_card", "vin")
    dates = schema.of_kind("date")
    categories = schema.of_kind("category")
    texts = schema.of_kind("address", "text")
    names = schema.of_kind("name")
    given_cols = schema.of_kind("given_name")
    family_cols = schema.of_kind("family_name")
    gender_cols = schema.of_kind("gender")
    kinds = schema.columns
    rows: list[dict[str, Any]] = []
    for uid, record in enumerate(records):
        row: dict[str, object] = {"uid": uid, "rid": str(record.get(schema.record_id, ""))}
        card: nz.IdCard | None = None
        for col in strong:
            raw = record.get(col) or ""
            kind = kinds[col]
            value: str | None
            if kind == "phone":
                value = _phone(raw, schema.chinese)
            elif kind == "email":
                value = nz.normalize_email(raw).value
            elif kind == "vin":
                value = nz.normalize_vin(raw).value
            elif kind == "id_card":
                card, _ = nz.parse_id_number(raw)
                value = hash_id_number(card.number) if card else None
            else:
                value = nz.normalize_identifier(raw)
            row[f"s_{col}"] = value
        name = _name(record, names, given_cols, family_cols)
        row["n_full"] = name.full or None
        row["n_key"] = name.key or None
        row["n_sur"] = name.surname_pinyin or None
        row["n_given"] = name.given_pinyin or None
        gender = card.gender if card else None
        for col in gender_cols:
            gender = gender or nz.normalize_gender(record.get(col))
        row["gender"] = gender or name.gender_hint
        for i, col in enumerate(dates):
            value_date = nz.parse_date(record.get(col))
            if value_date is None and card is not None and i == 0:
                value_date = card.birth_date  # the ID card carries the birth date
            row[f"d_{col}"] = value_date.isoformat() if value_date else None
        for col in categories:
            row[f"c_{col}"] = _category(record.get(col) or "", col, schema.chinese)
        for col in texts:
            text = nz.to_simplified(nz.fold(record.get(col))).lower()
            if schema.chinese and kinds[col] == "address" and text:
                parts = split_address(text)
                # An address fills missing place columns; explicit columns win.
                for level in ("province", "city", "district"):
                    if f"c_{level}" in row and not row[f"c_{level}"] and getattr(parts, level):
                        row[f"c_{level}"] = getattr(parts, level)
                text = parts.rest
            row[f"a_{col}"] = text or None
        rows.append(row)
    return rows


def _name(record: Mapping[str, str], names: list[str], given: list[str], family: list[str]) -> nz.PersonName:
    for col in names:
        name = nz.normalize_name(record.get(col) or "")
        if name.full or name.honorific_only:
            return name
    family_text = " ".join(nz.fold(record.get(c)) for c in family).strip()
    given_text = " ".join(nz.fold(record.get(c)) for c in given).strip()
    if not family_text and not given_text:
        return nz.EMPTY_NAME
    sur, giv = _pinyin_of(family_text), _pinyin_of(given_text)
    full = f"{nz.to_simplified(family_text)} {nz.to_simplified(given_text)}".strip().lower()
    return nz.PersonName(full, family_text, given_text, sur, giv, None, False)


def _pinyin_of(text: str) -> str:
    """A name part as lower-case letters: Latin kept, Chinese read as pinyin."""
    text = nz.to_simplified(text)
    letters = text if text.isascii() else "".join(name_syllables(text))
    return "".join(c for c in letters.lower() if c.isalnum())

"""Raw records → one table of normalised matching columns, named by role.

Column prefixes: `s_` strong identifier, `n_` name parts, `d_` date, `c_` category, `a_` address or
free text, plus `gender`. Empty or invalid cells become NULL, which the model reads as "no
evidence" rather than as a disagreement.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from hufen.common.names import name_syllables
from hufen.common.pii import ID_PROVINCE_CODES, hash_id_number
from hufen.identity import normalize as nz
from hufen.identity.places import canonical_city, canonical_province, split_address
from hufen.identity.schema import Schema

STRONG_KIND_ORDER = ("identifier", "phone", "email", "id_card", "vin")


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
    as plain dicts (for the rule checks) and as a DataFrame (what the batch engine reads)."""
    rows = prepare_rows(records, schema)
    columns = frame_columns(schema)
    frame = pd.DataFrame(rows, columns=columns)
    return rows, frame.astype({c: "string" for c in columns if c != "uid"})


def frame_columns(schema: Schema) -> list[str]:
    strong = schema.of_kind(*STRONG_KIND_ORDER)
    columns = ["uid", "rid", *(f"s_{c}" for c in strong), "n_full", "n_key", "n_sur", "n_given", "gender"]
    columns += [f"d_{c}" for c in schema.of_kind("date")] + [f"c_{c}" for c in schema.of_kind("category")]
    return columns + [f"a_{c}" for c in schema.of_kind("address", "text")]


def prepare_rows(records: Iterable[Mapping[str, str]], schema: Schema) -> list[dict[str, Any]]:
    """The matching columns of each record as a plain dict (also what online linking stores)."""
    strong = schema.of_kind(*STRONG_KIND_ORDER)
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


# --- column-wise, for batches -------------------------------------------------------------------
#
# A batch repeats most values (names, dates, places, formats of the same phone): each column is
# factorised and every distinct value normalised once, with the same functions `prepare_rows` uses
# per record, so both paths give identical rows.

Array = npt.NDArray[Any]


def _input_frame(records: Iterable[Mapping[str, str]] | pd.DataFrame, schema: Schema) -> pd.DataFrame:
    wanted = [schema.record_id, *schema.columns]
    frame = records if isinstance(records, pd.DataFrame) else pd.DataFrame.from_records(list(records))
    missing = [c for c in wanted if c not in frame.columns]
    frame = frame.reindex(columns=[c for c in wanted if c in frame.columns])
    for col in missing:
        frame[col] = ""
    return frame


def _uniques(values: pd.Series) -> tuple[Array, list[str]]:
    """(codes, distinct values as text); code -1 is a missing cell."""
    try:
        array = pa.chunked_array([pa.array(values, from_pandas=True)])
        if not pa.types.is_string(array.type):
            array = pc.cast(array, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        codes, found = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
        return codes, [u if isinstance(u, str) else str(u) for u in found]
    encoded = pc.dictionary_encode(array).combine_chunks()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    uniques: list[str] = encoded.dictionary.to_pylist()
    return codes, uniques


def _expand(codes: Array, mapped: list[Any], missing: Any) -> Array:
    table = np.empty(len(mapped) + 1, dtype=object)
    table[: len(mapped)] = mapped
    table[len(mapped)] = missing
    return np.asarray(table[codes])  # code -1 (missing) takes the last slot


# Distinct values above this are normalised by two worker processes (forked: the tables and
# caches are already loaded); below it a pool costs more than it saves.
PARALLEL_ABOVE = 40_000
_pool_holder: list[Any] = []


def _pmap(function: Callable[[str], Any], values: list[str]) -> list[Any]:
    workers = min(2, os.cpu_count() or 1)
    if len(values) < PARALLEL_ABOVE or workers < 2 or not _pool_holder:
        return [function(v) for v in values]
    pool = _pool_holder[0]
    chunk = max(1, len(values) // (workers * 4))
    result: list[Any] = pool.map(function, values, chunksize=chunk)
    return result


@contextmanager
def _workers(n_records: int) -> Iterator[None]:
    """A fork pool for the duration of one batch, when the batch is large enough to pay for it."""
    if n_records < PARALLEL_ABOVE or (os.cpu_count() or 1) < 2 or "fork" not in mp.get_all_start_methods():
        yield
        return
    pool = mp.get_context("fork").Pool(2)
    _pool_holder.append(pool)
    try:
        yield
    finally:
        _pool_holder.remove(pool)
        pool.terminate()
        pool.join()


def _distinct_map(values: pd.Series, function: Callable[[str], Any]) -> Array:
    """`function` of every value, computed once per distinct value (missing reads as "")."""
    codes, uniques = _uniques(values)
    return _expand(codes, _pmap(function, uniques), function(""))


def _split_fields(codes: Array, mapped: list[tuple[Any, ...]], missing: tuple[Any, ...]) -> list[Array]:
    """Per field of the tuples `mapped` (one per distinct value): that field for every record."""
    return [_expand(codes, [m[i] for m in mapped], missing[i]) for i in range(len(missing))]


def _distinct_fields(values: pd.Series, function: Callable[[str], tuple[Any, ...]]) -> list[Array]:
    """`_distinct_map` for a function returning a tuple: one array per field."""
    codes, uniques = _uniques(values)
    return _split_fields(codes, _pmap(function, uniques), function(""))


def _printable_ascii(values: list[str]) -> tuple[pa.Array, Array]:
    """The values as an Arrow array (NFKC-folded) and a mask of those that are printable ASCII:
    for those, Arrow's regular expressions agree with Python's."""
    array = pc.utf8_normalize(pa.array(values, type=pa.string()), form="NFKC")
    ascii_mask = pc.match_substring_regex(array, r"^[\x20-\x7e]*$").to_numpy(zero_copy_only=False)
    return array, np.asarray(ascii_mask, dtype=bool)


def _phones(values: pd.Series, chinese: bool) -> Array:
    """`_phone` of every value; the common well-formed mobile numbers are checked by Arrow."""
    codes, uniques = _uniques(values)
    mapped: list[Any] = [None] * len(uniques)
    if uniques:
        array, ascii_mask = _printable_ascii(uniques)
        stripped = pc.replace_substring_regex(array, r"[ \-().]", "")
        found = pc.extract_regex(stripped, r"^(?:\+?86|0086)?(?P<national>1[3-9]\d{9})$")
        national = pc.struct_field(found, "national").to_numpy(zero_copy_only=False)
        slow: list[int] = []
        for i, number in enumerate(national):
            if number is not None and ascii_mask[i]:
                mapped[i] = (
                    f"+86{number}" if nz._mobile_prefix_valid(number[:5]) else _phone_or_digits(uniques[i], chinese)
                )
            else:
                slow.append(i)
        for i, value in zip(slow, _pmap(partial(_phone, chinese=chinese), [uniques[i] for i in slow]), strict=True):
            mapped[i] = value
    return _expand(codes, mapped, None)


def _phone_or_digits(raw: str, chinese: bool) -> str | None:
    """An invalid mobile: nothing in China, the bare digits elsewhere (see `_phone`)."""
    return None if chinese else _phone(raw, chinese)


_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)


def _id_cards(values: pd.Series) -> list[Array]:
    """`_card_facts` of every value; well-formed 18-character numbers are checked with numpy."""
    codes, uniques = _uniques(values)
    mapped: list[Any] = [(None, None, None)] * len(uniques)
    if uniques:
        array, ascii_mask = _printable_ascii(uniques)
        text = pc.utf8_upper(pc.replace_substring_regex(array, r" ", ""))
        shaped = np.asarray(pc.match_substring_regex(text, r"^\d{17}[\dX]$").to_numpy(zero_copy_only=False), bool)
        fast = np.flatnonzero(shaped & ascii_mask)
        numbers = [str(x) for x in text.take(pa.array(fast, type=pa.int64())).to_pylist()] if len(fast) else []
        valid = _valid_ids(numbers)
        for i, number, ok in zip(fast, numbers, valid, strict=True):
            if ok:
                gender = "M" if int(number[16]) % 2 else "F"
                mapped[i] = (hash_id_number(number), gender, f"{number[6:10]}-{number[10:12]}-{number[12:14]}")
        slow = np.flatnonzero(~(shaped & ascii_mask))
        for i, value in zip(slow, _pmap(_card_facts, [uniques[i] for i in slow]), strict=True):
            mapped[i] = value
    return _split_fields(codes, mapped, (None, None, None))


def _valid_ids(numbers: list[str]) -> Array:
    """`pii.validate_id_number` succeeds, for 18-character numbers of 17 digits and a digit or X."""
    if not numbers:
        return np.zeros(0, dtype=bool)
    raw = np.frombuffer("".join(numbers).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
    digits = raw[:, :17].astype(np.int64) - ord("0")
    check = _ID_CHECK[(digits * _ID_WEIGHTS).sum(axis=1) % 11] == raw[:, 17]
    province = np.isin(digits[:, 0] * 10 + digits[:, 1], list(ID_PROVINCE_CODES))
    year = digits[:, 6] * 1000 + digits[:, 7] * 100 + digits[:, 8] * 10 + digits[:, 9]
    month = digits[:, 10] * 10 + digits[:, 11]
    day = digits[:, 12] * 10 + digits[:, 13]
    born = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day}), errors="coerce")
    today = pd.Timestamp(dt.date.today())
    real = born.notna().to_numpy() & (year >= 1900) & (born <= today).to_numpy()
    return np.asarray(check & province & real, dtype=bool)


def _email(raw: str) -> str | None:
    return nz.normalize_email(raw).value


def _vin(raw: str) -> str | None:
    return nz.normalize_vin(raw).value


def _strong_value(kind: str, chinese: bool) -> Callable[[str], str | None]:
    if kind == "phone":
        return partial(_phone, chinese=chinese)
    if kind == "email":
        return _email
    if kind == "vin":
        return _vin
    return nz.normalize_identifier


def _card_facts(raw: str) -> tuple[str | None, str | None, str | None]:
    """(keyed hash, gender, ISO birth date) of an ID number, or Nones."""
    card, _ = nz.parse_id_number(raw)
    if card is None:
        return None, None, None
    return hash_id_number(card.number), card.gender, card.birth_date.isoformat()


def _name_facts(
    key: str, names: list[str], given: list[str], family: list[str]
) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    columns = [*names, *given, *family]
    values = key.split("\x1f")
    record = dict(zip(columns, values + [""] * (len(columns) - len(values)), strict=True))
    name = _name(record, names, given, family)
    return name.full or None, name.key or None, name.surname_pinyin or None, name.given_pinyin or None, name.gender_hint


def _date_iso(raw: str, today: dt.date | None = None) -> str | None:
    value = nz.parse_date(raw, today)
    return value.isoformat() if value else None


def _text_facts(raw: str, split: bool) -> tuple[str | None, str, str, str]:
    """(rest of the text, province, city, district) of an address or free text."""
    text = nz.to_simplified(nz.fold(raw)).lower()
    if split and text:
        parts = split_address(text)
        return parts.rest or None, parts.province, parts.city, parts.district
    return text or None, "", "", ""


def _fill(current: Array, fallback: Array) -> Array:
    """`current or fallback`, element-wise (the normalisers give None or a non-empty value)."""
    return np.where(pd.isna(current) | (current == ""), fallback, current)


def prepare_frame(records: Iterable[Mapping[str, str]] | pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """`prepare_rows` for a whole batch, column by column: the same values as a DataFrame of
    `frame_columns(schema)` (text columns as Arrow strings, missing as null)."""
    source = _input_frame(records, schema)
    with _workers(len(source)):
        return _prepare_source(source, schema)


def prepare_batches(batches: Iterable[pa.Table], schema: Schema, *, workers: int = 2) -> Iterator[pa.Table]:
    """`prepare_frame` of each batch of raw text columns in turn, as Arrow tables, in order.

    Large files come a few hundred thousand records at a time: each batch is normalised in a
    forked worker process that ends when its batch is done, so the Python values the normalisers
    make (and the allocator's leftovers) go back to the system with it; at most `workers` batches
    are in flight. Values repeated across batches are normalised once per batch. Each result's
    `uid` counts from 0 within its batch."""
    if workers < 2 or (os.cpu_count() or 1) < 2 or "fork" not in mp.get_all_start_methods():
        for batch in batches:
            yield _prepare_table(batch, schema)
        return
    pool = mp.get_context("fork").Pool(workers, maxtasksperchild=1)
    try:
        flight: deque[Any] = deque()
        for batch in batches:
            flight.append(pool.apply_async(_prepare_table, (batch, schema)))
            if len(flight) >= workers:
                yield flight.popleft().get()
        while flight:
            yield flight.popleft().get()
    finally:
        pool.terminate()
        pool.join()


def _prepare_table(batch: pa.Table, schema: Schema) -> pa.Table:
    source = _input_frame(batch.to_pandas(types_mapper=pd.ArrowDtype), schema)
    with _workers(0 if mp.current_process().daemon else len(source)):
        prepared = _prepare_source(source, schema)
    return pa.Table.from_pandas(prepared, preserve_index=False)


def _prepare_source(source: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    n = len(source)
    kinds = schema.columns
    out: dict[str, Any] = {"uid": np.arange(n, dtype=np.int64)}
    out["rid"] = source[schema.record_id].fillna("").astype(str).to_numpy(dtype=object)
    card_gender: Array = np.full(n, None, dtype=object)
    card_birth: Array = np.full(n, None, dtype=object)
    for col in schema.of_kind(*STRONG_KIND_ORDER):
        kind = kinds[col]
        if kind == "id_card":
            out[f"s_{col}"], card_gender, card_birth = _id_cards(source[col])
        else:
            out[f"s_{col}"] = (
                _phones(source[col], schema.chinese)
                if kind == "phone"
                else _distinct_map(source[col], _strong_value(kind, schema.chinese))
            )
    names, given, family = schema.of_kind("name"), schema.of_kind("given_name"), schema.of_kind("family_name")
    if names or given or family:
        parts = [source[c].fillna("").astype(str) for c in [*names, *given, *family]]
        joined = parts[0].str.cat(parts[1:], sep="\x1f") if len(parts) > 1 else parts[0]
        facts = _distinct_fields(joined, partial(_name_facts, names=names, given=given, family=family))
    else:
        facts = [np.full(n, None, dtype=object) for _ in range(5)]
    for i, col in enumerate(("n_full", "n_key", "n_sur", "n_given")):
        out[col] = facts[i]
    gender = card_gender
    for col in schema.of_kind("gender"):
        gender = _fill(gender, _distinct_map(source[col], nz.normalize_gender))
    out["gender"] = _fill(gender, facts[4])
    for i, col in enumerate(schema.of_kind("date")):
        dates = _distinct_map(source[col], partial(_date_iso, today=dt.date.today()))
        out[f"d_{col}"] = _fill(dates, card_birth) if i == 0 else dates  # the ID card carries the birth date
    for col in schema.of_kind("category"):
        out[f"c_{col}"] = _distinct_map(source[col], partial(_category, column=col, chinese=schema.chinese))
    for col in schema.of_kind("address", "text"):
        split = schema.chinese and kinds[col] == "address"
        text_facts = _distinct_fields(source[col], partial(_text_facts, split=split))
        out[f"a_{col}"] = text_facts[0]
        if split:
            # An address fills missing place columns; explicit columns win.
            for i, level in enumerate(("province", "city", "district"), start=1):
                if f"c_{level}" in out:
                    found = text_facts[i].copy()
                    found[found == ""] = None
                    out[f"c_{level}"] = _fill(out[f"c_{level}"], found)
    frame = pd.DataFrame({"uid": out["uid"]})
    null = pa.scalar(None, pa.string())
    for col in frame_columns(schema)[1:]:
        array = pa.array(out[col], type=pa.string(), from_pandas=True)
        frame[col] = pd.arrays.ArrowExtensionArray(pc.if_else(pc.equal(array, ""), null, array))
    return frame

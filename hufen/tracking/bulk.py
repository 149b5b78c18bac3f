"""Column-wise checking for `hufen events import`: whole chunks of a file validated at once in DuckDB.

The row-at-a-time contract (`validation.validate_event` + `resolve.resolve`) stays the definition.
This module is a fast path that is exact by construction:

1. a reader (`importer.read_chunks`) turns the file into Arrow chunks (JSONL lines, CSV strings or
   typed Parquet columns) that keep each row's number in the file;
2. one DuckDB query per chunk extracts the contract's fields and checks every column vectorised
   (types, event_id pattern, catalogue names and required properties, ts parse + UTC, too far in the
   future, identifiers, channel, size). A row that passes every check is exactly what
   `validate_event` would return; any row that fails one — or merely looks unusual (odd spacing,
   a float where an integer belongs, duplicate keys) — is handed to `validate_event` itself, so the
   verdict and the reason are always the row validator's;
3. identifiers are resolved for the whole chunk with a few `IN (...)` queries and one join:
   person and dealer existence and scope, phone -> person (ContactPoint and the ONE ID index), unionid,
   openid, email, app user id -> person (the ONE ID index), device -> person
   (IdentityLink, and a device identified earlier in the same file), with `resolve`'s reasons.

The caller (the command) dedupes by event_id and writes the lake through `lake.append`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from hufen.common.actors import Actor, Scope
from hufen.people.models import Person
from hufen.tracking.catalogue import Catalogue
from hufen.tracking.resolve import (
    INVALID,
    SEVERAL,
    UNSEEN,
    _allowed_dealers,
    _existing,
    device_persons,
    identifier_holders,
    live_persons,
)
from hufen.tracking.validation import (
    ID_FIELDS,
    KNOWN_FIELDS,
    MAX_EVENT_ID,
    MAX_FUTURE,
    MAX_IDENTIFIER,
    MAX_PROPERTIES_BYTES,
    OLDEST,
    Event,
    Problem,
    validate_event,
)

# The clean rows of a chunk, in the lake's column order plus the row number and the raw identifiers.
CLEAN_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64()),
        pa.field("event_id", pa.string()),
        pa.field("event", pa.string()),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("person_id", pa.int64()),
        pa.field("phone", pa.string()),
        pa.field("anonymous_id", pa.string()),
        pa.field("dealer_id", pa.int64()),
        pa.field("channel", pa.string()),
        pa.field("properties", pa.string()),
        *(pa.field(name, pa.string()) for name in ID_FIELDS),
    ]
)
TEXT_FIELDS = ("event_id", "event", "phone", "anonymous_id", "channel", *ID_FIELDS)
RAW_IDENTIFIERS = ("phone", *ID_FIELDS)  # resolved to person_id, not kept in the lake
RESOLVED_NAMES = [n for n in CLEAN_SCHEMA.names if n not in RAW_IDENTIFIERS]
INT_FIELDS = ("person_id", "dealer_id")
# Only the plain ISO-8601 shape is parsed in SQL; everything else goes to `parse_ts` row by row.
TS_PATTERN = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
EVENT_ID_PATTERN = r"[A-Za-z0-9_.:\-]{1," + str(MAX_EVENT_ID) + "}"
CHANNEL_PATTERN = r"[a-z0-9_.\-]{1,40}"


@dataclass
class Chunk:
    """Rows of a file: `table` has an int64 `row` column (the row's number in the file) and either a
    `line` column (JSONL) or the file's own columns (CSV: all strings; Parquet: typed)."""

    kind: str  # "jsonl" | "columns"
    table: pa.Table
    raw: Callable[[int], Any]  # position in `table` -> the raw event, as the row reader yields it
    problems: list[tuple[int, Problem, Any]] = field(default_factory=list)  # rows unreadable as such


@dataclass
class Checked:
    clean: pa.Table  # CLEAN_SCHEMA minus the raw identifiers (RESOLVED_NAMES), resolved, in row order
    rejected: list[tuple[int, Problem, Any]]  # (row, problem, raw)
    slow_rows: int


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _text_sql(value: str, json_typed: bool) -> tuple[str, str]:
    """(value, ok) of a string field: "" and null mean absent, as in `raw.get(x) or None`."""
    if json_typed:
        return (
            f"CASE WHEN t[{value}] = 'VARCHAR' THEN nullif(s[{value}], '') END",
            f"coalesce(t[{value}], 'NULL') IN ('VARCHAR', 'NULL')",
        )
    return f"nullif({value}, '')", "true"


def _int_sql(value: str, json_typed: bool, arrow_type: pa.DataType | None) -> tuple[str, str]:
    digits = "regexp_full_match({s}, '[0-9]{{1,18}}')"
    if json_typed:
        kind = f"t[{value}]"
        text = f"s[{value}]"
        val = (
            f"CASE WHEN {kind} IN ('BIGINT', 'UBIGINT') THEN TRY_CAST({text} AS BIGINT) "
            f"WHEN {kind} = 'VARCHAR' AND {digits.format(s=text)} THEN CAST({text} AS BIGINT) END"
        )
        ok = (
            f"({kind} IS NULL OR {kind} = 'NULL' OR ({kind} = 'VARCHAR' AND {text} = '') "
            f"OR ({kind} IN ('BIGINT', 'UBIGINT') AND TRY_CAST({text} AS BIGINT) IS NOT NULL) "
            f"OR ({kind} = 'VARCHAR' AND {digits.format(s=text)}))"
        )
        return val, ok
    if arrow_type is not None and pa.types.is_integer(arrow_type):
        return f"TRY_CAST({value} AS BIGINT)", f"({value} IS NULL OR TRY_CAST({value} AS BIGINT) IS NOT NULL)"
    if arrow_type is not None and _is_text(arrow_type):
        return (
            f"CASE WHEN {digits.format(s=value)} THEN CAST({value} AS BIGINT) END",
            f"({value} IS NULL OR {value} = '' OR {digits.format(s=value)})",
        )
    return "CAST(NULL AS BIGINT)", f"({value} IS NULL)"


def _ts_sql(value: str, json_typed: bool, arrow_type: pa.DataType | None) -> str:
    if json_typed:
        text = f"s[{value}]"
        return (
            f"CASE WHEN t[{value}] = 'VARCHAR' AND regexp_full_match({text}, {_q(TS_PATTERN)}) "
            f"THEN TRY_CAST({text} AS TIMESTAMPTZ) END"
        )
    if arrow_type is not None and pa.types.is_timestamp(arrow_type) and arrow_type.tz is not None:
        return f"CAST({value} AS TIMESTAMPTZ)"
    if arrow_type is not None and _is_text(arrow_type):
        return f"CASE WHEN regexp_full_match({value}, {_q(TS_PATTERN)}) THEN TRY_CAST({value} AS TIMESTAMPTZ) END"
    return "CAST(NULL AS TIMESTAMPTZ)"  # naive timestamps and other types: `parse_ts` says why


def _properties_sql(value: str, json_typed: bool, arrow_type: pa.DataType | None) -> tuple[str, str]:
    """(text, ok): an object as JSON text (null when empty), as `validate_event` stores it."""
    distinct = "len(json_keys({s})) = len(list_distinct(json_keys({s})))"
    as_string = (
        "CASE WHEN {s} = '' THEN NULL WHEN NOT json_valid({s}) THEN {s} "
        "WHEN json_type({s}) = 'OBJECT' AND len(json_keys({s})) = 0 THEN NULL ELSE {s} END",
        "({s} IS NULL OR {s} = '' OR CASE WHEN starts_with({s}, '{{') AND ends_with({s}, '}}') AND json_valid({s}) "
        "THEN json_type({s}) = 'OBJECT' AND " + distinct + " ELSE false END)",
    )
    if json_typed:
        kind = f"t[{value}]"
        text = f"s[{value}]"
        obj = "CAST(p AS VARCHAR)"
        val = (
            f"CASE WHEN {kind} = 'OBJECT' THEN (CASE WHEN len(json_keys(p)) = 0 THEN NULL ELSE {obj} END) "
            f"WHEN {kind} = 'VARCHAR' THEN ({as_string[0].format(s=text)}) END"
        )
        ok = (
            f"({kind} IS NULL OR {kind} = 'NULL' OR ({kind} = 'OBJECT' AND {distinct.format(s='p')}) "
            f"OR ({kind} = 'VARCHAR' AND {as_string[1].format(s=text)}))"
        )
        return val, ok
    if arrow_type is not None and _is_text(arrow_type):
        return as_string[0].format(s=value), as_string[1].format(s=value)
    return "CAST(NULL AS VARCHAR)", f"({value} IS NULL)"


def _stage_sql(chunk: Chunk) -> str:
    """SELECT row, __pos, the contract's fields (typed) and `ok` (the format-level checks passed)."""
    known = ", ".join(_q(k) for k in sorted(KNOWN_FIELDS))
    exprs: dict[str, str] = {}
    oks: list[str] = []
    if chunk.kind == "jsonl":
        names = [
            "event_id",
            "event",
            "ts",
            "person_id",
            "phone",
            "anonymous_id",
            "dealer_id",
            "channel",
            "properties",
            *ID_FIELDS,
        ]
        paths = ", ".join(_q(f'$."{n}"') for n in names)
        source = (
            "(SELECT row, __pos, obj, CASE WHEN obj THEN json_keys(line) END AS keys, "
            f"CASE WHEN obj THEN json_type(line, [{paths}]) END AS t, "
            f"CASE WHEN obj THEN json_extract_string(line, [{paths}]) END AS s, "
            "CASE WHEN obj THEN json_extract(line, '$.\"properties\"') END AS p FROM "
            "(SELECT row, __pos, line, "
            "CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END AS obj FROM src))"
        )
        col = {n: str(i + 1) for i, n in enumerate(names)}
        oks += ["obj", f"len(list_filter(keys, lambda k: k NOT IN ({known}))) = 0"]
        oks.append("len(keys) = len(list_distinct(keys))")
        for n in TEXT_FIELDS:
            exprs[n], ok = _text_sql(col[n], True)
            oks.append(ok)
        for n in INT_FIELDS:
            exprs[n], ok = _int_sql(col[n], True, None)
            oks.append(ok)
        exprs["ts"] = _ts_sql(col["ts"], True, None)
        exprs["properties"], ok = _properties_sql(col["properties"], True, None)
        oks.append(ok)
    else:
        schema = chunk.table.schema
        source = "src"
        present = {n: schema.field(n).type for n in schema.names if n not in ("row", "__pos")}
        for n, typ in present.items():
            if n not in KNOWN_FIELDS:  # an unknown column may be there as long as it is empty
                empty = f"{_ident(n)} IS NULL" + (f" OR {_ident(n)} = ''" if _is_text(typ) else "")
                oks.append(f"({empty})")

        def text_col(n: str) -> tuple[str, str]:
            typ = present.get(n)
            if typ is None or pa.types.is_null(typ):
                return "CAST(NULL AS VARCHAR)", "true"
            if _is_text(typ):
                return _text_sql(_ident(n), False)
            return "CAST(NULL AS VARCHAR)", f"({_ident(n)} IS NULL)"

        for n in TEXT_FIELDS:
            exprs[n], ok = text_col(n)
            oks.append(ok)
        for n in INT_FIELDS:
            typ = present.get(n)
            if typ is None or pa.types.is_null(typ):
                exprs[n] = "CAST(NULL AS BIGINT)"
            else:
                exprs[n], ok = _int_sql(_ident(n), False, typ)
                oks.append(ok)
        typ = present.get("ts")
        exprs["ts"] = "CAST(NULL AS TIMESTAMPTZ)" if typ is None else _ts_sql(_ident("ts"), False, typ)
        typ = present.get("properties")
        if typ is None or pa.types.is_null(typ):
            exprs["properties"] = "CAST(NULL AS VARCHAR)"
        else:
            exprs["properties"], ok = _properties_sql(_ident("properties"), False, typ)
            oks.append(ok)
    fields = ", ".join(f"{exprs[n]} AS {n}" for n in CLEAN_SCHEMA.names if n != "row")
    ok_sql = " AND ".join(f"coalesce({o}, false)" for o in oks) or "true"
    return f"SELECT row, __pos, {fields}, {ok_sql} AS ok FROM {source}"


def _is_text(typ: pa.DataType) -> bool:
    return bool(pa.types.is_string(typ) or pa.types.is_large_string(typ))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _check_sql(stage: str, now: dt.datetime, catalogue: Catalogue) -> str:
    """`good`: the row is exactly what `validate_event` returns for it."""
    newest = (now + MAX_FUTURE).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
    oldest = OLDEST.strftime("%Y-%m-%d %H:%M:%S+00")
    required = (
        "CASE WHEN NOT s.ok THEN false ELSE coalesce(len(list_filter(cat.required, lambda k: "
        "coalesce(json_type(s.properties, '$.\"' || k || '\"'), 'NULL') = 'NULL' "
        "OR (json_type(s.properties, '$.\"' || k || '\"') = 'VARCHAR' "
        "AND (s.properties ->> ('$.\"' || k || '\"')) = ''))) = 0, true) END"
    )
    known = "cat.name IS NOT NULL" if not catalogue.allow_custom else "true"
    good = " AND ".join(
        [
            "s.ok",
            f"regexp_full_match(s.event_id, {_q(EVENT_ID_PATTERN)})",
            "s.event IS NOT NULL",
            known,
            f"s.ts <= TIMESTAMPTZ {_q(newest)}",
            f"s.ts >= TIMESTAMPTZ {_q(oldest)}",
            "(s.person_id IS NULL OR s.person_id >= 1)",
            "(s.dealer_id IS NULL OR s.dealer_id >= 1)",
            "(s.anonymous_id IS NULL OR length(s.anonymous_id) <= 128)",
            *(f"(s.{n} IS NULL OR length(s.{n}) <= {MAX_IDENTIFIER})" for n in ID_FIELDS),
            # U+0000 (`validation.NUL`): `validate_event` says which field carries it.
            *(f"(s.{n} IS NULL OR NOT contains(s.{n}, chr(0)))" for n in ("event", "anonymous_id", *ID_FIELDS)),
            "(" + " OR ".join(f"s.{n} IS NOT NULL" for n in ("person_id", "anonymous_id", *RAW_IDENTIFIERS)) + ")",
            f"(s.channel IS NULL OR regexp_full_match(s.channel, {_q(CHANNEL_PATTERN)}))",
            f"(s.properties IS NULL OR strlen(s.properties) <= {MAX_PROPERTIES_BYTES})",
            required,
        ]
    )
    return f"SELECT s.*, coalesce({good}, false) AS good FROM ({stage}) s LEFT JOIN cat ON s.event = cat.name"


def _events_table(rows: Sequence[tuple[int, Event]]) -> pa.Table:
    cols: list[list[Any]] = [[] for _ in CLEAN_SCHEMA.names]
    for row, ev in rows:
        values = (row, ev.event_id, ev.event, ev.ts, ev.person_id, ev.phone, ev.anonymous_id, ev.dealer_id)
        ids = (ev.unionid, ev.openid, ev.email, ev.app_user_id)
        for i, value in enumerate((*values, ev.channel, ev.properties, *ids)):
            cols[i].append(value)
    return pa.Table.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(cols, CLEAN_SCHEMA, strict=True)], schema=CLEAN_SCHEMA
    )


class BulkChecker:
    """Checks the chunks of one file for one actor; devices identified earlier in the file carry over."""

    def __init__(self, actor: Actor, catalogue: Catalogue, now: dt.datetime) -> None:
        self.actor = actor
        self.catalogue = catalogue
        self.now = now
        self.own_dealer = actor.dealer_id if actor.scope in (Scope.DEALER, Scope.GRID) else None
        self.file_links: dict[str, int] = {}  # devices linked by an earlier row of this file
        self.stored_links: dict[str, int | None] = {}  # IdentityLink rows looked up so far (None: none)
        self.con = duckdb.connect(config={"threads": 2})
        names = sorted(catalogue.required)
        cat = pa.table(
            {
                "name": pa.array(names, pa.string()),
                "required": pa.array([list(catalogue.required[n]) for n in names], pa.list_(pa.string())),
            }
        )
        self.con.register("cat", cat)

    def close(self) -> None:
        self.con.close()

    def check(self, chunk: Chunk) -> Checked:
        src = chunk.table.append_column("__pos", pa.array(range(chunk.table.num_rows), pa.int64()))
        self.con.register("src", src)
        try:
            staged = self.con.sql(_check_sql(_stage_sql(chunk), self.now, self.catalogue)).to_arrow_table()
        finally:
            self.con.unregister("src")
        good = staged.column("good")
        fast = staged.filter(good).select(CLEAN_SCHEMA.names).cast(CLEAN_SCHEMA)
        rejected = list(chunk.problems)
        slow: list[tuple[int, Event]] = []
        bad = staged.filter(pc.invert(good)).select(["row", "__pos"]).to_pydict()
        for row, pos in zip(bad["row"], bad["__pos"], strict=True):
            raw = chunk.raw(pos)
            if raw is None:  # a line of Unicode spaces: no row, as in the row reader
                continue
            if isinstance(raw, Problem):  # a line that is not a JSON object
                rejected.append((row, raw, None))
                continue
            outcome = validate_event(raw, self.catalogue, self.now)
            if isinstance(outcome, Problem):
                rejected.append((row, outcome, raw))
            else:
                slow.append((row, outcome))
        clean = pa.concat_tables([fast, _events_table(slow)]) if slow else fast
        clean = clean.sort_by("row")
        resolved, problems = self._resolve(clean)
        if problems:
            positions = dict(zip(staged.column("row").to_pylist(), staged.column("__pos").to_pylist(), strict=True))
            rejected += [(row, problem, chunk.raw(positions[row])) for row, problem in problems]
        rejected.sort(key=lambda r: r[0])
        return Checked(resolved, rejected, len(bad["row"]))

    def _resolve(self, clean: pa.Table) -> tuple[pa.Table, list[tuple[int, Problem]]]:
        """`resolve.resolve` for a whole chunk: one join instead of a loop."""
        persons = _existing(_distinct(clean, "person_id"), Person)
        live = live_persons(persons)
        dealers = _allowed_dealers(self.actor, _distinct(clean, "dealer_id"))
        holders = identifier_holders((f, v) for f in RAW_IDENTIFIERS for v in _distinct(clean, f))
        anon_ids = _distinct(clean, "anonymous_id")
        unknown = sorted(set(anon_ids) - self.file_links.keys() - self.stored_links.keys())
        self.stored_links.update(dict.fromkeys(unknown))
        self.stored_links.update(device_persons(unknown))
        links: dict[str, int] = {}
        for anon in anon_ids:
            person = self.file_links.get(anon) or self.stored_links.get(anon)
            if person is not None:
                links[anon] = person
        con = self.con
        con.register("clean", clean)
        con.register(
            "persons",
            pa.table({"id": pa.array(list(live), pa.int64()), "live": pa.array(list(live.values()), pa.int64())}),
        )
        con.register("dealers", pa.table({"id": pa.array(sorted(dealers), pa.int64())}))
        keys = list(holders)
        con.register(
            "idents",
            pa.table(
                {
                    "field": pa.array([k[0] for k in keys], pa.string()),
                    "raw": pa.array([k[1] for k in keys], pa.string()),
                    "normal": pa.array([holders[k].normal is not None for k in keys], pa.bool_()),
                    "n": pa.array([len(holders[k].persons) for k in keys], pa.int64()),
                    "holder": pa.array([(holders[k].persons or (None,))[0] for k in keys], pa.int64()),
                }
            ),
        )
        con.register(
            "links",
            pa.table(
                {"anon": pa.array(list(links), pa.string()), "person": pa.array(list(links.values()), pa.int64())}
            ),
        )
        try:
            present = tuple(f for f in RAW_IDENTIFIERS if clean.column(f).null_count < clean.num_rows)
            table = con.sql(_resolve_sql(self.own_dealer, present)).to_arrow_table()
        finally:
            for name in ("clean", "persons", "dealers", "idents", "links"):
                con.unregister(name)
        failed = table.filter(pc.is_valid(table.column("problem"))).select(["row", "problem"]).to_pydict()
        problems = []
        for row, text in zip(failed["row"], failed["problem"], strict=True):
            name, _, reason = text.partition("|")
            problems.append((row, Problem(name, reason)))
        new = table.filter(table.column("links_device")).select(["anonymous_id", "link_person"]).to_pydict()
        self.file_links.update(zip(new["anonymous_id"], new["link_person"], strict=True))
        ok = table.filter(pc.is_null(table.column("problem")))
        return ok.select(RESOLVED_NAMES), problems


def _resolve_sql(own_dealer: int | None, present: Sequence[str] = RAW_IDENTIFIERS) -> str:
    """The row resolver's checks (`resolve._resolve_one`), in its order, as one query over a chunk.

    `present`: the identifier columns with a value in the chunk (the others are null throughout and
    decide nothing, so they are not joined)."""
    own = "NULL" if own_dealer is None else str(int(own_dealer))
    present = [f for f in RAW_IDENTIFIERS if f in present]
    joins = "\n".join(f"LEFT JOIN idents i_{f} ON i_{f}.field = {_q(f)} AND i_{f}.raw = c.{f}" for f in present)
    picks = "".join(
        f", i_{f}.normal AS {f}_normal, coalesce(i_{f}.n, 0) AS {f}_n, i_{f}.holder AS {f}_holder" for f in present
    )
    cases = [
        f"WHEN d IS NOT NULL AND NOT dealer_ok AND d IS DISTINCT FROM CAST({own} AS BIGINT) "
        "THEN 'dealer_id|dealer ' || d || ' does not exist or is outside your data scope'",
        "WHEN person_id IS NOT NULL AND NOT person_ok THEN 'person_id|person ' || person_id || ' does not exist'",
    ]
    for k, f in enumerate(present):
        earlier = present[:k]
        prior = "coalesce(" + ", ".join(["person_live", *(f"{e}_holder" for e in earlier)]) + ")"
        named = (
            "CASE WHEN person_id IS NOT NULL THEN 'person_id' "
            + "".join(f"WHEN {e} IS NOT NULL THEN {_q(e)} " for e in earlier)
            + "END"
        )
        invalid = INVALID.get(f, "is empty once spaces are removed")
        cases += [
            f"WHEN {f} IS NOT NULL AND NOT {f}_normal THEN {_q(f + '|' + invalid)}",
            f"WHEN {f} IS NOT NULL AND {f}_n = 0 THEN {_q(f + '|' + UNSEEN[f])}",
            f"WHEN {f} IS NOT NULL AND {f}_n > 1 THEN {_q(f + '|' + SEVERAL)}",
            f"WHEN {f} IS NOT NULL AND {prior} IS NOT NULL AND {prior} <> {f}_holder "
            f"THEN {_q(f + '|belongs to another person than ')} || {named}",
        ]
    person1 = "coalesce(" + ", ".join(["person_id", *(f"{f}_holder" for f in present)]) + ")"
    return f"""
        WITH r AS (
            SELECT c.*, coalesce(c.dealer_id, CAST({own} AS BIGINT)) AS d,
                dl.id IS NOT NULL AS dealer_ok, pe.id IS NOT NULL AS person_ok, pe.live AS person_live{picks}
            FROM clean c
            LEFT JOIN dealers dl ON dl.id = coalesce(c.dealer_id, CAST({own} AS BIGINT))
            LEFT JOIN persons pe ON pe.id = c.person_id
            {joins}
        ), p AS (
            SELECT r.*, CASE {" ".join(cases)} END AS problem, {person1} AS person1
            FROM r
        ), firsts AS (  -- a device seen with a person for the first time in this chunk
            SELECT anonymous_id AS anon, arg_min(person1, row) AS person, min(row) AS first_row
            FROM p
            WHERE problem IS NULL AND anonymous_id IS NOT NULL AND person1 IS NOT NULL
                AND anonymous_id NOT IN (SELECT anon FROM links)
            GROUP BY anonymous_id
        )
        SELECT p.row, p.problem, p.event_id, p.event, p.ts,
            CASE WHEN p.person1 IS NOT NULL OR p.anonymous_id IS NULL THEN p.person1
                ELSE coalesce(l.person, CASE WHEN p.row > f.first_row THEN f.person END) END AS person_id,
            p.anonymous_id, p.d AS dealer_id, p.channel, p.properties,
            f.anon IS NOT NULL AND f.first_row = p.row AS links_device, f.person AS link_person
        FROM p LEFT JOIN links l ON l.anon = p.anonymous_id LEFT JOIN firsts f ON f.anon = p.anonymous_id
        ORDER BY p.row
    """


def _distinct(table: pa.Table, name: str) -> list[Any]:
    return [v for v in pc.unique(table.column(name)).to_pylist() if v is not None]


def dedupe_first(tables: Sequence[pa.Table]) -> tuple[pa.Table, int]:
    """All chunks' clean rows with each event_id's first row only; and how many were dropped."""
    if not tables:
        empty = pa.schema([CLEAN_SCHEMA.field(n) for n in RESOLVED_NAMES])
        return pa.Table.from_batches([], schema=empty), 0
    table = pa.concat_tables(tables)
    if pc.count_distinct(table.column("event_id")).as_py() == table.num_rows:
        return table, 0
    con = duckdb.connect(config={"threads": 2})
    try:
        con.register("t", table)
        kept = con.sql(
            "SELECT * EXCLUDE (rn) FROM (SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY row) AS rn "
            "FROM t) WHERE rn = 1 ORDER BY row"
        ).to_arrow_table()
    finally:
        con.close()
    return kept, table.num_rows - kept.num_rows


def payload_of(raw: Any) -> str:
    return json.dumps(raw, ensure_ascii=False, default=str)[:20000] if isinstance(raw, dict) else ""

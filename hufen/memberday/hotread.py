"""The check-in's one read, compiled once per actor and kept: building it is the hot path's main cost.

The read (member, brand, home dealer, data scope, today's Member Day, today's check-in, the
Idempotency-Key's earlier answer — see `checkin.checkin_queryset`) is a dozen subqueries; the ORM
spends several CPU milliseconds assembling and compiling it, more than the database spends running
it. So it is compiled ONCE per (database, actor, with or without a key) with marker values in place
of the member id, the clock and the key, and the SQL is kept with a plan saying which parameter is
which. A call fills in its own values and runs the SQL on a plain cursor.

Only the markers vary between calls; everything the actor contributes (its scope's dealers, brands,
person) is part of the kept statement, which is why the actor is part of the cache key. When a marker
cannot be found in the compiled parameters (a backend that inlines them), the read falls back to the
ORM every time, so the result never depends on this cache.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from hufen.common.actors import Actor
from hufen.membership.models import Member, Program
from hufen.org.models import Brand

MEMBER_MARK = -7_654_321_987
NOW_MARK = dt.datetime(1901, 2, 3, 4, 5, 6, 789012, tzinfo=dt.UTC)
SCOPE_MARK = "\u2063hufen-scope-mark"
KEY_MARK = "\u2063hufen-key-mark"

FIELDS = (
    "id",
    "person_id",
    "status",
    "number",
    "program_id",
    "program__brand_id",
    "program__brand__code",
    "program__brand__name",
    "program__brand__time_zone",
)
DATES = {"day_date"}
DATETIMES = {"ci_checked_in_at"}
BOOLEANS = {"in_scope"}
MAX_KEPT = 2_000

Build = Callable[[int, dt.datetime, tuple[str, str] | None], QuerySet[Member]]
_KEPT: dict[tuple[Any, ...], tuple[str, list[tuple[str, Any]], list[str]] | None] = {}
_LOCK = threading.Lock()


def _compile(build: Build, with_key: bool) -> tuple[str, list[tuple[str, Any]], list[str]] | None:
    qs = build(MEMBER_MARK, NOW_MARK, (SCOPE_MARK, KEY_MARK) if with_key else None)
    values = qs.values_list(*FIELDS, *qs.query.annotations)[:1]
    # The columns in the order the SQL selects them (values_list reorders only when it iterates).
    names = [*values.query.extra_select, *values.query.values_select, *values.query.annotation_select]
    sql, params = values.query.get_compiler(connection.alias).as_sql()
    now_forms = {NOW_MARK, connection.ops.adapt_datetimefield_value(NOW_MARK)}
    plan: list[tuple[str, Any]] = []
    for p in params:
        if p == MEMBER_MARK:
            plan.append(("member", None))
        elif isinstance(p, (str, dt.datetime)) and p in now_forms:
            plan.append(("now_adapted" if isinstance(p, str) else "now", None))
        elif p == SCOPE_MARK:
            plan.append(("scope", None))
        elif p == KEY_MARK:
            plan.append(("key", None))
        else:
            plan.append(("const", p))
    roles = {r for r, _ in plan}
    if "member" not in roles or not roles & {"now", "now_adapted"} or (with_key and not {"scope", "key"} <= roles):
        return None
    return sql, plan, names


def _value(role: str, const: Any, member_id: int, now: dt.datetime, key: tuple[str, str] | None) -> Any:
    if role == "member":
        return member_id
    if role == "now":
        return now
    if role == "now_adapted":
        return connection.ops.adapt_datetimefield_value(now)
    if role == "scope":
        return key[0] if key else None
    if role == "key":
        return key[1] if key else None
    return const


def _convert(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in DATES and isinstance(value, str):
        return parse_date(value)
    if name in DATETIMES:
        parsed = parse_datetime(value) if isinstance(value, str) else value
        # SQLite stores UTC without an offset; PostgreSQL answers aware datetimes.
        return parsed.replace(tzinfo=dt.UTC) if parsed is not None and parsed.tzinfo is None else parsed
    if name in BOOLEANS:
        return bool(value)
    return value


def _member(row: dict[str, Any]) -> Member:
    brand = Brand(
        pk=row["program__brand_id"],
        code=row["program__brand__code"],
        name=row["program__brand__name"],
        time_zone=row["program__brand__time_zone"],
    )
    program = Program(pk=row["program_id"], brand=brand)
    member = Member(pk=row["id"], person_id=row["person_id"], status=row["status"], number=row["number"])
    member.program = program
    for name, value in row.items():
        if name not in FIELDS:
            setattr(member, name, value)
    return member


Kept = tuple[str, list[tuple[str, Any]], list[str]]


def kept_read(actor: Actor, with_key: bool, build: Build) -> Kept | None:
    """The read's SQL, its parameter plan and its column names, compiled once per actor (None: this
    backend inlines parameters, so the read cannot be kept)."""
    cache_key = (connection.alias, connection.vendor, actor, with_key)
    if cache_key not in _KEPT:
        compiled = _compile(build, with_key)
        with _LOCK:
            if len(_KEPT) >= MAX_KEPT:
                _KEPT.clear()
            _KEPT[cache_key] = compiled
    return _KEPT[cache_key]


def read_params(kept: Kept, member_id: int, now: dt.datetime, key: tuple[str, str] | None) -> list[Any]:
    return [_value(role, const, member_id, now, key) for role, const in kept[1]]


def member_of_row(names: list[str], found: tuple[Any, ...]) -> Member:
    """A partial Member (with its program and brand) carrying the read's annotations as attributes."""
    return _member({n: _convert(n, v) for n, v in zip(names, found, strict=True)})


def compiled_read(
    actor: Actor, member_id: int, now: dt.datetime, key: tuple[str, str] | None, build: Build
) -> Member | None:
    """The member row of `build(member_id, now, key)`, from SQL compiled once per actor."""
    kept = kept_read(actor, key is not None, build)
    if kept is None:
        return build(member_id, now, key).first()
    sql, _, names = kept
    with connection.cursor() as cursor:
        cursor.execute(sql, read_params(kept, member_id, now, key))
        found = cursor.fetchone()
    if found is None:
        return None
    return member_of_row(names, found)

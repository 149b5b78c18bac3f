"""The check-in as ONE prepared statement on PostgreSQL: read, check-in row, audit, event, key record,
for one request or for several at once.

`checkin.memberday_check_in` is the path thousands of owners hit within minutes of midnight on Member
Day. On PostgreSQL its common outcomes — a first check-in (201) and a repeat tap answered from the
check-in already there (200) — are one statement, whose input is a list of requests (one jsonb
parameter, `INPUT`):

    WITH i AS (the requests: jsonb_to_recordset, numbered n),
         r AS (per request, one read: member, brand, home dealer, data scope, today's Member Day
               (LATERAL), today's check-in and the Idempotency-Key's earlier answer (joins on their
               unique keys)),
         ok  AS (r where the member is active, today is its brand's Member Day and the actor may act
                 for it),
         ins AS (INSERT the check-ins FROM ok, where there is none today and the key is new,
                 ON CONFLICT (occurrence, member) DO NOTHING),
         aud AS (INSERT the audit rows FROM ins),
         ev  AS (INSERT the `memberday_checked_in` events (the ONE DATA outbox) FROM ins),
         k   AS (INSERT the keys' records FROM ok: 201 with the new check-in, 200 with the old one)
    SELECT per request n: the new check-in's id and the read's row

A single statement is atomic without BEGIN/COMMIT round trips, and it is prepared once per database
connection (psycopg `prepare=True`) with a generic plan (`plan_cache_mode`), so the server neither
parses nor plans it again. The requests of one statement share its round trip, executor start and
commit: `group.py` gathers the check-ins a server process's threads make at the same moment into one
(0.7 ms of PostgreSQL CPU for one alone, 0.3 for each of eight, 0.24 for each of 32, measured
in-process). The read is written here rather than compiled from the ORM: a dozen scalar subqueries
(hotread.py) made a plan PostgreSQL spent more time setting up and binding than running. Only the
data-scope test is the ORM's own (`Person.objects.visible_to`, compiled once per data scope and
correlated to the member's person), so scope rules live in one place.

A retry with the same Idempotency-Key and the same request is answered from the read too. Everything
else — an error to explain (unknown member, outside the scope, not a Member Day, inactive member),
the key used for another request, a race lost to a concurrent tap of the same member or a concurrent
use of the same key — writes nothing for that request (the key insert has no ON CONFLICT: a concurrent
use of the key fails the whole statement, and each of its requests runs again alone) and answers
None, and the caller runs the general path (`checkin._check_in_general`), which explains or answers it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import re
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from hufen.common.actors import Actor, Role
from hufen.common.models import AuditEvent, DomainEvent, IdempotencyRecord
from hufen.memberday.access import needs_scope_check
from hufen.memberday.models import CheckIn, Occurrence
from hufen.membership.models import Member, Program
from hufen.org.models import Brand
from hufen.people.models import Ownership, Person, Vehicle, VehicleModel

PERSON_MARK = -7_654_321_988
MAX_KEPT = 2_000
COLUMNS = (
    "id", "person_id", "status", "brand_id", "brand_code", "home_dealer_id", "in_scope", "day_id", "day_date",
    "day_points", "ci_id", "ci_points", "ci_entry_id", "ci_checked_in_at", "ci_points_status", "key_status",
    "key_digest",
)  # fmt: skip
# One check-in request: the columns of the statement's input, with their types. The requests arrive as
# ONE jsonb parameter (a list of objects): psycopg dumps a Python list as an array element by element in
# Python (0.6 ms for a dozen one-element arrays); `json.dumps` of the list costs microseconds, and
# `jsonb_to_recordset` reads it in the server for less.
INPUT = (
    ("n", "int"), ("member_id", "bigint"), ("now", "timestamptz"), ("wall", "timestamptz"), ("channel", "text"),
    ("label", "text"), ("kind", "text"), ("user_id", "bigint"), ("client_id", "bigint"), ("event_id", "uuid"),
    ("key_scope", "text"), ("key", "text"), ("digest", "text"),
)  # fmt: skip


@dataclass(frozen=True)
class Hot:
    checkin: CheckIn
    created: bool
    replayed: bool
    counted: bool = False  # the live figures were updated already (by the group's leader, for its batch)


@dataclass(frozen=True)
class Statement:
    """The prepared text ($n placeholders) and the constants of its data-scope test, per actor."""

    sql: str
    scope_params: tuple[Any, ...]
    with_key: bool


_KEPT: dict[tuple[Any, ...], Statement | None] = {}
_GENERIC: weakref.WeakSet[Any] = weakref.WeakSet()  # connections told to keep the generic plan
_LOCK = threading.Lock()


def eligible(actor: Actor, member_id: int) -> bool:
    """Whether this actor's check-in for this member can take the one-statement path at all: the
    database is PostgreSQL and the actor's right to act for the member is decided by the statement
    (its data scope) or by the actor alone. Any other case takes the general path, which explains."""
    if connection.vendor != "postgresql":
        return False
    if actor.role == Role.MEMBER:
        return actor.member_id == member_id
    return actor.role == Role.SYSTEM or actor.has_perm("points.adjust")


def _scope_test(actor: Actor) -> tuple[str, list[Any]] | None:
    """`EXISTS (the actor's visible persons, for the member's person)` as SQL and parameters, from the
    ORM (one place for scope rules); ("true", []) when the actor needs no scope test; None when the
    compiled SQL cannot be correlated (then the general path is used)."""
    if not needs_scope_check(actor):
        return "true", []
    query = Person.objects.visible_to(actor).filter(pk=PERSON_MARK).values("pk").query
    sql, compiled = query.get_compiler(connection.alias).as_sql()
    params = list(compiled)
    spots = [m.start() for m in re.finditer(r"(?<!%)%s", sql)]
    marks = [i for i, p in enumerate(params) if p == PERSON_MARK]
    if len(spots) != len(params) or len(marks) != 1:
        return None
    at = spots[marks[0]]
    del params[marks[0]]
    return f"EXISTS ({sql[:at]}m.person_id{sql[at + 2 :]})", params


def _build(actor: Actor, with_key: bool) -> Statement | None:
    scope = _scope_test(actor)
    if scope is None:
        return None
    scope_sql, scope_params = scope
    t = {
        "member": Member._meta.db_table,
        "program": Program._meta.db_table,
        "brand": Brand._meta.db_table,
        "ownership": Ownership._meta.db_table,
        "vehicle": Vehicle._meta.db_table,
        "model": VehicleModel._meta.db_table,
        "occurrence": Occurrence._meta.db_table,
        "checkin": CheckIn._meta.db_table,
        "audit": AuditEvent._meta.db_table,
        "event": DomainEvent._meta.db_table,
        "record": IdempotencyRecord._meta.db_table,
    }
    key_columns = "k.status_code, k.request_hash" if with_key else "NULL::smallint, NULL::varchar"
    key_join = "\n    LEFT JOIN {record} k ON k.scope = i.key_scope AND k.key = i.key".format(**t) if with_key else ""
    new_key = " AND ok.key_status IS NULL" if with_key else ""
    status = "CASE WHEN ok.day_points > 0 THEN 'pending' ELSE 'none' END"
    key_cte = (
        f""",
k AS (
  INSERT INTO {t["record"]} (scope, key, request_hash, status_code, response, created_at)
  SELECT ok.key_scope, ok.key, ok.digest, CASE WHEN ins.id IS NULL THEN 200 ELSE 201 END,
         jsonb_build_object('checkin_id', COALESCE(ins.id, ok.ci_id)), ok.wall
    FROM ok LEFT JOIN ins ON ins.member_id = ok.id
   WHERE ok.key_status IS NULL AND COALESCE(ins.id, ok.ci_id) IS NOT NULL
)"""
        if with_key
        else ""
    )
    # Parameters in the order they appear: the requests (jsonb, see `INPUT`), then the scope's constants.
    sql = f"""WITH i AS (
  SELECT * FROM jsonb_to_recordset(%s::jsonb) AS i ({", ".join(f"{name} {kind}" for name, kind in INPUT)})
),
r (n, {", ".join(COLUMNS)}) AS (
  SELECT i.n, m.id, m.person_id, m.status, p.brand_id, b.code,
         (SELECT o.dealer_id FROM {t["ownership"]} o
            JOIN {t["vehicle"]} v ON v.id = o.vehicle_id JOIN {t["model"]} vm ON vm.id = v.model_id
           WHERE o.person_id = m.person_id AND o.ended_at IS NULL AND vm.brand_id = p.brand_id
           ORDER BY o.delivered_at DESC, o.id DESC LIMIT 1),
         {scope_sql},
         d.id, d.day, d.checkin_points,
         c.id, c.points, c.entry_id, c.checked_in_at, c.points_status,
         {key_columns}
    FROM i
    JOIN {t["member"]} m ON m.id = i.member_id
    JOIN {t["program"]} p ON p.id = m.program_id
    JOIN {t["brand"]} b ON b.id = p.brand_id
    LEFT JOIN LATERAL (
      SELECT o.id, o.day, o.checkin_points FROM {t["occurrence"]} o
       WHERE o.brand_id = p.brand_id AND o.starts_at <= i.now AND o.ends_at > i.now
       ORDER BY o.day DESC, o.id LIMIT 1) d ON true
    LEFT JOIN {t["checkin"]} c ON c.occurrence_id = d.id AND c.member_id = m.id{key_join}
),
ok AS (
  SELECT * FROM r JOIN i USING (n) WHERE r.status = 'active' AND r.day_id IS NOT NULL AND r.in_scope
),
ins AS (
  INSERT INTO {t["checkin"]} (occurrence_id, member_id, person_id, dealer_id, points, entry_id, channel,
                         actor_label, checked_in_at, points_status)
  SELECT ok.day_id, ok.id, ok.person_id, ok.home_dealer_id, ok.day_points, NULL, ok.channel, ok.label, ok.now,
         {status}
    FROM ok WHERE ok.ci_id IS NULL{new_key}
  ON CONFLICT (occurrence_id, member_id) DO NOTHING
  RETURNING id, member_id
),
aud AS (
  INSERT INTO {t["audit"]} (occurred_at, actor_kind, actor_label, actor_user_id, actor_api_client_id, action,
                       object_type, object_id, summary, reason, ip_address)
  SELECT ok.wall, ok.kind, ok.label, ok.user_id, ok.client_id, 'memberday.check_in', 'memberday_checkin',
         ins.id::text, jsonb_build_object('occurrence_id', ok.day_id, 'member_id', ok.id, 'points', ok.day_points),
         '', NULL
    FROM ins JOIN ok ON ok.id = ins.member_id
),
ev AS (
  INSERT INTO {t["event"]} (event_id, name, ts, person_id, dealer_id, channel, properties)
  SELECT ok.event_id, 'memberday_checked_in', ok.now, ok.person_id, ok.home_dealer_id, ok.channel,
         jsonb_build_object('occurrence_id', ok.day_id, 'day', to_char(ok.day_date, 'YYYY-MM-DD'),
                            'brand', ok.brand_code, 'member_id', ok.id, 'checkin_id', ins.id,
                            'points', ok.day_points, 'points_status', {status})
    FROM ins JOIN ok ON ok.id = ins.member_id
){key_cte}
SELECT i.n, ins.id, {", ".join("r." + c for c in COLUMNS)}
  FROM i LEFT JOIN r USING (n) LEFT JOIN ins ON ins.member_id = r.id
 ORDER BY i.n"""
    # PostgreSQL's own $n placeholders, numbered once here: psycopg's raw cursor then sends the text
    # as it is (its %s parser does not cache statements this long and would re-split it every call).
    numbers = iter(range(1, 10_000))
    sql = re.sub(r"(?<!%)%s", lambda _: f"${next(numbers)}", sql).replace("%%", "%")
    return Statement(sql, tuple(scope_params), with_key)


def _scope_facts(actor: Actor) -> tuple[Any, ...]:
    """What the actor's statement depends on. Only its data-scope test does: `true` for every member,
    the system and HQ; otherwise `Person.objects.visible_to(actor)`, drawn from the actor's scope and
    the facts scopes are made of (`people.querysets.person_scope`: the staff id of a grid, the region,
    the dealer, the brands), never its name, user or permissions. All of those facts, not only its
    scope's: one more statement for a dealer's staff member, and no scope rule that could go stale."""
    if not needs_scope_check(actor):
        return ()
    return (actor.scope, actor.staff_id, actor.region_id, actor.dealer_id, actor.brand_ids, actor.person_id)


def kept_statement(actor: Actor, with_key: bool) -> Statement | None:
    """The statement for this actor, built once per (database, data-scope test, with or without a
    key): one for all members, so a crowd of them does not churn the kept statements."""
    cache_key = (connection.alias, _scope_facts(actor), with_key)
    if cache_key not in _KEPT:
        built = _build(actor, with_key)
        with _LOCK:
            if len(_KEPT) >= MAX_KEPT:
                _KEPT.clear()
            _KEPT[cache_key] = built
    return _KEPT[cache_key]


@dataclass(frozen=True)
class Request:
    """One check-in request for the statement: who asks, for which member, through which channel, when
    (`now`: the Member Day clock; `wall`: the audit's), with which key (scope, key, digest) and the id
    its event gets."""

    actor: Actor
    member_id: Any
    channel: str
    now: Any
    key: tuple[Any, Any, Any] | None
    wall: Any = dataclasses.field(default_factory=timezone.now)
    event_id: Any = dataclasses.field(default_factory=uuid.uuid4)


def statement_rows(requests: Sequence[Request]) -> list[dict[str, Any]]:
    """The requests as the statement's input rows (`INPUT`), numbered from 1."""
    return [
        {
            "n": n,
            "member_id": r.member_id,
            "now": r.now,
            "wall": r.wall,
            "channel": r.channel,
            "label": r.actor.label[:150],
            "kind": r.actor.kind,
            "user_id": r.actor.user_id,
            "client_id": r.actor.api_client_id,
            "event_id": r.event_id,
            "key_scope": r.key[0] if r.key else None,
            "key": r.key[1] if r.key else None,
            "digest": r.key[2] if r.key else None,
        }
        for n, r in enumerate(requests, 1)
    ]


def statement_params(statement: Statement, requests: Sequence[Request]) -> list[Any]:
    """The statement's parameters in order: the requests as one JSON text, then the scope's constants."""
    rows = statement_rows(requests)
    return [json.dumps(rows, default=_json_value, separators=(",", ":")), *statement.scope_params]


def _json_value(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a check-in input value")


def _execute(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Run `sql` prepared on Django's connection (its transaction, its error classes and its
    execute wrappers, so query counting and tracing still see it)."""
    import psycopg

    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django turns psycopg's prepared statements off (None), which also ignores `prepare=True`.
        # A threshold no statement reaches keeps automatic preparation off (Django's own queries
        # use client-side binding and are never prepared) and lets this statement be prepared.
        raw.prepare_threshold = 2**31 - 1
    if raw not in _GENERIC and not connection.in_atomic_block:
        # The statement's input is arrays: a custom plan knows their length, the generic one guesses
        # ten rows, so PostgreSQL would judge its generic plan dearer and plan every call again (6-7
        # ms of CPU). The plan is the same for any length (index lookups per input row): plan once.
        # (Outside a transaction, so no rollback undoes it; Django's own queries are never prepared.)
        with raw.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_generic_plan")
        _GENERIC.add(raw)
    with psycopg.RawCursor(raw) as cursor:

        def run(sql: str, params: Any, many: bool, context: dict[str, Any]) -> list[tuple[Any, ...]]:
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchall()

        executor: Any = run
        for wrapper in reversed(connection.execute_wrappers):
            executor = functools.partial(wrapper, executor)
        began = time.monotonic()
        try:
            with connection.wrap_database_errors:
                result: list[tuple[Any, ...]] = executor(
                    sql, params, False, {"connection": connection, "cursor": cursor}
                )
                return result
        finally:
            if connection.queries_logged:  # DEBUG or a test counting statements: log it like Django does
                connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - began:.3f}"})


def check_in(
    *,
    actor: Actor,
    member_id: int,
    channel: str,
    now: dt.datetime,
    key: tuple[str, str, str] | None,
) -> Hot | None:
    """The answer when the statement checked the member in, found today's check-in or found the
    key's earlier answer to the same request; None when the general path must decide (nothing was
    written then). `key`: (scope, key, digest).

    Outside a transaction, the check-ins that this process's threads ask for at the same moment share
    one statement (`group.GROUP`, one commit for all); inside the caller's transaction, it runs alone."""
    statement = kept_statement(actor, key is not None)
    if statement is None:
        return None
    request = Request(actor, member_id, channel, now, key)
    if not connection.in_atomic_block:
        from hufen.memberday.group import GROUP

        answer = GROUP.submit(statement, request)
        if answer is not FAILED:
            return answer  # type: ignore[return-value]
    return check_in_many(statement, [request])[0]  # type: ignore[return-value]


FAILED = object()  # a shared statement that failed as a whole: each request runs again on its own


def check_in_many(statement: Statement, requests: Sequence[Request]) -> list[Hot | object | None]:
    """`check_in` for several requests in one statement (distinct members, distinct keys): each one's
    answer, or None where the general path must decide. A failure of the statement (a concurrent use
    of one of the keys: IntegrityError) writes nothing for any of them and answers None for a single
    request, `FAILED` for each of several (each runs again alone, where the general path can explain)."""
    params = statement_params(statement, requests)
    try:
        if connection.in_atomic_block:
            with transaction.atomic():  # a savepoint: a failed statement must not spoil the caller's work
                rows = _execute(statement.sql, params)
        else:
            rows = _execute(statement.sql, params)
    except IntegrityError:
        return [None] if len(requests) == 1 else [FAILED] * len(requests)
    answers: list[Hot | object | None] = [None] * len(requests)
    for row in rows:
        answers[row[0] - 1] = _answer(requests[row[0] - 1], row[1], dict(zip(COLUMNS, row[2:], strict=True)))
    return answers


def _answer(request: Request, new_id: int | None, r: dict[str, Any]) -> Hot | None:
    if r["status"] != "active" or r["day_id"] is None or not r["in_scope"]:
        return None
    occurrence = Occurrence(pk=r["day_id"], brand_id=r["brand_id"], day=r["day_date"], checkin_points=r["day_points"])
    if new_id is not None:
        points = occurrence.checkin_points
        checkin = CheckIn(
            pk=new_id,
            occurrence=occurrence,
            member_id=r["id"],
            person_id=r["person_id"],
            dealer_id=r["home_dealer_id"],
            points=points,
            entry_id=None,
            channel=request.channel,
            actor_label=request.actor.label[:150],
            checked_in_at=request.now,
            points_status="pending" if points else "none",
        )
        return Hot(checkin, created=True, replayed=False)
    found = CheckIn.from_read(r, occurrence=occurrence, member_id=r["id"], person_id=r["person_id"])
    if found is None:
        return None  # a concurrent first tap won the unique (occurrence, member) after our snapshot
    key = request.key
    key_status = r["key_status"] if key is not None else None
    if key is not None and key_status is not None and r["key_digest"] != key[2]:
        return None  # the key was used for another request: the general path raises the conflict
    if key_status is not None:
        return Hot(found, created=key_status == 201, replayed=True)  # the key's first answer again
    return Hot(found, created=False, replayed=False)

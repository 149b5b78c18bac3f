"""Identifiers and scope: turn validated events into lake rows, or into per-event problems.

An event names its person by `person_id`, or by any identifier ONE ID can resolve: a phone (the
person's contact points and the ONE ID index), a WeChat unionid or openid, an email or an app user
id (the ONE ID index, `hufen.identity.models.Identifier`, read only). Identifiers are compared on
the live person (an id merged away stands for its survivor), so two identifiers of one merged human
agree. A device id alone resolves through the devices identified before (`IdentityLink`).

Everything here works on whole batches with a handful of `IN (...)` queries, never one per event.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from django.db import connection

from hufen.common.actors import Actor, Scope
from hufen.common.pii import FieldError, normalize_cn_mobile
from hufen.identity.models import Identifier
from hufen.identity.normalize import normalize_email, normalize_identifier
from hufen.people.models import ContactPoint, Person
from hufen.people.querysets import dealer_queryset_for
from hufen.tracking.models import IdentityLink
from hufen.tracking.validation import ID_FIELDS, Event, Problem

CHUNK = 5000
T = TypeVar("T")
# The event's identifier fields in the order they are checked, and the ONE ID index kind of each.
IDENTIFIER_FIELDS: tuple[str, ...] = ("phone", *ID_FIELDS)
INDEX_KIND = {field: field for field in IDENTIFIER_FIELDS}  # the event's field names are the index kinds
INVALID = {
    "phone": "is not a valid Chinese mobile number",
    "email": "is not a valid email address",
}
UNSEEN = {
    "phone": "matches no person (ONE ID has not seen this number)",
    "unionid": "matches no person (ONE ID has not seen this WeChat unionid)",
    "openid": "matches no person (ONE ID has not seen this WeChat openid)",
    "email": "matches no person (ONE ID has not seen this email)",
    "app_user_id": "matches no person (ONE ID has not seen this app user id)",
}
SEVERAL = "matches several persons; send person_id"


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Links:
    """Anonymous ids to link to persons once this batch commits."""

    new: dict[str, int]


@dataclass(frozen=True)
class Holders:
    """One identifier as sent: its index value (None: it does not normalise) and its live holders."""

    normal: str | None
    persons: tuple[int, ...]


def _existing(ids: Iterable[int], model: type[Person]) -> set[int]:
    wanted = sorted(set(ids))
    found: set[int] = set()
    for part in chunks(wanted):
        found.update(model.objects.filter(id__in=part).values_list("id", flat=True))
    return found


def device_persons(anonymous_ids: Iterable[str]) -> dict[str, int]:
    """Identified devices among `anonymous_ids` -> their person.

    Plain SQL: the ORM's per-value preparation of a 1,000-value `IN` cost more than the query. On
    PostgreSQL one array parameter (`= ANY`): psycopg splits a statement of 900 placeholders in Python
    on every call (too long for its cache), which cost more than the query too."""
    table = connection.ops.quote_name(IdentityLink._meta.db_table)
    found: dict[str, int] = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT anonymous_id, person_id FROM {table} WHERE anonymous_id = ANY(%s::varchar[])",
                [sorted(set(anonymous_ids))],
            )
            found.update(cursor.fetchall())
            return found
        for part in chunks(sorted(set(anonymous_ids)), 900):  # under SQLite's 999 parameters
            marks = ", ".join(["%s"] * len(part))
            cursor.execute(f"SELECT anonymous_id, person_id FROM {table} WHERE anonymous_id IN ({marks})", list(part))
            found.update(cursor.fetchall())
    return found


def live_persons(ids: Iterable[int]) -> dict[int, int]:
    """Each id -> the live person it stands for (following merges); ids not merged map to themselves."""
    result = {i: i for i in ids}
    frontier = set(result)
    seen = set(frontier)
    for _ in range(64):  # merge chains are short; the bound only guards against a cycle
        if not frontier:
            break
        moved: dict[int, int] = {}
        for part in chunks(sorted(frontier)):
            moved.update(
                Person.objects.filter(id__in=part, status="merged", merged_into__isnull=False).values_list(
                    "id", "merged_into_id"
                )
            )
        for start, target in result.items():
            if target in moved:
                result[start] = moved[target]
        frontier = set(moved.values()) - seen
        seen |= frontier
    return result


def _allowed_dealers(actor: Actor, ids: Iterable[int]) -> set[int]:
    wanted = sorted(set(ids))
    found: set[int] = set()
    for part in chunks(wanted):
        found.update(dealer_queryset_for(actor).filter(id__in=part).values_list("id", flat=True))
    return found


def _normalise(field: str, raw: str) -> str | None:
    if field == "phone":
        with contextlib.suppress(FieldError):
            return normalize_cn_mobile(raw)
        return None
    if field == "email":
        return normalize_email(raw).value
    return normalize_identifier(raw)


def identifier_holders(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Holders]:
    """(field, raw value) -> its normal form and the live persons holding it.

    Phones are found in contact points and in the ONE ID index; the other identifiers in the index.
    """
    normal = {(f, raw): _normalise(f, raw) for f, raw in set(pairs)}
    wanted: dict[str, set[str]] = {}
    for (f, _raw), value in normal.items():
        if value is not None:
            wanted.setdefault(INDEX_KIND[f], set()).add(value)
    held: dict[tuple[str, str], set[int]] = {}
    for kind, values in wanted.items():
        for part in chunks(sorted(values)):
            rows = list(Identifier.objects.filter(kind=kind, value__in=part).values_list("value", "person_id"))
            if kind == "phone":
                rows += ContactPoint.objects.filter(kind="phone", value__in=part).values_list("value", "person_id")
            for value, person_id in rows:
                held.setdefault((kind, value), set()).add(person_id)
    live = live_persons({p for persons in held.values() for p in persons})
    out: dict[tuple[str, str], Holders] = {}
    for (f, raw), value in normal.items():
        persons = {live[p] for p in held.get((INDEX_KIND[f], value), ())} if value is not None else set()
        out[(f, raw)] = Holders(value, tuple(sorted(persons)))
    return out


def resolve(actor: Actor, events: Sequence[Event | Problem], now: dt.datetime) -> tuple[list[Event | Problem], Links]:
    """Resolve identifiers and anonymous ids to persons and check dealers against the actor's scope."""
    valid = [ev for ev in events if isinstance(ev, Event)]
    persons = _existing((ev.person_id for ev in valid if ev.person_id), Person)
    live = live_persons(persons)
    dealers = _allowed_dealers(actor, (ev.dealer_id for ev in valid if ev.dealer_id))
    holders = identifier_holders(
        (f, value) for ev in valid for f in IDENTIFIER_FIELDS if (value := getattr(ev, f)) is not None
    )
    links = device_persons(ev.anonymous_id for ev in valid if ev.anonymous_id)
    own_dealer = actor.dealer_id if actor.scope in (Scope.DEALER, Scope.GRID) else None
    new_links: dict[str, int] = {}
    out: list[Event | Problem] = []
    for ev in events:
        if isinstance(ev, Problem):
            out.append(ev)
            continue
        result = _resolve_one(ev, live, dealers, holders, links, own_dealer)
        anon = result.anonymous_id if isinstance(result, Event) else None
        if isinstance(result, Event) and anon and result.person_id and anon not in links:
            links[anon] = result.person_id
            new_links[anon] = result.person_id
        out.append(result)
    return out, Links(new_links)


def _resolve_one(
    ev: Event,
    live: dict[int, int],
    dealers: set[int],
    holders: dict[tuple[str, str], Holders],
    links: dict[str, int],
    own_dealer: int | None,
) -> Event | Problem:
    dealer_id = ev.dealer_id if ev.dealer_id is not None else own_dealer
    if dealer_id is not None and dealer_id not in dealers and dealer_id != own_dealer:
        return Problem("dealer_id", f"dealer {dealer_id} does not exist or is outside your data scope")
    if ev.person_id is not None and ev.person_id not in live:
        return Problem("person_id", f"person {ev.person_id} does not exist")
    person_id = ev.person_id
    named_by = "person_id" if person_id is not None else None
    identified = False
    for f in IDENTIFIER_FIELDS:
        value = getattr(ev, f)
        if value is None:
            continue
        identified = True
        found = holders[(f, value)]
        if found.normal is None:
            return Problem(f, INVALID.get(f, "is empty once spaces are removed"))
        if not found.persons:
            return Problem(f, UNSEEN[f])
        if len(found.persons) > 1:
            return Problem(f, SEVERAL)
        if person_id is not None and live.get(person_id, person_id) != found.persons[0]:
            return Problem(f, f"belongs to another person than {named_by}")
        if person_id is None:
            person_id, named_by = found.persons[0], f
            live.setdefault(person_id, person_id)
    if person_id is None and ev.anonymous_id:
        person_id = links.get(ev.anonymous_id)
    if person_id == ev.person_id and dealer_id == ev.dealer_id and not identified:
        return ev  # the common case: nothing to resolve, no copy
    return replace(
        ev,
        person_id=person_id,
        dealer_id=dealer_id,
        phone=None,
        unionid=None,
        openid=None,
        email=None,
        app_user_id=None,
    )

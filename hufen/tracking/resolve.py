"""Identifiers and scope: turn validated events into lake rows, or into per-event problems.

Everything here works on whole batches with a handful of `IN (...)` queries, never one per event.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from hufen.common.actors import Actor, Scope
from hufen.common.pii import FieldError, normalize_cn_mobile
from hufen.people.models import ContactPoint, Person
from hufen.people.querysets import dealer_queryset_for
from hufen.tracking.models import IdentityLink
from hufen.tracking.validation import Event, Problem

CHUNK = 5000
T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Links:
    """Anonymous ids to link to persons once this batch commits."""

    new: dict[str, int]


def _existing(ids: Iterable[int], model: type[Person]) -> set[int]:
    wanted = sorted(set(ids))
    found: set[int] = set()
    for part in chunks(wanted):
        found.update(model.objects.filter(id__in=part).values_list("id", flat=True))
    return found


def _allowed_dealers(actor: Actor, ids: Iterable[int]) -> set[int]:
    wanted = sorted(set(ids))
    found: set[int] = set()
    for part in chunks(wanted):
        found.update(dealer_queryset_for(actor).filter(id__in=part).values_list("id", flat=True))
    return found


def _phones(events: Sequence[Event | Problem]) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """Raw phone -> E.164 (for those that normalise), and E.164 -> the persons holding it."""
    normal: dict[str, str] = {}
    for ev in events:
        if isinstance(ev, Event) and ev.phone and ev.phone not in normal:
            with contextlib.suppress(FieldError):
                normal[ev.phone] = normalize_cn_mobile(ev.phone)
    holders: dict[str, set[int]] = {}
    for part in chunks(sorted(set(normal.values()))):
        for value, person_id in ContactPoint.objects.filter(kind="phone", value__in=part).values_list(
            "value", "person_id"
        ):
            holders.setdefault(value, set()).add(person_id)
    return normal, {k: tuple(sorted(v)) for k, v in holders.items()}


def resolve(actor: Actor, events: Sequence[Event | Problem], now: dt.datetime) -> tuple[list[Event | Problem], Links]:
    """Resolve phones and anonymous ids to persons and check dealers against the actor's scope."""
    valid = [ev for ev in events if isinstance(ev, Event)]
    persons = _existing((ev.person_id for ev in valid if ev.person_id), Person)
    dealers = _allowed_dealers(actor, (ev.dealer_id for ev in valid if ev.dealer_id))
    normal, holders = _phones(valid)
    anon_ids = sorted({ev.anonymous_id for ev in valid if ev.anonymous_id})
    links: dict[str, int] = {}
    for part in chunks(anon_ids):
        links.update(IdentityLink.objects.filter(anonymous_id__in=part).values_list("anonymous_id", "person_id"))
    own_dealer = actor.dealer_id if actor.scope in (Scope.DEALER, Scope.GRID) else None
    new_links: dict[str, int] = {}
    out: list[Event | Problem] = []
    for ev in events:
        if isinstance(ev, Problem):
            out.append(ev)
            continue
        result = _resolve_one(ev, persons, dealers, normal, holders, links, own_dealer)
        anon = result.anonymous_id if isinstance(result, Event) else None
        if isinstance(result, Event) and anon and result.person_id and anon not in links:
            links[anon] = result.person_id
            new_links[anon] = result.person_id
        out.append(result)
    return out, Links(new_links)


def _resolve_one(
    ev: Event,
    persons: set[int],
    dealers: set[int],
    normal: dict[str, str],
    holders: dict[str, tuple[int, ...]],
    links: dict[str, int],
    own_dealer: int | None,
) -> Event | Problem:
    dealer_id = ev.dealer_id if ev.dealer_id is not None else own_dealer
    if dealer_id is not None and dealer_id not in dealers and dealer_id != own_dealer:
        return Problem("dealer_id", f"dealer {dealer_id} does not exist or is outside your data scope")
    if ev.person_id is not None and ev.person_id not in persons:
        return Problem("person_id", f"person {ev.person_id} does not exist")
    person_id = ev.person_id
    if ev.phone is not None:
        e164 = normal.get(ev.phone)
        if e164 is None:
            return Problem("phone", "is not a valid Chinese mobile number")
        found = holders.get(e164, ())
        if not found:
            return Problem("phone", "matches no person (ONE ID has not seen this number)")
        if len(found) > 1:
            return Problem("phone", "matches several persons; send person_id")
        if person_id is not None and person_id != found[0]:
            return Problem("phone", "belongs to another person than person_id")
        person_id = found[0]
    if person_id is None and ev.anonymous_id:
        person_id = links.get(ev.anonymous_id)
    if person_id == ev.person_id and dealer_id == ev.dealer_id and ev.phone is None:
        return ev  # the common case: nothing to resolve, no copy
    return replace(ev, person_id=person_id, dealer_id=dealer_id, phone=None)

"""`POST /api/v1/events` (batches of up to 1,000) and `POST /api/v1/events/identify`.

A batch answers 200 once its accepted events are committed to the write-ahead store, with one entry
per rejected event (index, event_id, field, reason); valid events are never held back by bad ones.
A retry of the same batch answers the same events as duplicates. Scope: a dealer-scoped client or
staff member sends events of its own dealer (a missing `dealer_id` becomes theirs); a brand-scoped
client, dealers carrying its brand; a region manager, its region's dealers; HQ, any dealer.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from hufen.api.auth import actor_of
from hufen.api.errors import ApiError, with_errors
from hufen.tracking.services import events_ingest, identity_identify
from hufen.tracking.validation import ID_FIELDS, MAX_BATCH

router = Router(tags=["events"])


class EventsIn(Schema):
    events: list[Any] = Field(
        description="Up to 1,000 events: {event_id, event, ts (ISO-8601 with offset), person_id | phone | "
        "unionid | openid | email | app_user_id | anonymous_id, dealer_id?, channel?, properties?}."
    )


class EventErrorOut(Schema):
    index: int
    event_id: str | None
    field: str
    reason: str


class EventsOut(Schema):
    accepted: int
    duplicates: int
    rejected: int
    duplicate_indexes: list[int]
    errors: list[EventErrorOut]


class IdentifyIn(Schema):
    anonymous_id: str = Field(min_length=1, max_length=128)
    person_id: int | None = None
    phone: str | None = Field(None, max_length=30)
    unionid: str | None = Field(None, max_length=128, description="WeChat unionid ONE ID knows")
    openid: str | None = Field(None, max_length=128, description="WeChat openid ONE ID knows")
    email: str | None = Field(None, max_length=128)
    app_user_id: str | None = Field(None, max_length=128)


class IdentifyOut(Schema):
    anonymous_id: str
    person_id: int


@router.post("", response=with_errors({200: EventsOut}, 413), summary="Send a batch of events")
def events_post(request: HttpRequest, data: EventsIn) -> dict[str, Any]:
    if len(data.events) > MAX_BATCH:
        raise ApiError(
            413,
            "payload_too_large",
            f"A batch holds at most {MAX_BATCH} events; this one has {len(data.events)}.",
            {"field": "events", "reason": f"at most {MAX_BATCH} events per request"},
        )
    result = events_ingest(actor=actor_of(request), raw_events=data.events)
    return {
        "accepted": result.count("accepted"),
        "duplicates": result.count("duplicate"),
        "rejected": result.count("rejected"),
        "duplicate_indexes": [o.index for o in result.outcomes if o.status == "duplicate"],
        "errors": [
            {"index": o.index, "event_id": o.event_id, "field": o.field or "", "reason": o.reason or ""}
            for o in result.outcomes
            if o.status == "rejected"
        ],
    }


@router.post("/identify", response=with_errors({200: IdentifyOut}), summary="Join a device id to a person")
def events_identify(request: HttpRequest, data: IdentifyIn) -> dict[str, Any]:
    person_id = identity_identify(
        actor=actor_of(request),
        anonymous_id=data.anonymous_id,
        person_id=data.person_id,
        phone=data.phone,
        identifiers={k: v for k in ID_FIELDS if (v := getattr(data, k)) is not None},
    )
    return {"anonymous_id": data.anonymous_id, "person_id": person_id}

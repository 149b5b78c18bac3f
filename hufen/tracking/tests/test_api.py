"""POST /api/v1/events and /events/identify: contract, per-event errors, idempotency, scope, auth."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from conftest import World
from hufen.api.tests.helpers import Caller, error_of
from hufen.tracking.models import IdentityLink, PendingEvent, RejectedEvent
from hufen.tracking.tests.helpers import raw_event

pytestmark = pytest.mark.django_db
CallerOf = Callable[[str], Caller]


def post(caller: Caller, events: list[Any]) -> Any:
    response = caller.post("/events", {"events": events})
    assert response.status_code == 200, response.content
    return response.json()


def test_unauthenticated_gets_401(world: World) -> None:
    response = Client().post("/api/v1/events", {"events": []}, content_type="application/json")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthenticated"


def test_merchant_operator_may_not_send_events(caller: CallerOf) -> None:
    response = caller("merchant").post("/events", {"events": [raw_event()]})
    assert response.status_code == 403
    assert PendingEvent.objects.count() == 0


def test_valid_batch_is_stored_before_the_answer(caller: CallerOf, world: World) -> None:
    person = world.persons["a1_owner"]
    body = post(
        caller("hq_admin"),
        [raw_event(person_id=person.pk), raw_event(event="page_viewed", properties={"page": "/home"})],
    )
    assert body == {"accepted": 2, "duplicates": 0, "rejected": 0, "duplicate_indexes": [], "errors": []}
    assert PendingEvent.objects.count() == 2


def test_same_event_id_twice_is_stored_once(caller: CallerOf) -> None:
    event = raw_event()
    first = post(caller("hq_admin"), [event, event])
    again = post(caller("hq_admin"), [event])
    assert (first["accepted"], first["duplicates"], first["duplicate_indexes"]) == (1, 1, [1])
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert PendingEvent.objects.filter(event_id=event["event_id"]).count() == 1


@pytest.mark.parametrize(
    ("change", "field", "reason_part"),
    [
        ({"ts": "2026-11-22T10:00:00"}, "ts", "offset"),
        ({"ts": "yesterday"}, "ts", "ISO-8601"),
        ({"ts": (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()}, "ts", "future"),
        ({"ts": "1970-01-01T00:00:00Z"}, "ts", "2000"),
        ({"event": "rocket_launched"}, "event", "catalogue"),
        ({"event": "test_drive"}, "properties.model_code", "required"),
        ({"properties": {"blob": "x" * 9000}}, "properties", "larger"),
        ({"properties": [1, 2]}, "properties", "object"),
        ({"event_id": "x" * 65}, "event_id", "64"),
        ({"anonymous_id": None}, "person_id", "one of"),
        ({"person_id": 999_999_999}, "person_id", "does not exist"),
        ({"phone": "+8613000000000", "anonymous_id": None}, "phone", "matches no person"),
        ({"phone": "12345"}, "phone", "valid"),
        ({"colour": "red"}, "colour", "not a field"),
    ],
)
def test_bad_event_is_rejected_with_index_field_and_reason(
    caller: CallerOf, change: dict[str, object], field: str, reason_part: str
) -> None:
    good, bad = raw_event(), raw_event(**change)
    if change.get("anonymous_id", "x") is None:
        bad.pop("anonymous_id", None)
    body = post(caller("hq_admin"), [good, bad])
    assert body["accepted"] == 1 and body["rejected"] == 1
    [error] = body["errors"]
    assert error["index"] == 1 and error["field"] == field and reason_part in error["reason"], error
    assert PendingEvent.objects.filter(event_id=good["event_id"]).exists()
    assert RejectedEvent.objects.get().field == field


def test_non_object_events_and_missing_list(caller: CallerOf) -> None:
    body = post(caller("hq_admin"), ["nope", 3])
    assert [e["field"] for e in body["errors"]] == ["event", "event"]
    response = caller("hq_admin").post("/events", {"items": []})
    assert response.status_code == 422 and error_of(response)["code"] == "validation_error"


def test_batch_over_1000_is_413(caller: CallerOf) -> None:
    response = caller("hq_admin").post("/events", {"events": [raw_event() for _ in range(1001)]})
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large" and "1000" in error["message"]
    assert PendingEvent.objects.count() == 0


def test_custom_events_accepted_when_the_brand_allows(caller: CallerOf, settings: Any) -> None:
    settings.TRACKING_ALLOW_CUSTOM_EVENTS = True
    assert post(caller("hq_admin"), [raw_event(event="rocket_launched")])["accepted"] == 1


def test_hq_event_types_extend_the_catalogue(caller: CallerOf) -> None:
    from hufen.tracking.models import EventType

    EventType.objects.create(name="coupon_used", required_properties=["coupon"])
    body = post(
        caller("hq_admin"),
        [raw_event(event="coupon_used"), raw_event(event="coupon_used", properties={"coupon": "C1"})],
    )
    assert body["accepted"] == 1 and body["errors"][0]["field"] == "properties.coupon"


def test_phone_resolves_to_the_person(caller: CallerOf, world: World) -> None:
    event = raw_event(phone="138 1234 5678", anonymous_id=None)
    assert post(caller("hq_admin"), [event])["accepted"] == 1
    assert PendingEvent.objects.get().person_id == world.persons["a1_owner"].pk


def test_anonymous_device_joins_the_person_once_identified(caller: CallerOf, world: World) -> None:
    person = world.persons["a2_owner"]
    api = caller("hq_admin")
    post(api, [raw_event(anonymous_id="dev-42")])  # not yet known
    post(api, [raw_event(anonymous_id="dev-42", person_id=person.pk)])  # both ids: joins
    post(api, [raw_event(anonymous_id="dev-42")])  # now resolved at ingest
    assert IdentityLink.objects.get(anonymous_id="dev-42").person_id == person.pk
    assert list(PendingEvent.objects.values_list("person_id", flat=True)) == [None, person.pk, person.pk]


def test_identify_endpoint(caller: CallerOf, world: World) -> None:
    api = caller("hq_admin")
    response = api.post("/events/identify", {"anonymous_id": "dev-7", "phone": "+8615012340002"})
    assert response.status_code == 200, response.content
    assert response.json() == {"anonymous_id": "dev-7", "person_id": world.persons["a2_owner"].pk}
    response = api.post("/events/identify", {"anonymous_id": "dev-8", "phone": "+8613000000000"})
    assert response.status_code == 422 and error_of(response)["details"]["field"] == "phone"


def test_dealer_client_sends_only_its_dealers_events(caller: CallerOf, world: World) -> None:
    a1, b1 = world.dealers["A1"], world.dealers["B1"]
    body = post(caller("api_dealer_a1"), [raw_event(), raw_event(dealer_id=a1.pk), raw_event(dealer_id=b1.pk)])
    assert body["accepted"] == 2 and body["errors"][0]["field"] == "dealer_id"
    assert set(PendingEvent.objects.values_list("dealer_id", flat=True)) == {a1.pk}


def test_brand_client_sends_events_of_dealers_carrying_its_brand(caller: CallerOf, world: World) -> None:
    body = post(
        caller("api_brand_premium"),
        [raw_event(dealer_id=world.dealers["B1"].pk), raw_event(dealer_id=world.dealers["A2"].pk)],
    )
    assert body["accepted"] == 1 and body["errors"][0]["index"] == 1

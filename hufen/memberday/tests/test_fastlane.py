"""The check-in fast lane (memberday/middleware.py): what it answers itself, answered exactly as the API
would, and everything else handed on untouched, with nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory, override_settings

from conftest import World
from hufen.api.tests.helpers import Caller
from hufen.common.models import AuditEvent, DomainEvent, IdempotencyRecord
from hufen.memberday.middleware import PATH, CheckInFastLane
from hufen.memberday.models import CheckIn
from hufen.memberday.tests.helpers import NOON, frozen, join, local, schedule

pytestmark = pytest.mark.django_db
Make = Callable[[str], Caller]
HANDED_ON = HttpResponse(b"handed on", status=599)


def post(body: Any, token: str | None, key: str | None, raw: bytes | None, extra: dict[str, Any]) -> Any:
    """The check-in request (a WSGIRequest, whose `environ` the WSGI lane takes) and its body."""
    headers: dict[str, str] = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if key is not None:
        headers["Idempotency-Key"] = key
    data = raw if raw is not None else json.dumps(body).encode()
    request = RequestFactory().post(
        extra.pop("path", PATH), data, content_type=extra.pop("content_type", "application/json"), headers=headers
    )
    return request, data


def lane(body: Any, token: str | None, *, key: str | None = None, raw: bytes | None = None, **extra: Any) -> Any:
    """The lane alone, in front of a stand-in for the rest of the stack that says 'handed on'."""
    handed: list[HttpRequest] = []

    def rest(request: HttpRequest) -> HttpResponse:
        handed.append(request)
        return HANDED_ON

    request, data = post(body, token, key, raw, extra)
    response = CheckInFastLane(rest)(request)
    if handed:
        # The request handed on still carries its whole body for the API to read.
        assert handed[0].body == data
        return None
    return response


def written() -> tuple[int, int, int, int]:
    return (
        CheckIn.objects.count(),
        AuditEvent.objects.filter(action="memberday.check_in").count(),
        DomainEvent.objects.filter(name="memberday_checked_in").count(),
        IdempotencyRecord.objects.count(),
    )


@frozen(NOON)
def test_the_lane_answers_first_repeat_and_retry(world: World) -> None:
    member = join(world, "a1_owner")
    schedule(world, now=local(2026, 11, 1, 9, 0))
    token = world.api_tokens["api_dealer_a1"]
    first = lane({"member_id": member.pk}, token, key="k-1")
    assert first is not None and first.status_code == 201
    body = json.loads(first.content)
    assert body["created"] is True and body["points_status"] == "pending" and body["member_id"] == member.pk
    assert written() == (1, 1, 1, 1)
    event = DomainEvent.objects.get(name="memberday_checked_in")
    assert event.properties["checkin_id"] == body["id"] and event.properties["member_id"] == member.pk
    assert event.properties["day"] == body["day"] and event.person_id == member.person_id
    retry = lane({"member_id": member.pk}, token, key="k-1")
    assert retry.status_code == 201 and retry["Idempotent-Replayed"] == "true"
    assert json.loads(retry.content)["id"] == body["id"]
    again = lane({"member_id": member.pk, "channel": "h5"}, token, key="k-2")
    assert again.status_code == 200 and json.loads(again.content)["created"] is False
    bare = lane({"member_id": member.pk}, token)
    assert bare.status_code == 200 and json.loads(bare.content)["id"] == body["id"]
    assert written() == (1, 1, 1, 2)


@frozen(NOON)
def test_the_lane_answers_what_the_api_answers(world: World, caller: Make) -> None:
    """The same request, once through the lane and once with the lane removed: same status, same
    headers, the same body but for the ids and times that belong to each check-in."""
    schedule(world, now=local(2026, 11, 1, 9, 0))
    one, two = join(world, "a1_owner"), join(world, "a1_other")
    api = caller("api_dealer_a1")
    through = api.post("/memberday/check-ins", {"member_id": one.pk}, headers={"Idempotency-Key": "x-1"})
    without = [m for m in settings.MIDDLEWARE if not m.endswith("CheckInFastLane")]
    with override_settings(MIDDLEWARE=without):
        plain = Caller(Client(), api.headers).post(
            "/memberday/check-ins", {"member_id": two.pk}, headers={"Idempotency-Key": "x-2"}
        )
    assert through.status_code == plain.status_code == 201
    skip = {"Content-Length", "Date"}
    assert {k: v for k, v in through.items() if k not in skip} == {k: v for k, v in plain.items() if k not in skip}
    a, b = through.json(), plain.json()
    assert list(a) == list(b)
    for field in ("id", "member_id"):
        a.pop(field), b.pop(field)
    assert a == b


@frozen(NOON)
def test_everything_else_is_handed_on_with_nothing_written(world: World) -> None:
    member = join(world, "a1_owner")
    schedule(world, now=local(2026, 11, 1, 9, 0))
    outside = join(world, "b1_owner", "premium")
    token = world.api_tokens["api_dealer_a1"]
    cases: list[tuple[Any, str | None, dict[str, Any]]] = [
        ({"member_id": member.pk}, None, {}),  # no token: a session, or a 401 from the API
        ({"member_id": member.pk}, "hf_not-a-token", {}),  # a wrong token: the API's 401
        ({"member_id": str(member.pk)}, token, {}),  # a string id: the schema decides
        ({"member_id": True}, token, {}),
        ({"member_id": 0}, token, {}),
        ({"member_id": member.pk, "channel": "fax"}, token, {}),
        ({"member_id": member.pk, "channel": ["app"]}, token, {}),  # unhashable: must not raise
        ({"member_id": member.pk, "channel": {"a": 1}}, token, {}),
        ({"member_id": member.pk, "extra": 1}, token, {}),
        ([member.pk], token, {}),
        (None, token, {"raw": b"{not json"}),
        ({"member_id": member.pk}, token, {"content_type": "text/plain"}),
        ({"member_id": member.pk}, token, {"key": " "}),  # an empty Idempotency-Key: the API's 422
        ({"member_id": member.pk}, token, {"key": "x\u0007"}),
        ({"member_id": 999_999_999}, token, {}),  # unknown member: the API's 404
        ({"member_id": outside.pk}, token, {}),  # outside the client's scope: the API's 404
        ({"member_id": member.pk}, token, {"path": PATH + "/"}),
    ]
    for body, tok, extra in cases:
        assert lane(body, tok, **extra) is None, (body, tok, extra)
    assert written() == (0, 0, 0, 0)


@frozen(local(2026, 11, 29, 12, 0))
def test_not_a_member_day_is_handed_on(world: World) -> None:
    member = join(world, "a1_owner")
    schedule(world, now=local(2026, 11, 1, 9, 0))
    assert lane({"member_id": member.pk}, world.api_tokens["api_dealer_a1"]) is None
    assert written() == (0, 0, 0, 0)


@frozen(NOON)
def test_a_key_reused_for_another_member_is_handed_on(world: World, caller: Make) -> None:
    schedule(world, now=local(2026, 11, 1, 9, 0))
    one, two = join(world, "a1_owner"), join(world, "a1_other")
    token = world.api_tokens["api_dealer_a1"]
    assert lane({"member_id": one.pk}, token, key="same").status_code == 201
    before = written()
    assert lane({"member_id": two.pk}, token, key="same") is None
    assert written() == before
    api = caller("api_dealer_a1")
    clash = api.post("/memberday/check-ins", {"member_id": two.pk}, headers={"Idempotency-Key": "same"})
    assert clash.status_code == 409 and written() == before


def wsgi_lane(body: Any, token: str | None, *, key: str | None = None, raw: bytes | None = None, **extra: Any) -> Any:
    """The lane in front of Django's whole WSGI handler (hufen.wsgi), before a stand-in for Django."""
    from hufen.memberday.middleware import CheckInWSGILane

    handed: list[bytes] = []

    def rest(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        handed.append(environ["wsgi.input"].read(length))
        start_response("599 Handed On", [])
        return [b"handed on"]

    request, data = post(body, token, key, raw, extra)
    started: list[Any] = []
    out = CheckInWSGILane(rest)(request.environ, lambda status, hdrs: started.append((status, hdrs)))
    if handed:
        assert handed[0] == data  # Django still reads the whole body
        return None
    status, hdrs = started[0]
    response = HttpResponse(b"".join(out), status=int(status.split()[0]))
    for name, value in hdrs:
        response[name] = value
    return response


@frozen(NOON)
def test_the_wsgi_lane_answers_and_hands_on_like_the_middleware(world: World) -> None:
    member = join(world, "a1_owner")
    schedule(world, now=local(2026, 11, 1, 9, 0))
    outside = join(world, "b1_owner", "premium")
    token = world.api_tokens["api_dealer_a1"]
    first = wsgi_lane({"member_id": member.pk}, token, key="w-1")
    assert first.status_code == 201 and json.loads(first.content)["created"] is True
    retry = wsgi_lane({"member_id": member.pk}, token, key="w-1")
    assert retry.status_code == 201 and retry["Idempotent-Replayed"] == "true"
    assert json.loads(retry.content) == json.loads(first.content)
    again = lane({"member_id": member.pk}, token)
    assert again.status_code == 200 and json.loads(again.content)["id"] == json.loads(first.content)["id"]
    assert written() == (1, 1, 1, 1)
    cases: list[tuple[Any, str | None, dict[str, Any]]] = [
        ({"member_id": member.pk}, None, {}),
        ({"member_id": member.pk}, "hf_not-a-token", {}),
        ({"member_id": str(member.pk)}, token, {}),
        ({"member_id": member.pk, "channel": ["app"]}, token, {}),
        (None, token, {"raw": b"{not json"}),
        (None, token, {"raw": b"x" * 5000}),
        ({"member_id": member.pk}, token, {"content_type": "text/plain"}),
        ({"member_id": outside.pk}, token, {}),
        ({"member_id": member.pk}, token, {"path": PATH + "/"}),
        ({"member_id": member.pk}, token, {"key": "w-1"}),  # the key used for another request (no channel)
    ]
    for body, tok, extra in cases:
        if extra.get("key") == "w-1":
            body = {"member_id": member.pk, "channel": "h5"}
        assert wsgi_lane(body, tok, **extra) is None, (body, tok, extra)
    assert written() == (1, 1, 1, 1)


@frozen(NOON)
def test_the_wsgi_application_answers_with_the_apis_headers(world: World, caller: Make) -> None:
    """Through hufen.wsgi.application (the lane, then Django) and through the API without any lane:
    the same status and headers (Django's security headers included) and the same body's shape."""
    from hufen.wsgi import application

    schedule(world, now=local(2026, 11, 1, 9, 0))
    one, two = join(world, "a1_owner"), join(world, "a1_other")
    api = caller("api_dealer_a1")
    request = RequestFactory().post(
        PATH,
        json.dumps({"member_id": one.pk}),
        content_type="application/json",
        headers={"Authorization": api.headers["Authorization"], "Idempotency-Key": "wsgi-1"},
    )
    started: list[Any] = []
    body = b"".join(application(request.environ, lambda s, h: started.append((s, h))))
    status, headers = started[0]
    without = [m for m in settings.MIDDLEWARE if not m.endswith("CheckInFastLane")]
    with override_settings(MIDDLEWARE=without):
        plain = Caller(Client(), api.headers).post(
            "/memberday/check-ins", {"member_id": two.pk}, headers={"Idempotency-Key": "wsgi-2"}
        )
    assert status.startswith("201") and plain.status_code == 201
    # The answer holds data, no text in a language: the lane, before the locale middleware, names none.
    skip = {"Content-Length", "Date", "Content-Language"}
    assert {k: v for k, v in headers if k not in skip} == {k: v for k, v in plain.items() if k not in skip}
    assert list(json.loads(body)) == list(plain.json())

"""One error body everywhere: `{"error": {"code", "message", "details"}}` with the right status."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.core import signing
from django.test import Client

from conftest import World
from hufen.api.pagination import CURSOR_MAX_AGE, encode_cursor
from hufen.api.tests.helpers import API, Caller, error_of

CallerFor = Callable[[str], Caller]


def test_401_body(world: World) -> None:
    response = Client().get(f"{API}/persons")
    assert response.status_code == 401
    assert error_of(response) == {
        "code": "unauthenticated",
        "message": "Send `Authorization: Bearer <token>` or log in to the console.",
        "details": None,
    }


def test_403_body(caller: CallerFor) -> None:
    response = caller("merchant").get("/persons")
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"


def test_404_body_for_an_object(caller: CallerFor) -> None:
    response = caller("hq_admin").get("/dealers/NOPE")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize(
    "path", ["/", "/nothing-here", "/persons/not-a-number", "/persons/1/extra", "/v2/x", "/persons/%0A", "/x%0Ay"]
)
def test_unknown_routes_are_json_404_even_anonymous(world: World, path: str) -> None:
    response = Client().get(API + path)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_unknown_route_post_is_404_not_csrf(world: World) -> None:
    response = Client(enforce_csrf_checks=True).post(f"{API}/nothing", "{}", content_type="application/json")
    assert response.status_code == 404


def test_wrong_method_is_json_405(caller: CallerFor) -> None:
    response = caller("hq_admin").client.delete(f"{API}/persons")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "query.limit"),
        ({"limit": 201}, "query.limit"),
        ({"limit": "many"}, "query.limit"),
        ({"q": "x" * 101}, "query.q"),
        ({"city": "bad\x00city"}, "query.city"),
    ],
)
def test_422_lists_each_bad_field(caller: CallerFor, params: dict[str, object], field: str) -> None:
    response = caller("hq_admin").get("/persons", params)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert [d["field"] for d in error["details"]] == [field]
    assert all(d["reason"] for d in error["details"])


def test_422_for_a_bad_body_names_the_field(caller: CallerFor) -> None:
    response = caller("hq_admin").post("/persons", {"name": "王五", "gender": "X", "birth_date": "someday"})
    assert response.status_code == 422
    fields = {d["field"] for d in error_of(response)["details"]}
    assert fields == {"body.gender", "body.birth_date"}


def test_422_for_a_missing_body(caller: CallerFor) -> None:
    response = caller("hq_admin").client.post(f"{API}/persons", "", content_type="application/json")
    assert response.status_code == 422
    assert error_of(response)["details"] == [{"field": "body", "reason": "Field required"}]


def test_400_for_a_body_that_is_not_json(caller: CallerFor) -> None:
    api = caller("hq_admin")
    response = api.client.post(f"{API}/persons", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_request"


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        encode_cursor("persons", 1)[:-1] + "x",  # tampered signature
        encode_cursor("dealers", 1),  # another listing's cursor
        signing.dumps({"after": 1}, salt="hufen.api.cursor:persons", key="forged-by-a-client"),
        signing.dumps({"after": "1"}, salt="hufen.api.cursor:persons"),  # signed, but not an id
    ],
    ids=["garbage", "tampered", "other-listing", "forged", "not-an-id"],
)
def test_400_for_a_cursor_we_did_not_issue(caller: CallerFor, cursor: str) -> None:
    response = caller("hq_admin").get("/persons", {"cursor": cursor})
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_cursor"


def test_400_for_an_expired_cursor(caller: CallerFor, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a cursor issued more than a day ago (TimestampSigner reads the clock through time.time)
    issued = encode_cursor("persons", 1)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + CURSOR_MAX_AGE + 60)
    # when it is replayed, then it is refused as expired, not as forged
    response = caller("hq_admin").get("/persons", {"cursor": issued})
    assert response.status_code == 400
    assert error_of(response)["code"] == "expired_cursor"


def test_500_is_json_without_a_trace(caller: CallerFor, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(**kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("hufen.api.org.dealer_list", boom)
    response = caller("hq_admin").get("/dealers")
    assert response.status_code == 500
    assert error_of(response) == {"code": "internal_error", "message": "Internal server error.", "details": None}
    assert b"secret internals" not in response.content
    assert b"Traceback" not in response.content

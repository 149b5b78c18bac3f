"""A member's own history over the API (/me/points, /me/redemptions) pages newest first, like the H5
points page: keyset on the id going down, so rows that arrive while the app pages through land before
the first page and never shift, repeat or hide a row of the pages still to come."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core import signing
from django.core.cache import cache
from django.test import Client

from conftest import World
from hufen.api.pagination import encode_cursor
from hufen.api.tests.helpers import API, bearer, error_of
from hufen.common.actors import SYSTEM
from hufen.membership.benefits import benefit_redeem
from hufen.membership.models import Member, PointsEntry, Redemption
from hufen.portal.tests.helpers import award, catalogue, enrol, sign_in

PHONE = "+8615012340002"  # a2_owner


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def get(path: str, token: str, params: dict[str, Any] | None = None) -> Any:
    return Client().get(API + path, params or {}, headers=bearer(token))


def signed_in(world: World) -> tuple[str, Member]:
    token = sign_in(PHONE, "mass", channel="api").token
    return token, Member.objects.get(person=world.persons["a2_owner"])


def page_through(
    path: str, token: str, *, limit: int, between: Callable[[int], None], params: dict[str, Any] | None = None
) -> list[list[int]]:
    """Every page's ids, following `next_cursor`; `between(n)` runs after page n (new rows arrive)."""
    pages: list[list[int]] = []
    query: dict[str, Any] = {"limit": limit, **(params or {})}
    while True:
        response = get(path, token, query)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([row["id"] for row in body["items"]])
        if body["next_cursor"] is None:
            return pages
        assert len(pages) < 20, "pagination never ended"
        between(len(pages))
        query["cursor"] = body["next_cursor"]


def test_points_page_newest_first_with_no_gap_or_repeat_while_points_arrive(world: World) -> None:
    # given a member with eight points entries
    token, member = signed_in(world)
    for i in range(8):
        award(member, 10 + i, key=f"seed-{i}")
    before = list(PointsEntry.objects.filter(account__member=member).order_by("-id").values_list("id", flat=True))
    assert len(before) == 8

    # when the app pages three at a time while two more entries arrive between its pages
    def arrive(n: int) -> None:
        award(member, 1000 + n, key=f"new-{n}")

    pages = page_through("/me/points", token, limit=3, between=arrive)

    # then it saw exactly the eight it started with, newest first, in three pages: no gap, no repeat
    assert [len(p) for p in pages] == [3, 3, 2]
    seen = [i for p in pages for i in p]
    assert seen == before
    # and the two that arrived are at the top of a fresh first page
    fresh = get("/me/points", token, {"limit": 3}).json()
    assert [e["amount"] for e in fresh["items"]][:2] == [1002, 1001]
    assert fresh["items"][2]["id"] == before[0]


def test_redemptions_page_newest_first_with_no_gap_or_repeat_while_redemptions_arrive(world: World) -> None:
    token, member = signed_in(world)
    award(member, 10_000, key="seed")
    wash = catalogue(member)["wash"]

    def redeem(key: str) -> Redemption:
        return benefit_redeem(actor=SYSTEM, member=member, item=wash, quantity=1, idempotency_key=key)

    before = [redeem(f"r{i}").pk for i in range(7)][::-1]

    def arrive(n: int) -> None:
        redeem(f"new-{n}")

    pages = page_through("/me/redemptions", token, limit=3, between=arrive)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in p] == before
    assert Redemption.objects.filter(member=member).count() == 9


def test_oldest_first_is_still_there_on_request(world: World) -> None:
    token, member = signed_in(world)
    for i in range(5):
        award(member, 10 + i, key=f"k{i}")
    pages = page_through("/me/points", token, limit=2, between=lambda n: None, params={"order": "oldest"})
    ids = list(PointsEntry.objects.filter(account__member=member).order_by("id").values_list("id", flat=True))
    assert [i for p in pages for i in p] == ids and [len(p) for p in pages] == [2, 2, 1]
    bad = get("/me/points", token, {"order": "sideways"})
    assert bad.status_code == 422 and error_of(bad)["code"] == "validation_error"


@pytest.mark.parametrize(("issued", "asked"), [("oldest", "newest"), ("newest", "oldest")])
def test_a_cursor_of_one_order_is_refused_by_the_other(world: World, issued: str, asked: str) -> None:
    token, member = signed_in(world)
    for i in range(4):
        award(member, 10 + i, key=f"k{i}")
    first = get("/me/points", token, {"limit": 2, "order": issued}).json()
    assert first["next_cursor"]
    response = get("/me/points", token, {"limit": 2, "order": asked, "cursor": first["next_cursor"]})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_cursor"
    assert error["details"] == {"field": "cursor", "cursor_order": issued, "order": asked}
    assert "first" in error["message"]


def test_an_oldest_first_cursor_from_before_the_change_is_refused_not_misread(world: World) -> None:
    # A cursor the API issued before /me/points turned newest first ({"after": id}): continuing it
    # newest first would skip every newer row, so it is refused and the app starts again.
    token, member = signed_in(world)
    award(member, 10, key="k")
    legacy = signing.dumps({"after": 1}, salt=f"hufen.api.cursor:me.points.{member.pk}")
    response = get("/me/points", token, {"cursor": legacy})
    assert response.status_code == 400 and error_of(response)["details"]["cursor_order"] == "oldest"


@pytest.mark.parametrize("kind", ["tampered", "garbage", "other-list", "other-member", "forged", "not-an-id"])
def test_a_cursor_we_did_not_issue_is_a_400(world: World, kind: str) -> None:
    token, member = signed_in(world)
    other = enrol(world, "a1_owner")
    for i in range(3):
        award(member, 10 + i, key=f"k{i}")
    issued = get("/me/points", token, {"limit": 1}).json()["next_cursor"]
    salt = f"hufen.api.cursor:me.points.{member.pk}"
    cursor = {
        "tampered": issued[:-1] + ("x" if issued[-1] != "x" else "y"),
        "garbage": "garbage",
        "other-list": encode_cursor(f"me.redemptions.{member.pk}", 10**6, order="newest"),
        "other-member": encode_cursor(f"me.points.{other.pk}", 10**6, order="newest"),
        "forged": signing.dumps({"before": 10**6}, salt=salt, key="forged-by-a-client"),
        "not-an-id": signing.dumps({"before": "9"}, salt=salt),
    }[kind]
    response = get("/me/points", token, {"cursor": cursor})
    assert response.status_code == 400
    assert error_of(response) == {
        "code": "invalid_cursor",
        "message": "The cursor is not one this listing issued.",
        "details": {"field": "cursor"},
    }


def test_a_newest_first_cursor_is_refused_by_an_oldest_first_integration_list(world: World) -> None:
    client = Client()
    client.force_login(world.staff["hq_admin"].user)
    cursor = encode_cursor("persons", 10**6, order="newest")
    response = client.get(f"{API}/persons", {"cursor": cursor})
    assert response.status_code == 400
    assert error_of(response)["details"] == {"field": "cursor", "cursor_order": "newest", "order": "oldest"}


def test_a_history_page_costs_the_same_queries_whatever_its_depth(
    world: World, django_assert_max_num_queries: Any
) -> None:
    token, member = signed_in(world)
    for i in range(30):
        award(member, 1 + i, key=f"k{i}")
    first = get("/me/points", token, {"limit": 5}).json()
    with django_assert_max_num_queries(8):
        deep = get("/me/points", token, {"limit": 5, "cursor": first["next_cursor"]})
    assert deep.status_code == 200 and len(deep.json()["items"]) == 5


def test_openapi_documents_the_order() -> None:
    document = json.loads(Client().get("/api/v1/openapi.json").content)
    for path in ("/api/v1/me/points", "/api/v1/me/redemptions"):
        op = document["paths"][path]["get"]
        order = next(p for p in op["parameters"] if p["name"] == "order")
        assert order["schema"].get("default") == "newest", order
        assert "newest first" in op["description"]
    assert "newest first" in document["info"]["description"]

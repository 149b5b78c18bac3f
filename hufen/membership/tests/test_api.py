from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import ACTOR_NAMES, World
from hufen.api.tests.helpers import Caller, error_of
from hufen.common.actors import SYSTEM
from hufen.membership.ledger import points_award
from hufen.membership.models import Member, PointsEntry, Redemption
from hufen.membership.tests.helpers import assert_ledger_consistent, item, join

CanView = {
    "hq_admin",
    "hq_operator",
    "region_east",
    "dealer_a1",
    "butler_a1",
    "dealer_b1",
    "api_dealer_a1",
    "api_brand_premium",
}


@pytest.fixture
def members(world: World) -> dict[str, Member]:
    return {key: join(world, key) for key in world.persons}


@pytest.mark.parametrize("name", ACTOR_NAMES)
def test_member_list_is_scoped_by_person(
    world: World, members: dict[str, Member], caller: Callable[[str], Caller], name: str
) -> None:
    api = caller(name)
    response = api.get("/membership/members", {"limit": 2})
    if name not in CanView:
        assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
        return
    seen = {item["person_id"] for item in api.pages("/membership/members", {"limit": 2})}
    assert seen == world.expected(name)
    outside = members["prospect"].pk
    if world.persons["prospect"].pk not in world.expected(name):
        assert api.get(f"/membership/members/{outside}").status_code == 404
        assert api.get(f"/membership/members/{outside}/entries").status_code == 404


@pytest.mark.parametrize("name", ["hq_admin", "api_dealer_a1", "dealer_a1", "butler_a1"])
def test_award_needs_points_permission_and_key(
    world: World, members: dict[str, Member], caller: Callable[[str], Caller], name: str
) -> None:
    api = caller(name)
    path = f"/membership/members/{members['a1_owner'].pk}/award"
    body = {"amount": 300, "reason": "goodwill"}
    response = api.post(path, body, headers={"Idempotency-Key": "k-1"})
    if name in ("dealer_a1", "butler_a1"):
        assert response.status_code == 403
        return
    assert response.status_code == 201, response.content
    again = api.post(path, body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == response.json()["id"]
    conflict = api.post(path, {"amount": 301, "reason": "goodwill"}, headers={"Idempotency-Key": "k-1"})
    assert error_of(conflict)["code"] == "idempotency_conflict" and conflict.status_code == 409
    assert api.post(path, body).status_code == 400  # no key
    assert PointsEntry.objects.count() == 1
    assert_ledger_consistent()


def test_bad_points_input_is_a_clear_error(members: dict[str, Member], caller: Callable[[str], Caller]) -> None:
    api = caller("hq_admin")
    path = f"/membership/members/{members['a1_owner'].pk}"
    cases = [
        ("/award", {"amount": -5, "reason": "goodwill"}, "amount"),
        ("/award", {"amount": 5, "reason": "bogus"}, "reason"),
        ("/spend", {"amount": 5, "reason": "merchant"}, "amount"),
    ]
    for i, (suffix, body, field) in enumerate(cases):
        response = api.post(path + suffix, body, headers={"Idempotency-Key": f"bad-{i}"})
        assert response.status_code == 422, response.content
        assert error_of(response)["details"]["field"] == field
    assert PointsEntry.objects.count() == 0


def test_dealer_cannot_award_outside_scope(members: dict[str, Member], caller: Callable[[str], Caller]) -> None:
    response = caller("api_dealer_a1").post(
        f"/membership/members/{members['b1_owner'].pk}/award",
        {"amount": 5, "reason": "goodwill"},
        headers={"Idempotency-Key": "x"},
    )
    assert response.status_code == 404


def test_join_redeem_cancel_and_ledger_pages(world: World, caller: Callable[[str], Caller]) -> None:
    api = caller("dealer_a1")
    person = world.persons["a1_other"]
    joined = api.post("/membership/members", {"person_id": person.pk, "brand": "mass", "channel": "dealer"})
    assert joined.status_code == 201, joined.content
    assert api.post("/membership/members", {"person_id": person.pk, "brand": "mass"}).status_code == 200
    outside = api.post("/membership/members", {"person_id": world.persons["b1_owner"].pk, "brand": "mass"})
    assert outside.status_code == 404
    member = Member.objects.get(pk=joined.json()["id"])
    for i in range(3):
        points_award(actor=SYSTEM, member=member, amount=100, reason="goodwill", idempotency_key=f"s{i}")
    it = item(member, price=150, stock=2)
    assert [b["code"] for b in api.get("/membership/benefits", {"brand": "mass"}).json()["items"]] == ["wash"]
    path = f"/membership/members/{member.pk}/redemptions"
    assert api.post(path, {"item_id": it.pk}).status_code == 400  # Idempotency-Key required
    r = api.post(path, {"item_id": it.pk, "quantity": 2}, headers={"Idempotency-Key": "r1"})
    assert r.status_code == 201, r.content
    assert api.get(f"/membership/members/{member.pk}").json()["balance"] == 0
    cancelled = api.post(f"/membership/redemptions/{r.json()['id']}/cancel", {})
    assert cancelled.json()["status"] == "cancelled"
    entries = api.pages(f"/membership/members/{member.pk}/entries", {"limit": 2})
    assert [e["kind"] for e in entries] == ["award", "award", "award", "spend", "reverse"]
    assert Redemption.objects.get().status == "cancelled"
    assert_ledger_consistent()


def test_reverse_endpoint(members: dict[str, Member], caller: Callable[[str], Caller]) -> None:
    entry = points_award(actor=SYSTEM, member=members["a1_owner"], amount=10, reason="goodwill", idempotency_key="a")
    api = caller("hq_admin")
    assert api.post(f"/membership/entries/{entry.pk}/reverse", {}).status_code == 201
    second = api.post(f"/membership/entries/{entry.pk}/reverse", {})
    assert second.status_code == 422 and "already reversed" in error_of(second)["message"]


def test_member_list_query_budget(
    world: World, members: dict[str, Member], caller: Callable[[str], Caller], django_assert_max_num_queries: Any
) -> None:
    api = caller("api_brand_premium")
    with django_assert_max_num_queries(6):  # auth, token touch, one page query: no N+1
        response = api.get("/membership/members", {"limit": 50})
    assert len(response.json()["items"]) == 4

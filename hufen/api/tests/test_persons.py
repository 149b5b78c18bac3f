"""Persons over the API: every actor sees exactly its scope, masked, in a fixed number of queries.

Merchant operators hold no `persons.view`: every person endpoint answers them 403 (never a list
that merely happens to be empty), which tells an integration author the role is wrong, not the data.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import ACTOR_NAMES, World
from hufen.api.tests.helpers import Caller, error_of, text_of
from hufen.people.tests.factories import OwnershipFactory, PersonFactory

CallerFor = Callable[[str], Caller]
SEES_PERSONS = [n for n in ACTOR_NAMES if n != "merchant"]


def ids(items: list[dict[str, object]]) -> list[int]:
    return [int(str(i["id"])) for i in items]


@pytest.mark.parametrize("actor_name", ACTOR_NAMES)
def test_list_returns_exactly_the_actors_scope(world: World, caller: CallerFor, actor_name: str) -> None:
    # given an actor; when it lists persons with the default page
    response = caller(actor_name).get("/persons")
    # then exactly its scope, in id order, on one page
    if actor_name == "merchant":
        assert response.status_code == 403
        assert error_of(response)["code"] == "forbidden"
        return
    assert response.status_code == 200
    body = response.json()
    assert ids(body["items"]) == sorted(world.expected(actor_name))
    assert body["next_cursor"] is None


@pytest.mark.parametrize("actor_name", SEES_PERSONS)
@pytest.mark.parametrize("limit", [1, 2, 5])
def test_paging_through_every_cursor_returns_the_scope_once(
    world: World, caller: CallerFor, actor_name: str, limit: int
) -> None:
    # when an export follows next_cursor to the end with small pages
    items = caller(actor_name).pages("/persons", {"limit": limit})
    # then every person of the scope comes exactly once, in order
    assert ids(items) == sorted(world.expected(actor_name))


@pytest.mark.parametrize("actor_name", ACTOR_NAMES)
def test_detail_in_scope_and_404_outside(world: World, caller: CallerFor, actor_name: str) -> None:
    api = caller(actor_name)
    expected = world.expected(actor_name)
    for key, person in world.persons.items():
        response = api.get(f"/persons/{person.pk}")
        if actor_name == "merchant":
            assert response.status_code == 403, key
        elif person.pk in expected:
            assert response.status_code == 200, key
            assert response.json()["id"] == person.pk
        else:
            # outside the scope looks exactly like "does not exist": no 403 that would leak it
            assert response.status_code == 404, key
            assert error_of(response)["code"] == "not_found"
    for impossible in (987654321, 0, 2**64):
        missing = api.get(f"/persons/{impossible}")
        assert missing.status_code == (403 if actor_name == "merchant" else 404)


@pytest.mark.parametrize("actor_name", SEES_PERSONS)
@pytest.mark.parametrize(
    ("params", "matches"),
    [
        ({"q": "王小伟"}, {"a1_owner"}),
        ({"q": "wangxiaowei"}, {"a1_owner"}),
        ({"q": "wxw"}, {"a1_owner"}),
        ({"q": "5678"}, {"a1_owner"}),
        ({"q": "13812345678"}, {"a1_owner"}),
        ({"q": "浙AD12345"}, {"a1_other"}),
        ({"city": "广州市"}, {"b1_owner", "b1_serviced_at_a1"}),
        ({"q": "刘洋", "city": "广州市"}, {"b1_serviced_at_a1"}),
        ({"q": "nobody-like-this"}, set()),
    ],
)
def test_search_has_person_search_semantics_within_scope(
    world: World, caller: CallerFor, actor_name: str, params: dict[str, str], matches: set[str]
) -> None:
    items = caller(actor_name).pages("/persons", params)
    wanted = {world.persons[k].pk for k in matches} & world.expected(actor_name)
    assert set(ids(items)) == wanted


@pytest.mark.parametrize("actor_name", SEES_PERSONS)
def test_no_response_ever_holds_the_clear_name_or_phone(world: World, caller: CallerFor, actor_name: str) -> None:
    api = caller(actor_name)
    bodies = [text_of(api.get("/persons")), text_of(api.get("/persons", {"q": "王小伟"}))]
    bodies += [text_of(api.get(f"/persons/{p.pk}")) for p in world.persons.values()]
    bodies += [text_of(api.get("/vehicles"))]
    for body in bodies:
        assert "13812345678" not in body
        assert "王小伟" not in body


def test_profile_is_masked_and_complete(world: World, caller: CallerFor) -> None:
    # given a1_owner, who bought at A1 and is served by butler_a1
    person = world.persons["a1_owner"]
    # when the dealer fetches the profile
    body = caller("dealer_a1").get(f"/persons/{person.pk}").json()
    # then it is masked, with vehicles, butler and dealers
    assert body["name"] == "王*伟"
    assert body["phone"] == "138****5678"
    assert body["address"].endswith("****")
    assert [v["dealer"] for v in body["vehicles"]] == ["A1"]
    assert body["vehicles"][0]["vin"] == person.ownerships.get().vehicle.vin
    assert body["current_butler_id"] == world.staff["butler_a1"].pk
    assert [d["code"] for d in body["dealers"]] == ["A1"]
    assert body["household_id"] == person.household_id


def test_profile_lists_every_dealer_the_person_met(world: World, caller: CallerFor) -> None:
    body = caller("hq_admin").get(f"/persons/{world.persons['b1_serviced_at_a1'].pk}").json()
    assert {d["code"] for d in body["dealers"]} == {"A1", "B1"}
    assert body["current_butler_id"] is None


# --- query budgets ----------------------------------------------------------------------------


def _queries(fn: Callable[[], object]) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def _add_a1_owners(world: World, n: int) -> None:
    for _ in range(n):
        OwnershipFactory(person=PersonFactory(), dealer=world.dealers["A1"])


@pytest.mark.parametrize("actor_name", ["dealer_a1", "api_dealer_a1"])
def test_list_query_count_does_not_grow_with_the_page(world: World, caller: CallerFor, actor_name: str) -> None:
    # given many more persons in the dealer's scope
    _add_a1_owners(world, 30)
    api = caller(actor_name)
    api.get("/persons")  # warm up: the token's last_used_at is written once per five minutes
    # when a page of 1 and a page of 50 are fetched; then both cost the same few queries
    small = _queries(lambda: api.get("/persons", {"limit": 1}))
    large = _queries(lambda: api.get("/persons", {"limit": 50}))
    assert small == large
    # session (1) + user (1) + staff and brands (2) + page (1); a token, cached after the first
    # request, needs only the page
    assert large == (1 if actor_name.startswith("api_") else 5)


@pytest.mark.parametrize(("actor_name", "budget"), [("hq_admin", 10), ("api_brand_premium", 6)])
def test_detail_query_budget(world: World, caller: CallerFor, actor_name: str, budget: int) -> None:
    # given a person with a household, two vehicles' worth of history and a butler
    person = world.persons["a1_owner"]
    for _ in range(3):
        OwnershipFactory(person=person, dealer=world.dealers["A1"], role="co_user")
    api = caller(actor_name)
    api.get(f"/persons/{person.pk}")
    # then auth (4 by session, 0 by a token cached on the first request) + person, household
    # members, ownerships, visits, assignments, contacts (6): nothing per vehicle or per dealer
    assert _queries(lambda: api.get(f"/persons/{person.pk}")) == budget

"""Dealers and vehicles over the API: scoped like persons, paged the same way, N+1-free."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import ACTOR_NAMES, World
from hufen.api.tests.helpers import Caller, error_of
from hufen.org.tests.factories import DealerFactory
from hufen.people.models import Ownership
from hufen.people.services import ownership_deliver
from hufen.people.tests.factories import OwnershipFactory, VehicleFactory

CallerFor = Callable[[str], Caller]

EXPECTED_DEALERS = {
    "hq_admin": {"A1", "A2", "B1"},
    "hq_operator": {"A1", "A2", "B1"},
    "region_east": {"A1", "A2"},
    "dealer_a1": {"A1"},
    "butler_a1": {"A1"},
    "dealer_b1": {"B1"},
    "merchant": set(),
    "api_dealer_a1": {"A1"},
    "api_brand_premium": {"A1", "B1"},
}


def expected_vins(world: World, actor_name: str) -> set[str]:
    owned = Ownership.objects.filter(person_id__in=world.expected(actor_name))
    return set(owned.values_list("vehicle__vin", flat=True))


# --- dealers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("actor_name", ACTOR_NAMES)
def test_dealer_list_and_detail_follow_the_scope(world: World, caller: CallerFor, actor_name: str) -> None:
    api = caller(actor_name)
    # Merchants see no dealer: an empty list (dealers are not personal data), and 404 on each one.
    assert {d["code"] for d in api.pages("/dealers", {"limit": 1})} == EXPECTED_DEALERS[actor_name]
    for code in ("A1", "A2", "B1"):
        response = api.get(f"/dealers/{code}")
        assert response.status_code == (200 if code in EXPECTED_DEALERS[actor_name] else 404)


def test_dealer_filters(caller: CallerFor) -> None:
    api = caller("hq_admin")
    assert [d["code"] for d in api.pages("/dealers", {"region": "east"})] == ["A1", "A2"]
    assert [d["code"] for d in api.pages("/dealers", {"q": "浦东"})] == ["A2"]
    assert [d["code"] for d in api.pages("/dealers", {"q": "广州", "region": "east"})] == []


def test_dealer_body(caller: CallerFor) -> None:
    body = caller("api_brand_premium").get("/dealers/A1").json()
    assert body["region"] == {"code": "east", "name": "华东大区"}
    assert sorted(body["brands"]) == ["mass", "premium"]


@pytest.mark.parametrize("code", ["A1\x00", "X" * 40, " "])
def test_impossible_dealer_codes_are_404(caller: CallerFor, code: str) -> None:
    assert caller("hq_admin").get(f"/dealers/{code}").status_code == 404


def test_dealer_list_queries_do_not_grow(world: World, caller: CallerFor) -> None:
    for _ in range(20):
        DealerFactory(region=world.regions["east"], brands=[world.brands["mass"], world.brands["premium"]])
    api = caller("api_brand_premium")
    api.get("/dealers")
    with CaptureQueriesContext(connection) as small:
        api.get("/dealers", {"limit": 1})
    with CaptureQueriesContext(connection) as large:
        api.get("/dealers", {"limit": 200})
    # the token is cached after the first request (0) + dealers with their region (1) + their brands (1)
    assert len(small) == len(large) == 2


# --- vehicles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("actor_name", ACTOR_NAMES)
def test_vehicle_list_and_detail_follow_the_scope(world: World, caller: CallerFor, actor_name: str) -> None:
    api = caller(actor_name)
    if actor_name == "merchant":
        assert api.get("/vehicles").status_code == 403
        assert error_of(api.get("/vehicles/LHF00000000000000"))["code"] == "forbidden"
        return
    wanted = expected_vins(world, actor_name)
    assert {v["vin"] for v in api.pages("/vehicles", {"limit": 2})} == wanted
    for ownership in Ownership.objects.select_related("vehicle"):
        vin = ownership.vehicle.vin
        response = api.get(f"/vehicles/{vin}")
        assert response.status_code == (200 if vin in wanted else 404), vin


def test_vehicle_search_by_vin_tail_and_plate(world: World, caller: CallerFor) -> None:
    api = caller("hq_admin")
    vin = world.persons["a1_owner"].ownerships.get().vehicle.vin
    assert [v["vin"] for v in api.pages("/vehicles", {"q": vin})] == [vin]
    assert vin in [v["vin"] for v in api.pages("/vehicles", {"q": vin[-6:].lower()})]
    assert [v["plate"] for v in api.pages("/vehicles", {"q": "浙AD12345"})] == ["浙AD12345"]


def test_vehicle_detail_shows_the_masked_current_owner(world: World, caller: CallerFor) -> None:
    vin = world.persons["a1_owner"].ownerships.get().vehicle.vin
    body = caller("butler_a1").get(f"/vehicles/{vin.lower()}").json()
    assert body["current_owner"]["person_id"] == world.persons["a1_owner"].pk
    assert body["current_owner"]["name"] == "王*伟"
    assert body["current_owner"]["phone"] == "138****5678"
    assert body["current_owner"]["dealer"] == "A1"


def test_vehicle_detail_hides_a_current_owner_outside_the_scope(world: World, caller: CallerFor) -> None:
    # given a1_owner's car sold on to b1_owner at B1
    ownership = world.persons["a1_owner"].ownerships.get()
    ownership_deliver(
        actor=world.actor("hq_admin"),
        person=world.persons["b1_owner"],
        vehicle=ownership.vehicle,
        dealer=world.dealers["B1"],
    )
    vin = ownership.vehicle.vin
    # then A1's dealer still finds the car (its former owner is in scope) but not who owns it now
    assert caller("dealer_a1").get(f"/vehicles/{vin}").json()["current_owner"] is None
    assert caller("hq_admin").get(f"/vehicles/{vin}").json()["current_owner"]["person_id"] == (
        world.persons["b1_owner"].pk
    )


def test_vehicle_list_queries_do_not_grow(world: World, caller: CallerFor) -> None:
    for _ in range(20):
        OwnershipFactory(vehicle=VehicleFactory(), dealer=world.dealers["A1"])
    api = caller("api_dealer_a1")
    api.get("/vehicles")
    with CaptureQueriesContext(connection) as small:
        api.get("/vehicles", {"limit": 1})
    with CaptureQueriesContext(connection) as large:
        api.get("/vehicles", {"limit": 200})
    assert len(small) == len(large) == 1  # the page; the token is cached after the first request

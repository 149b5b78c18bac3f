"""Query budgets: list and 360 pages cost a fixed number of queries, however much data they show."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import World
from hufen.people.models import ButlerAssignment
from hufen.people.tests.factories import OwnershipFactory, PersonFactory, ServiceVisitFactory, VehicleFactory

# session, user, staff, staff brands, header (+ a butler's grids), then the page's own reads
LIST_BUDGET = 8
DETAIL_BUDGET = 15  # + the merge redirect check (HQ) and the source-records section
DEALER_LIST_BUDGET = 10
DEALER_PAGE_BUDGET = 11
HOME_BUDGET = 12


def queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx)


def grow(world: World, n: int) -> None:
    """More persons at A1, each with two cars, a service visit and a butler; a1_owner gets more too."""
    a1 = world.dealers["A1"]
    for _ in range(n):
        person = PersonFactory()
        for _car in range(2):
            own = OwnershipFactory(person=person, dealer=a1)
        ServiceVisitFactory(person=person, vehicle=own.vehicle, dealer=a1)
    owner = world.persons["a1_owner"]
    for _ in range(n):
        own = OwnershipFactory(person=owner, dealer=a1, vehicle=VehicleFactory())
        ServiceVisitFactory(person=owner, vehicle=own.vehicle, dealer=world.dealers["A2"])
        PersonFactory(household=owner.household, household_role="child")


@pytest.mark.parametrize("name", ["hq_admin", "region_east", "dealer_a1", "butler_a1"])
def test_list_and_detail_pages_stay_within_budget_as_data_grows(
    world: World,
    login: Callable[[str], Client],
    django_assert_max_num_queries: Callable[[int], object],
    name: str,
) -> None:
    client = login(name)
    person = world.persons["a1_owner"].pk
    urls = {
        reverse("console:person_list"): LIST_BUDGET,
        reverse("console:person_list") + "?q=wxw": LIST_BUDGET,
        reverse("console:person_detail", args=[person]): DETAIL_BUDGET,
    }
    before = {url: queries(client, url) for url in urls}
    grow(world, 12)
    ButlerAssignment.objects.filter(person_id=person).update(reason="重新分配")
    for url, budget in urls.items():
        with django_assert_max_num_queries(budget):  # type: ignore[attr-defined]
            client.get(url)
        assert queries(client, url) == before[url], url  # no query per row


def test_dealer_and_home_pages_stay_within_budget(
    world: World, login: Callable[[str], Client], django_assert_max_num_queries: Callable[[int], object]
) -> None:
    client = login("hq_admin")
    grow(world, 5)
    for url, budget in {
        reverse("console:dealer_list"): DEALER_LIST_BUDGET,
        reverse("console:dealer_detail", args=["A1"]): DEALER_PAGE_BUDGET,
        reverse("console:home"): HOME_BUDGET,
    }.items():
        with django_assert_max_num_queries(budget):  # type: ignore[attr-defined]
            assert client.get(url).status_code == 200


def test_the_export_fetches_in_chunks_not_per_row(world: World, login: Callable[[str], Client]) -> None:
    grow(world, 10)
    client = login("hq_admin")
    with CaptureQueriesContext(connection) as ctx:
        response: Any = client.get(reverse("console:person_export"))
        rows = b"".join(response.streaming_content).decode().count("\n") - 1
    assert rows > 20
    assert len(ctx) <= 12

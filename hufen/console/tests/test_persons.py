"""Person pages show exactly the actor's scope: list, search, 360 and export, for every staff actor."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from conftest import STAFF_ACTORS, World
from hufen.common.models import AuditEvent
from hufen.common.pii import mask_name, mask_phone
from hufen.console.views import persons as person_views
from hufen.people.tests.factories import PersonFactory

CONSOLE_ROLES = [name for name in STAFF_ACTORS if name != "merchant"]
EXPORTERS = [name for name in CONSOLE_ROLES if name != "butler_a1"]


def listed_ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'data-person-id="(\d+)"', html)}


def export_rows(response: Any) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:])))


@pytest.mark.parametrize("name", CONSOLE_ROLES)
def test_list_shows_exactly_the_actor_scope(world: World, login: Callable[[str], Client], name: str) -> None:
    # given a staff actor; when it opens the customer list; then it sees exactly its scope
    html = login(name).get(reverse("console:person_list")).content.decode()
    assert listed_ids(html) == world.expected(name)
    for key, person in world.persons.items():
        shown = f"{mask_phone(person.phone)}</td>" in html
        assert shown == (person.pk in world.expected(name)), key


@pytest.mark.parametrize("name", CONSOLE_ROLES)
@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("王小伟", "a1_owner"),
        ("wangxiaowei", "a1_owner"),
        ("wxw", "a1_owner"),
        ("5678", "a1_owner"),
        ("13812345678", "a1_owner"),
        ("浙AD12345", "a1_other"),
        ("ouyang", "prospect"),
        ("0004", "b1_serviced_at_a1"),
    ],
)
def test_search_finds_only_within_scope(
    world: World, login: Callable[[str], Client], name: str, query: str, key: str
) -> None:
    response = login(name).get(reverse("console:person_list"), {"q": query})
    expected = {world.persons[key].pk} & world.expected(name)
    assert listed_ids(response.content.decode()) == expected


def test_live_search_returns_only_the_results_fragment(world: World, login: Callable[[str], Client]) -> None:
    response = login("hq_admin").get(reverse("console:person_list"), {"q": "wxw"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html
    assert 'data-testid="person-results"' in html
    assert listed_ids(html) == {world.persons["a1_owner"].pk}


def test_a_search_matching_nothing_says_so(world: World, login: Callable[[str], Client]) -> None:
    html = login("butler_a1").get(reverse("console:person_list"), {"q": "黄建国"}).content.decode()
    assert listed_ids(html) == set()
    assert 'data-testid="no-results"' in html


def test_keyset_pages_walk_forward_and_back(
    world: World, login: Callable[[str], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(person_views, "PAGE_SIZE", 4)
    client = login("hq_admin")
    seen: list[set[int]] = []
    url = reverse("console:person_list")
    while url:
        html = client.get(url).content.decode()
        seen.append(listed_ids(html))
        nxt = re.search(r'href="([^"]+after=\d+)"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else ""
    assert [len(s) for s in seen] == [4, 2]
    assert set().union(*seen) == world.expected("hq_admin")
    last_first = min(seen[1])
    back = client.get(reverse("console:person_list"), {"before": last_first}).content.decode()
    assert listed_ids(back) == seen[0]


def test_list_never_counts_beyond_its_page(
    world: World, login: Callable[[str], Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given more persons than a page holds; then the first page says "more than", not a total
    monkeypatch.setattr(person_views, "PAGE_SIZE", 4)
    html = login("hq_admin").get(reverse("console:person_list")).content.decode()
    assert "超过 4 位客户" in html
    # and a search that fits one page gives its exact count
    html = login("hq_admin").get(reverse("console:person_list"), {"q": "wxw"}).content.decode()
    assert "1 位客户" in html


def test_garbage_cursors_mean_the_first_page(world: World, login: Callable[[str], Client]) -> None:
    response = login("hq_admin").get(reverse("console:person_list"), {"after": "x'; drop", "before": "-1"})
    assert listed_ids(response.content.decode()) == world.expected("hq_admin")


# --- the 360 page -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CONSOLE_ROLES)
def test_detail_is_404_outside_scope(world: World, login: Callable[[str], Client], name: str) -> None:
    client = login(name)
    for key, person in world.persons.items():
        response = client.get(reverse("console:person_detail", args=[person.pk]))
        if person.pk in world.expected(name):
            assert response.status_code == 200, key
            assert mask_name(person.name) in response.content.decode()
        else:
            assert response.status_code == 404, key
            assert mask_name(person.name).encode() not in response.content


def test_detail_of_a_person_that_does_not_exist_is_404(world: World, login: Callable[[str], Client]) -> None:
    assert login("hq_admin").get(reverse("console:person_detail", args=[999_999])).status_code == 404


def test_detail_shows_household_vehicles_butler_visits_and_dealers(
    world: World, login: Callable[[str], Client]
) -> None:
    html = login("hq_admin").get(reverse("console:person_detail", args=[world.persons["a1_owner"].pk])).content.decode()
    assert "王家" in html and "李*" in html  # household and its other member, masked
    assert "星河 S7" in html  # vehicle series
    assert "钱管家" in html and "西湖网格" in html  # current butler and grid
    assert 'href="/console/dealers/A1/"' in html  # selling dealer, linked
    assert "138****5678" in html  # contact, masked
    visited = login("hq_admin").get(reverse("console:person_detail", args=[world.persons["b1_serviced_at_a1"].pk]))
    assert "保养" in visited.content.decode()  # the service visit at A1


def test_household_members_outside_scope_are_not_listed(world: World, login: Callable[[str], Client]) -> None:
    # butler_a1 serves a1_owner but not a1_other, who shares the household
    html = (
        login("butler_a1").get(reverse("console:person_detail", args=[world.persons["a1_owner"].pk])).content.decode()
    )
    assert f"/console/persons/{world.persons['a1_other'].pk}/" not in html
    assert "李*" not in html


def test_dealers_outside_scope_are_not_linked(world: World, login: Callable[[str], Client]) -> None:
    html = (
        login("dealer_a1")
        .get(reverse("console:person_detail", args=[world.persons["b1_serviced_at_a1"].pk]))
        .content.decode()
    )
    assert 'href="/console/dealers/A1/"' in html
    assert 'href="/console/dealers/B1/"' not in html
    assert "B1 广州极境天河店" in html


# --- export -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXPORTERS)
def test_export_holds_exactly_the_actor_scope_and_is_audited(
    world: World, login: Callable[[str], Client], name: str
) -> None:
    response = login(name).get(reverse("console:person_export"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = export_rows(response)
    assert {int(r["编号"]) for r in rows} == world.expected(name)
    event = AuditEvent.objects.get(action="persons.export")
    assert event.actor_user_id == world.staff[name].user_id
    assert event.summary["rows"] == len(world.expected(name))
    assert event.summary["query"] == ""


def test_export_follows_the_search(world: World, login: Callable[[str], Client]) -> None:
    response = login("dealer_a1").get(reverse("console:person_export"), {"q": "wxw"})
    rows = export_rows(response)
    assert [r["姓名"] for r in rows] == ["王*伟"]
    assert rows[0]["手机"] == "138****5678"
    assert rows[0]["车辆"] == "星河 S7"
    assert rows[0]["经销商"] == "A1 杭州星河之江店"
    event = AuditEvent.objects.get(action="persons.export")
    assert event.summary == {"query": "wxw", "rows": 1, "truncated": False, "format": "csv"}


def test_export_is_capped(world: World, login: Callable[[str], Client], settings: Any) -> None:
    settings.HUFEN_EXPORT_MAX_ROWS = 2
    PersonFactory.create_batch(3)
    response = login("hq_admin").get(reverse("console:person_export"))
    assert len(export_rows(response)) == 2
    assert response["X-Hufen-Export-Truncated"] == "true"
    assert AuditEvent.objects.get(action="persons.export").summary["truncated"] is True


@pytest.mark.parametrize("name", ["butler_a1", "merchant"])
def test_export_is_403_without_the_permission_and_not_audited(
    world: World, login: Callable[[str], Client], name: str
) -> None:
    response = login(name).get(reverse("console:person_export"))
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="persons.export").exists()


def test_export_link_shows_only_with_the_permission(world: World, login: Callable[[str], Client]) -> None:
    assert 'data-testid="export-link"' in login("dealer_a1").get(reverse("console:person_list")).content.decode()
    assert 'data-testid="export-link"' not in login("butler_a1").get(reverse("console:person_list")).content.decode()

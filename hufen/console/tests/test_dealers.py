"""Dealer list and dealer page: scoped through dealer_list / dealer_get, 404 outside the scope."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from conftest import World

EXPECTED_DEALERS: dict[str, set[str]] = {
    "hq_admin": {"A1", "A2", "B1"},
    "hq_operator": {"A1", "A2", "B1"},
    "region_east": {"A1", "A2"},
    "dealer_a1": {"A1"},
    "butler_a1": {"A1"},
    "dealer_b1": {"B1"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_DEALERS))
def test_dealer_list_and_pages_follow_the_scope(world: World, login: Callable[[str], Client], name: str) -> None:
    client = login(name)
    html = client.get(reverse("console:dealer_list")).content.decode()
    assert set(re.findall(r'data-dealer="([^"]+)"', html)) == EXPECTED_DEALERS[name]
    for code in world.dealers:
        response = client.get(reverse("console:dealer_detail", args=[code]))
        assert response.status_code == (200 if code in EXPECTED_DEALERS[name] else 404), code


def test_dealer_page_shows_region_brands_address_staff_grids_and_owners(
    world: World, login: Callable[[str], Client]
) -> None:
    html = login("hq_admin").get(reverse("console:dealer_detail", args=["A1"])).content.decode()
    for text in [
        "杭州星河之江店",
        "华东大区",
        "星河汽车",
        "极境",
        "文三路 90 号",
        "西湖网格",
        "钱管家",
        "拱墅网格",
        "孙管家",
    ]:
        assert text in html, text
    assert re.search(r"经销商店总</div>\s*<div class=\"h1 mb-0\">1</div>", html)
    assert re.search(r"安享管家</div>\s*<div class=\"h1 mb-0\">2</div>", html)
    # a1_owner and a1_other bought at A1 and still own their cars
    assert re.search(r'data-testid="dealer-owners">2<', html)


def test_dealer_owner_count_follows_the_actor_scope(world: World, login: Callable[[str], Client]) -> None:
    # a butler counts only the owners it may see: its own grid's
    html = login("butler_a1").get(reverse("console:dealer_detail", args=["A1"])).content.decode()
    assert re.search(r'data-testid="dealer-owners">1<', html)


def test_dealer_list_search_and_owner_counts(world: World, login: Callable[[str], Client]) -> None:
    html = login("hq_admin").get(reverse("console:dealer_list"), {"q": "广州"}).content.decode()
    assert set(re.findall(r'data-dealer="([^"]+)"', html)) == {"B1"}
    row = html.split('data-dealer="B1"', 1)[1].split("</tr>", 1)[0]
    assert re.search(r'class="text-end">2</td>', row)  # b1_owner and b1_serviced_at_a1

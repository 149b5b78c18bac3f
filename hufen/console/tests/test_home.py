"""The home page shows the actor's own figures and embeds the chart data as JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from django.test import Client

from conftest import STAFF_ACTORS, World
from hufen.people.selectors import home_figures

CONSOLE_ROLES = [name for name in STAFF_ACTORS if name != "merchant"]


@pytest.mark.parametrize("name", CONSOLE_ROLES)
def test_home_shows_the_actor_figures(world: World, login: Callable[[str], Client], name: str) -> None:
    html = login(name).get("/console/").content.decode()
    figures = home_figures(actor=world.actor(name))
    assert figures.persons == len(world.expected(name))
    for key in ["persons", "owners", "dealers", "vehicles"]:
        assert re.search(rf'data-testid="figure-{key}">{getattr(figures, key)}<', html), key
    data = json.loads(html.split('<script id="chart-data" type="application/json">', 1)[1].split("</script>", 1)[0])
    assert sum(r["value"] for r in data["by_brand"]) == figures.vehicles
    assert sum(r["count"] for r in data["by_month"]) == sum(r["count"] for r in figures.new_owners_by_month)
    assert "/static/vendor/echarts/echarts.min.js" in html


def test_hq_home_has_both_brands_and_series(world: World, login: Callable[[str], Client]) -> None:
    html = login("hq_admin").get("/console/").content.decode()
    data = json.loads(html.split('<script id="chart-data" type="application/json">', 1)[1].split("</script>", 1)[0])
    assert {r["name"] for r in data["by_brand"]} == {"星河汽车", "极境"}
    assert {r["name"] for r in data["by_series"]} == {"星河 S7", "极境 E9"}


def test_home_figures_are_shared_by_a_scope_and_kept_apart_between_scopes(
    world: World, login: Callable[[str], Client]
) -> None:
    # hq_admin and hq_operator share one scope; dealer_a1 has its own
    assert 'data-testid="figure-persons">6<' in login("hq_admin").get("/console/").content.decode()
    assert 'data-testid="figure-persons">3<' in login("dealer_a1").get("/console/").content.decode()
    assert 'data-testid="figure-persons">1<' in login("butler_a1").get("/console/").content.decode()
    assert 'data-testid="figure-persons">6<' in login("hq_operator").get("/console/").content.decode()
    assert 'data-testid="figure-persons">4<' in login("region_east").get("/console/").content.decode()

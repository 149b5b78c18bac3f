"""Console analytics pages render per role and export CSV and Excel."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from openpyxl import load_workbook

from conftest import World
from hufen.analytics.lakegen import Event, write_events

PAGES = [
    "/console/analytics/",
    "/console/analytics/double/",
    "/console/analytics/retention/",
    "/console/analytics/active/",
]
RANGE = "from=2026-05-01&to=2026-05-31"


@pytest.fixture
def lake(tmp_path: Path, world: World, settings: Any) -> Path:
    settings.LAKE_URL = str(tmp_path)
    a1 = world.dealers["A1"].pk
    t = dt.datetime(2026, 5, 10, tzinfo=dt.UTC)
    write_events(str(tmp_path), [Event("lead_created", t, 1, a1), Event("store_visited", t, 1, a1)])
    return tmp_path


def login(world: World, name: str) -> Client:
    client = Client()
    client.force_login(world.staff[name].user)
    return client


@pytest.mark.parametrize("page", PAGES)
def test_pages_render_for_hq(lake: Path, world: World, page: str) -> None:
    response = login(world, "hq_admin").get(f"{page}?{RANGE}")
    assert response.status_code == 200
    assert 'id="analytics-data"' in response.content.decode()


@pytest.mark.parametrize("page", PAGES)
def test_butler_is_refused(lake: Path, world: World, page: str) -> None:
    assert login(world, "butler_a1").get(page).status_code == 403


def test_funnel_exports_csv_and_excel(lake: Path, world: World) -> None:
    client = login(world, "dealer_a1")
    csv_text = client.get(f"/console/analytics/?steps=lead_created,store_visited&{RANGE}&export=csv").content.decode()
    assert "lead_created,1,1.0" in csv_text
    xlsx = client.get(f"/console/analytics/?steps=lead_created,store_visited&{RANGE}&export=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    assert [c.value for c in sheet[3]][2:4] == ["store_visited", 1]


def test_bad_window_is_shown(lake: Path, world: World) -> None:
    response = login(world, "hq_admin").get("/console/analytics/?steps=lead_created&window=3x")
    assert response.status_code == 422
    assert "window" in response.content.decode()

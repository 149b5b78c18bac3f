"""The analytics console in real headless Chromium: an empty lake shows the empty state, and after
events arrive the same page draws its chart. Screenshots land in test-artifacts/demoevents-*.png."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from conftest import World
from hufen.analytics.lakegen import Event, write_events
from hufen.testing.browser import assert_styled, log_in, new_page

pytestmark = pytest.mark.browser


def test_empty_lake_state_then_chart(
    browser: Any, live_server: Any, browser_world: World, demo_lake: Path, artifacts_dir: Path, settings: Any
) -> None:
    settings.ANALYTICS_CACHE_SECONDS = 0
    base = live_server.url
    page = new_page(browser)
    log_in(page, base, browser_world, "hq_admin")
    for path in ("/console/analytics/", "/console/analytics/double/", "/console/analytics/active/"):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 200
        assert_styled(page)
        empty = page.locator("[data-testid=empty-lake]")
        assert empty.is_visible()
        assert "暂无事件数据" in empty.inner_text()
        assert page.locator("[data-testid=error]").count() == 0
    page.screenshot(path=str(artifacts_dir / "demoevents-empty-lake.png"), full_page=True)

    a1 = browser_world.dealers["A1"].pk
    t = dt.datetime(2026, 5, 10, 3, tzinfo=dt.UTC)
    write_events(str(demo_lake), [Event("lead_created", t, 1, a1), Event("store_visited", t, 1, a1)])
    page.goto(f"{base}/console/analytics/?from=2026-05-01&to=2026-05-31")
    page.wait_for_selector("#analytics-chart canvas")
    assert page.locator("[data-testid=empty-lake]").count() == 0
    assert page.failures == []
    page.screenshot(path=str(artifacts_dir / "demoevents-chart.png"), full_page=True)

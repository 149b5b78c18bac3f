"""The analytics pages in real headless Chromium: funnel builder, double funnel, retention heat map,
activity, the CSV and Excel exports and the rejected-events page.

Screenshots land in test-artifacts/analytics-*.png.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from conftest import World
from hufen.analytics.lakegen import Event, write_events
from hufen.common.actors import SYSTEM
from hufen.common.models import AuditEvent
from hufen.testing.browser import assert_styled, log_in, new_page
from hufen.tracking.models import EventType, PendingEvent
from hufen.tracking.services import events_ingest
from hufen.tracking.tests.helpers import raw_event

pytestmark = pytest.mark.browser
T0 = dt.datetime(2026, 5, 3, 2, 0, tzinfo=dt.UTC)
RANGE = "from=2026-05-01&to=2026-05-31"


@pytest.fixture
def lake(tmp_path: Path, browser_world: World, settings: Any) -> Path:
    settings.LAKE_URL = str(tmp_path)
    settings.ANALYTICS_CACHE_SECONDS = 0
    dealers = [browser_world.dealers[k].pk for k in ("A1", "A2", "B1")]
    events: list[Event] = []
    for pid in range(1, 41):
        dealer, channel = dealers[pid % 3], ["app", "wechat", "dealer"][pid % 3]
        t = T0 + dt.timedelta(hours=7 * pid)
        steps = ["lead_created", "store_visited", "test_drive", "order_placed", "vehicle_delivered"][: 1 + pid % 5]
        events += [Event(s, t + dt.timedelta(days=i), pid, dealer, channel) for i, s in enumerate(steps)]
        if pid % 5 == 4:  # delivered: joins, comes back to the app weekly
            events.append(Event("member_joined", t + dt.timedelta(days=5), pid, dealer, channel))
            events += [Event("app_active", t + dt.timedelta(days=6 + 7 * w), pid, dealer, "app") for w in range(3)]
    write_events(str(tmp_path), events)
    return tmp_path


def chart_drawn(page: Any) -> None:
    page.wait_for_selector("#analytics-chart canvas")
    assert page.failures == []


def test_analytics_pages_draw_and_export(
    browser: Any, live_server: Any, browser_world: World, lake: Path, artifacts_dir: Path
) -> None:
    base = live_server.url
    page = new_page(browser)
    log_in(page, base, browser_world, "hq_admin")

    # the funnel builder: type the steps, a window and a breakdown, run, and read bars and table
    page.goto(f"{base}/console/analytics/?{RANGE}")
    assert_styled(page)
    chart_drawn(page)
    page.fill("input[name=steps]", "lead_created,store_visited,test_drive")
    page.fill("input[name=window]", "7d")
    page.fill("input[name=by]", "channel")
    page.click("[data-testid=run]")
    page.wait_for_url("**steps=lead_created%2Cstore_visited%2Ctest_drive**")
    chart_drawn(page)
    table = page.locator("[data-testid=result-table]").inner_text()
    assert "lead_created\t40" in table and "store_visited\t32" in table and "test_drive\t24" in table
    assert "wechat" in table and "dealer" in table
    page.screenshot(path=str(artifacts_dir / "analytics-funnel.png"), full_page=True)

    # the exports download what the table shows
    with page.expect_download() as got:
        page.click("[data-testid=export-csv]")
    text = Path(got.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["funnel", "breakdown", "step", "persons", "conversion", "step conversion", "median seconds"]
    assert rows[2][:4] == ["", "全部", "store_visited", "32"]
    with page.expect_download() as got:
        page.click("[data-testid=export-xlsx]")
    saved = artifacts_dir / "analytics-funnel.xlsx"
    got.value.save_as(saved)
    sheet = load_workbook(saved).active
    assert sheet is not None and [c.value for c in sheet[4]][2:4] == ["test_drive", 24]

    # the double funnel: both funnels side by side
    page.click("text=双漏斗")
    page.wait_for_url("**/analytics/double/**")
    page.goto(f"{base}/console/analytics/double/?{RANGE}")
    chart_drawn(page)
    double = page.locator("[data-testid=result-table]").inner_text()
    assert "vehicle_delivered\t8" in double and "member_joined\t8" in double
    page.screenshot(path=str(artifacts_dir / "analytics-double-funnel.png"), full_page=True)

    # the retention heat map: weekly cohorts of delivered owners coming back to the app
    page.goto(f"{base}/console/analytics/retention/?{RANGE}&period=week&periods=6")
    chart_drawn(page)
    assert page.locator("[data-testid=result-table] tbody tr").count() >= 2
    page.screenshot(path=str(artifacts_dir / "analytics-retention.png"), full_page=True)

    # the activity lines
    page.goto(f"{base}/console/analytics/active/?{RANGE}")
    chart_drawn(page)
    assert page.locator("[data-testid=result-table] tbody tr").count() == 31
    page.screenshot(path=str(artifacts_dir / "analytics-activity.png"), full_page=True)

    # bad input is named, not a chart
    page.goto(f"{base}/console/analytics/?steps=Lead&{RANGE}")
    assert "steps:" in page.locator("[data-testid=error]").inner_text()


def test_dealer_sees_its_own_funnel_only(
    browser: Any, live_server: Any, browser_world: World, lake: Path, artifacts_dir: Path
) -> None:
    page = new_page(browser)
    log_in(page, live_server.url, browser_world, "dealer_a1")
    page.goto(f"{live_server.url}/console/analytics/?funnel=acquisition&{RANGE}")
    chart_drawn(page)
    a1_persons = sum(1 for pid in range(1, 41) if pid % 3 == 0)
    assert f"lead_created\t{a1_persons}\t" in page.locator("[data-testid=result-table]").inner_text()
    assert page.locator("[data-testid=tab-dead-letters]").count() == 0
    page.goto(f"{live_server.url}/console/analytics/dead-letters/")
    assert page.locator("[data-testid=forbidden]").is_visible()


def test_rejected_events_page_masks_and_retries(
    browser: Any, live_server: Any, browser_world: World, lake: Path, artifacts_dir: Path
) -> None:
    events_ingest(
        actor=SYSTEM,
        raw_events=[
            raw_event(event_id="showroom-1", event="showroom_checkin", properties={"联系电话": "13812345678"}),
            raw_event(event_id="late-1", ts="2099-01-01T00:00:00+08:00"),
        ],
    )
    page = new_page(browser)
    log_in(page, live_server.url, browser_world, "hq_admin")
    page.goto(f"{live_server.url}/console/analytics/")
    page.click("[data-testid=tab-dead-letters]")
    page.wait_for_selector("[data-testid=dead-letters]")
    body = page.locator("[data-testid=dead-letters]").inner_text()
    assert "138****5678" in body and "13812345678" not in page.content()
    assert "不在事件目录中" in body or "not in the event catalogue" in body
    page.screenshot(path=str(artifacts_dir / "analytics-dead-letters.png"), full_page=True)

    # HQ declares the event type, then retries that row: it is stored and leaves the list
    EventType.objects.create(name="showroom_checkin")
    page.locator("tr", has_text="showroom-1").locator("input[type=checkbox]").check()
    page.click("[data-testid=retry]")
    page.wait_for_selector("[data-testid=notice]")
    assert "1 条接收" in page.locator("[data-testid=notice]").inner_text()
    assert "showroom-1" not in page.locator("[data-testid=dead-letters]").inner_text()
    assert PendingEvent.objects.filter(event_id="showroom-1").exists()
    assert AuditEvent.objects.filter(action="tracking.dead_letter.retry").count() == 1

    # and filters by reason
    page.fill("input[name=reason]", "future")
    page.locator("[data-testid=filter] button").click()
    page.wait_for_url("**reason=future**")
    assert "late-1" in page.locator("[data-testid=dead-letters]").inner_text()

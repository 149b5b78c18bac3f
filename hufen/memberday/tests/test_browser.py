"""Member Day in a real headless Chromium: the owner's page at phone size, and the live dashboard.

Screenshots: test-artifacts/memberday-portal.png, memberday-portal-done.png, memberday-setup.png,
memberday-live.png.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.memberday.awards import memberday_award_pending
from hufen.memberday.checkin import memberday_check_in
from hufen.memberday.models import CheckIn, Offer, SessionSignup
from hufen.memberday.sessions import session_create
from hufen.memberday.tests.helpers import join, today_occurrence
from hufen.membership.models import PointsAccount
from hufen.portal.access import COOKIE_NAME
from hufen.portal.tests.helpers import signed_in_client
from hufen.testing.browser import assert_styled, log_in, new_page

pytestmark = pytest.mark.browser


def test_owner_checks_in_and_signs_up_on_a_phone(
    browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path
) -> None:
    world = browser_world
    occ = today_occurrence(world)
    start = max(occ.starts_at, dt.datetime.now(dt.UTC)) + dt.timedelta(minutes=1)
    session = session_create(
        actor=SYSTEM,
        occurrence=occ,
        dealer=world.dealers["A2"],
        title="车主沙龙：冬季用车讲堂",
        location="上海星河浦东店二楼",
        starts_at=start,
        ends_at=min(start + dt.timedelta(hours=2), occ.ends_at),
        capacity=12,
    )
    Offer.objects.create(occurrence=occ, title="全员：免费洗车一次", body="到店出示会员卡", min_tier_rank=0)
    Offer.objects.create(occurrence=occ, title="黑卡：机场接送", min_tier_rank=3)
    client, member = signed_in_client(world, "a2_owner")
    page = new_page(browser, mobile=True)
    page.context.add_cookies(
        [{"name": COOKIE_NAME, "value": client.cookies[COOKIE_NAME].value, "url": f"{live_server.url}/m/"}]
    )

    # given the owner opens Member Day on a phone
    page.goto(f"{live_server.url}/m/memberday/")
    assert_styled(page)
    assert page.locator("[data-testid=memberday-title]").inner_text() == occ.title
    assert "免费洗车" in page.locator("[data-testid=offers]").inner_text()
    assert "机场接送" not in page.locator("[data-testid=offers]").inner_text()  # not for the entry tier
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page scrolls sideways on a phone"
    page.screenshot(path=str(artifacts_dir / "memberday-portal.png"), full_page=True)

    # when they tap check-in, then the button turns into "checked in" without a reload
    page.click("[data-testid=check-in]")
    page.wait_for_selector("[data-testid=checked-in]")
    assert "+10" in page.locator("[data-testid=checked-in-flash]").inner_text()
    assert page.locator("[data-testid=checkin-points-pending]").count() == 1  # the points are on their way
    assert page.locator("[data-testid=task-check_in] [data-testid=task-done]").count() == 1

    # and when they sign up for the dealer session nearby
    page.click(f"[data-testid=session-{session.pk}] [data-testid=sign-up]")
    page.wait_for_selector(f"[data-testid=session-{session.pk}] [data-testid=signed-up]")
    page.screenshot(path=str(artifacts_dir / "memberday-portal-done.png"), full_page=True)
    assert page.failures == []

    assert CheckIn.objects.filter(member=member).count() == 1
    assert SessionSignup.objects.filter(member=member, session=session).count() == 1
    # and once the award drain has run, the points are in the account and the page says so
    memberday_award_pending()
    assert PointsAccount.objects.get(member=member).balance == 10
    page.goto(f"{live_server.url}/m/memberday/")
    page.wait_for_selector("[data-testid=checkin-points-awarded]")


def test_live_dashboard_draws_the_check_in_line(
    browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path
) -> None:
    world = browser_world
    occ = today_occurrence(world)
    for person in ("a1_owner", "a1_other", "a2_owner"):
        memberday_check_in(actor=SYSTEM, member_id=join(world, person).pk)
    page = new_page(browser)
    log_in(page, live_server.url, world, "hq_operator")
    page.click("text=会员日")
    # set-up: HQ adds a tier offer through the form on the day's page
    page.click(f"a[href='/console/memberday/{occ.pk}/']")
    assert_styled(page)
    page.fill("[data-testid=offer-form] input[name=title]", "金卡专享：免费四轮定位")
    page.select_option("[data-testid=offer-form] select[name=min_tier_rank]", "2")
    page.click("[data-testid=offer-form] button[type=submit]")
    page.wait_for_selector("[data-testid=flash]")
    assert "金卡专享：免费四轮定位" in page.locator("[data-testid=offers]").inner_text()
    page.screenshot(path=str(artifacts_dir / "memberday-setup.png"), full_page=True)
    page.click(f"a[href='/console/memberday/{occ.pk}/live/']")
    page.wait_for_selector("#memberday-chart svg")
    assert page.locator("[data-testid=checkins]").inner_text() == "3"
    # the htmx refresh swaps the figures in place and the chart is drawn again
    page.evaluate("htmx.ajax('GET', location.pathname, {target: '#memberday-live', swap: 'innerHTML'})")
    page.wait_for_selector("#memberday-chart svg")
    page.screenshot(path=str(artifacts_dir / "memberday-live.png"), full_page=True)
    assert page.failures == []

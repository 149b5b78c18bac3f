"""The member pages in a real headless Chromium: list → detail, masked, with the ledger paged by htmx.

Screenshots: test-artifacts/membership-list.png, membership-detail.png, membership-rules.png.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.membership.benefits import benefit_redeem
from hufen.membership.earning import points_earn
from hufen.membership.ledger import points_award
from hufen.membership.tests.earning_helpers import rule, send, shanghai
from hufen.membership.tests.helpers import item, join
from hufen.testing.browser import assert_styled, log_in, new_page

pytestmark = pytest.mark.browser


def test_member_detail_page(
    browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path, lake_url: str
) -> None:
    world = browser_world
    member = join(world)
    join(world, "b1_owner")  # outside dealer_a1's scope
    for i in range(22):
        points_award(actor=SYSTEM, member=member, amount=200, reason="goodwill", idempotency_key=f"g{i}")
    benefit_redeem(actor=SYSTEM, member=member, item=item(member, price=300), quantity=1, idempotency_key="r1")
    rule(member, "post", "post_created", 10, "community_post", daily_cap_count=1)
    for hour in (9, 10):
        send(member.person_id, "post_created", shanghai("2026-11-10", hour), post_id=f"p{hour}")
    points_earn()
    base = live_server.url
    page = new_page(browser)
    log_in(page, base, world, "dealer_a1")

    # the 会员 menu entry leads to the member list, scoped and masked
    page.click("#navbar-menu >> text=会员")
    page.wait_for_url(re.compile(r".*/console/membership/$"))
    assert_styled(page)
    rows = page.locator("tr[data-member-id]")
    assert rows.count() == 1
    assert "王*伟" in rows.first.inner_text() and "138****5678" in rows.first.inner_text()
    page.screenshot(path=str(artifacts_dir / "membership-list.png"), full_page=True)

    # the detail: balance, lots, tier history, redemptions, decisions explained
    rows.first.locator("a").click()
    page.wait_for_url(re.compile(rf".*/console/membership/members/{member.pk}/$"))
    assert page.locator("[data-testid=member-name]").inner_text() == "王*伟"
    assert page.locator("[data-testid=member-balance]").inner_text() == "4,110"  # 22×200 − 300 + 10
    assert "精洗一次" in page.locator("[data-testid=redemptions]").inner_text()
    decisions = page.locator("[data-testid=decisions]").inner_text()
    assert "已发放" in decisions and "未发放：已达上限" in decisions and "day cap of 1 awards reached" in decisions
    assert page.locator("tr[data-entry-id]").count() == 20
    page.screenshot(path=str(artifacts_dir / "membership-detail.png"), full_page=True)

    # older entries load in place (htmx), without a reload
    page.click("[data-testid=more-entries]")
    page.wait_for_function("document.querySelectorAll('tr[data-entry-id]').length === 24")
    assert page.failures == []

    # a member outside the scope is a 404, not a page
    outside = world.persons["b1_owner"].memberships.get().pk
    response = page.goto(f"{base}/console/membership/members/{outside}/")
    assert response is not None and response.status == 404


def test_rules_page_for_hq_admin(
    browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path, lake_url: str
) -> None:
    world = browser_world
    join(world)
    base = live_server.url
    page = new_page(browser)
    log_in(page, base, world, "hq_admin")
    page.goto(f"{base}/console/membership/rules/new/")
    page.fill("#f-code", "checkin")
    page.fill("#f-name", "每日签到")
    page.fill("#f-event", "daily_check_in")
    page.fill("#f-points", "0")
    page.click("[data-testid=rule-form] button[type=submit]")
    error = page.locator("[data-error-for=points]")
    assert "1" in error.inner_text()
    page.fill("#f-points", "5")
    page.fill("#f-daily_cap_count", "1")
    page.select_option("#f-reason", "check_in")
    page.click("[data-testid=rule-form] button[type=submit]")
    page.wait_for_url(re.compile(r".*/console/membership/rules/#rule-\d+$"))
    assert "每日签到" in page.locator("tr[data-rule-code=checkin]").inner_text()
    page.screenshot(path=str(artifacts_dir / "membership-rules.png"), full_page=True)
    assert page.failures == []

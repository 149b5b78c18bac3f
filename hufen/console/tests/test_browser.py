"""The console in a real headless Chromium (Debian's, through Playwright's sync API).

Screenshots land in test-artifacts/ (login.png, home.png, search.png, person360.png, ...) for a
person to look at: they show whether Tabler's CSS loaded and Chinese text rendered.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from conftest import World
from hufen.common.models import AuditEvent
from hufen.testing.browser import assert_styled, log_in, new_page

pytestmark = pytest.mark.browser


def test_login_search_and_person_360(browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path) -> None:
    world = browser_world
    base = live_server.url
    page = new_page(browser)

    # given the login page, styled and in Chinese
    page.goto(f"{base}/console/login/")
    assert_styled(page)
    assert page.locator("h1").inner_text() == "登录您的账户"
    page.screenshot(path=str(artifacts_dir / "login.png"), full_page=True)

    # when dealer_a1 logs in, then the home page shows its figures and draws the charts
    log_in(page, base, world, "dealer_a1")
    assert page.locator("[data-testid=figure-persons]").inner_text() == str(len(world.expected("dealer_a1")))
    assert "赵店长" in page.locator("[data-testid=whoami]").inner_text()
    page.wait_for_selector("#chart-by-month svg")
    page.wait_for_selector("#chart-by-brand svg")
    page.screenshot(path=str(artifacts_dir / "home.png"), full_page=True)

    # when it types initials into the live search, then the masked result appears without a reload
    page.click("text=客户")
    page.wait_for_url(re.compile(r".*/console/persons/$"))
    page.locator("#person-search").press_sequentially("wxw", delay=60)
    page.wait_for_url(re.compile(r".*q=wxw"))
    rows = page.locator("tr[data-person-id]")
    rows.first.wait_for()
    page.wait_for_function("document.querySelectorAll('tr[data-person-id]').length === 1")
    assert "王*伟" in rows.first.inner_text() and "138****5678" in rows.first.inner_text()
    page.screenshot(path=str(artifacts_dir / "search.png"), full_page=True)

    # and a last-four search finds the same person
    page.fill("#person-search", "")
    page.locator("#person-search").press_sequentially("5678", delay=60)
    page.wait_for_url(re.compile(r".*q=5678"))
    page.wait_for_function("document.querySelectorAll('tr[data-person-id]').length === 1")

    # when it opens the person, then the 360 page is masked
    page.locator("tr[data-person-id] a").first.click()
    page.wait_for_url(re.compile(rf".*/console/persons/{world.persons['a1_owner'].pk}/$"))
    assert page.locator("[data-testid=person-name]").inner_text() == "王*伟"
    assert "13812345678" not in page.content()
    for section in ["profile", "butler", "household", "vehicles", "visits", "assignments", "dealers"]:
        assert page.locator(f"[data-testid={section}]").is_visible(), section
    page.screenshot(path=str(artifacts_dir / "person360.png"), full_page=True)

    # when it reveals the mobile number giving a reason, then the clear value shows and is audited
    page.once("dialog", lambda dialog: dialog.accept("客户来电核实"))
    page.click("[data-testid=reveal-phone]")
    page.wait_for_selector("[data-revealed=phone]")
    assert page.locator("[data-revealed=phone]").inner_text() == "+8613812345678"
    assert page.locator("[data-testid=reveal-phone]").count() == 0
    event = AuditEvent.objects.get(action="pii.reveal")
    assert event.reason == "客户来电核实"
    assert event.actor_user_id == world.staff["dealer_a1"].user_id
    page.screenshot(path=str(artifacts_dir / "person360-revealed.png"))

    # when it switches to English, then the same page renders in English
    page.locator("footer button[value=en]").click()
    page.wait_for_selector("html[lang=en]")
    assert "Customer 360" in page.locator(".page-pretitle").text_content()
    page.screenshot(path=str(artifacts_dir / "person360-en.png"), full_page=True)
    assert page.failures == []


def test_merchant_sees_no_access_and_operator_has_no_reveal(
    browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path
) -> None:
    base = live_server.url
    page = new_page(browser)
    page.goto(f"{base}/console/login/")
    page.fill("#id_username", "merchant")
    page.fill("#id_password", browser_world.password)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=no-access]")
    assert_styled(page)
    page.screenshot(path=str(artifacts_dir / "no-access.png"), full_page=True)

    operator = new_page(browser)
    log_in(operator, base, browser_world, "hq_operator")
    operator.goto(f"{base}/console/persons/{browser_world.persons['a1_owner'].pk}/")
    assert operator.locator("[data-testid^=reveal-]").count() == 0
    assert operator.failures == [] and page.failures == []


def test_mobile_layout_collapses_the_menu(
    browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path
) -> None:
    base = live_server.url
    page = new_page(browser, mobile=True)
    log_in(page, base, browser_world, "butler_a1")
    page.goto(f"{base}/console/persons/")
    toggler = page.locator(".navbar-toggler")
    assert toggler.is_visible()
    assert not page.locator("#navbar-menu").is_visible()
    toggler.click()
    page.locator("#navbar-menu .nav-link", has_text="我的车主").wait_for(state="visible")
    page.wait_for_selector("#navbar-menu.collapse.show")  # Bootstrap's opening transition is over
    page.screenshot(path=str(artifacts_dir / "mobile-menu.png"))
    # the table scrolls inside its card instead of widening the page
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert page.failures == []

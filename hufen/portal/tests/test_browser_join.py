"""The join page in real headless Chromium at a phone viewport (390x844): the program's terms, the
consent box that must be ticked, the optional marketing consent, and declining.

Screenshots in test-artifacts/portal-join-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from conftest import World
from hufen.membership.models import Member
from hufen.people.models import ContactPoint
from hufen.portal.models import ProgramConsent
from hufen.portal.terms import TERMS_VERSION
from hufen.portal.tests.helpers import last_code
from hufen.testing.browser import assert_styled, new_page

pytestmark = pytest.mark.browser

PHONE = "+8615012340002"


def _code_step(page: Any, base: str) -> None:
    page.goto(f"{base}/m/login/")
    page.fill("#id_phone", "15012340002")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=code-sent]")
    page.fill("#id_code", last_code(PHONE))
    page.click("[data-testid=code-form] button[type=submit]")
    page.wait_for_url(re.compile(r".*/m/join/\?next="))


def test_owner_reads_the_terms_must_agree_then_joins(
    browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path
) -> None:
    cache.clear()
    world = browser_world
    base = live_server.url
    page = new_page(browser, mobile=True)

    # given the owner of a2 typed a right code: the join page, in Chinese, fits a phone
    _code_step(page, base)
    assert_styled(page)
    assert page.locator("[data-testid=join-title]").inner_text() == "加入星河汽车会员"
    assert "150****0002" in page.locator("[data-testid=join-phone]").inner_text()
    terms = page.locator("[data-testid=terms]")
    assert "星河汽车会员章程" in terms.inner_text() and len(terms.locator("li").all()) == 4
    assert TERMS_VERSION in page.locator("[data-testid=terms-version]").inner_text()
    assert not page.is_checked("[data-testid=accept-terms]")  # never pre-ticked
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts_dir / "portal-join-terms.png"), full_page=True)
    # the phone is already verified, but nobody is enrolled yet
    assert ContactPoint.objects.get(value=PHONE).verified_at is not None
    assert not Member.objects.filter(person=world.persons["a2_owner"]).exists()

    # when they tap join without ticking the box: a clear refusal, nothing recorded
    page.check("[data-testid=marketing]")
    page.click("[data-testid=join-submit]")
    page.wait_for_selector("[data-testid=error-accept_terms]")
    assert "同意" in page.locator("[data-testid=error-accept_terms]").inner_text()
    assert page.is_checked("[data-testid=marketing]")  # their other choice is kept
    page.screenshot(path=str(artifacts_dir / "portal-join-refused.png"), full_page=True)
    assert not ProgramConsent.objects.exists()

    # when they tick it and join: the card, a welcome with the member number, the consent recorded
    page.check("[data-testid=accept-terms]")
    page.click("[data-testid=join-submit]")
    page.wait_for_url(f"{base}/m/")
    member = Member.objects.get(person=world.persons["a2_owner"])
    assert member.number in page.locator("[data-testid=flash]").inner_text()
    assert page.locator("[data-testid=member-number]").inner_text() == member.number
    consent = ProgramConsent.objects.get()
    assert consent.marketing is True and consent.terms_version == TERMS_VERSION
    page.screenshot(path=str(artifacts_dir / "portal-join-welcome.png"), full_page=True)
    assert page.failures == []


def test_owner_declines_and_nothing_is_enrolled(
    browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path
) -> None:
    cache.clear()
    world = browser_world
    base = live_server.url
    page = new_page(browser, mobile=True)
    _code_step(page, base)
    page.click("[data-testid=join-decline]")
    page.wait_for_url(re.compile(r".*/m/login/$"))
    assert "暂未加入" in page.locator("[data-testid=flash]").inner_text()
    page.screenshot(path=str(artifacts_dir / "portal-join-declined.png"), full_page=True)
    assert not Member.objects.filter(person=world.persons["a2_owner"]).exists()
    assert not ProgramConsent.objects.exists()
    # the join page is gone with the ticket
    page.goto(f"{base}/m/join/")
    page.wait_for_url(re.compile(r".*/m/login/$"))
    assert page.failures == []

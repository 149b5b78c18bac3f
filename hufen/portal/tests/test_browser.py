"""The owner portal in real headless Chromium at a phone viewport (390x844).

Screenshots in test-artifacts/portal-*.png: sign-in, the card with its car-key QR, points history,
the benefits catalogue, the redemption confirmation and the redemptions list, and HQ's SMS outbox.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from conftest import World
from hufen.membership.models import Member, PointsAccount, Redemption
from hufen.membership.programs import program_for_brand
from hufen.portal.models import SmsMessage
from hufen.portal.tests.helpers import award, catalogue
from hufen.testing.browser import assert_styled, log_in, new_page

pytestmark = pytest.mark.browser

CODE = re.compile(r"(\d{6})")


def _code_from_outbox(phone: str) -> str:
    message = SmsMessage.objects.filter(phone=phone).order_by("-id").first()
    assert message is not None
    found = CODE.search(message.body)
    assert found
    return found.group(1)


def test_owner_signs_up_sees_card_points_and_redeems(
    browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path
) -> None:
    cache.clear()
    world = browser_world
    base = live_server.url
    page = new_page(browser, mobile=True)

    # given the sign-in page of the mass brand, styled and in Chinese
    page.goto(f"{base}/m/")
    page.wait_for_url(re.compile(r".*/m/login/\?next=%2Fm%2F$"))
    assert_styled(page)
    assert "星河汽车" in page.locator("[data-testid=portal-title]").inner_text()
    assert page.locator("h1").inner_text() == "登录或注册"
    # a bad number is refused in words
    page.fill("#id_phone", "12345")
    page.click("button[type=submit]")
    assert "手机号" in page.locator("[data-testid=error-phone]").inner_text()
    page.screenshot(path=str(artifacts_dir / "portal-login-error.png"), full_page=True)

    # when the owner of a2 types their number and the code from the SMS outbox
    page.fill("#id_phone", "150 1234 0002")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=code-sent]")
    assert "150****0002" in page.locator("[data-testid=code-sent]").inner_text()
    page.fill("#id_code", _code_from_outbox("+8615012340002"))
    page.screenshot(path=str(artifacts_dir / "portal-login-code.png"), full_page=True)
    page.click("[data-testid=code-form] button[type=submit]")

    # then, not yet a member, they read the terms and agree before anything is enrolled
    page.wait_for_url(re.compile(r".*/m/join/"))
    assert not Member.objects.filter(person=world.persons["a2_owner"]).exists()
    page.check("[data-testid=accept-terms]")
    page.click("[data-testid=join-submit]")

    # then they see their membership card with a car-key QR and its 6-digit fallback
    page.wait_for_url(f"{base}/m/")
    member = Member.objects.get(person=world.persons["a2_owner"])
    assert member.channel == "h5"
    assert page.locator("[data-testid=member-number]").inner_text() == member.number
    assert page.locator("[data-testid=member-name]").inner_text() == "陈*"
    assert page.locator("[data-testid=member-tier]").inner_text() == "普通会员"
    page.wait_for_selector("[data-testid=car-key-qr] svg")
    code = page.locator("[data-testid=short-code]").inner_text()
    assert re.fullmatch(r"\d{6}", code)
    assert int(page.locator("[data-testid=countdown]").inner_text()) > 0
    box = page.locator("[data-testid=car-key-qr] svg").bounding_box()
    assert box["width"] > 150  # big enough to scan
    assert page.locator(".portal-tabs").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    page.screenshot(path=str(artifacts_dir / "portal-card.png"), full_page=True)

    # when points are earned (a service visit) and a catalogue exists
    award(member, 1_200, "service-visit-1")
    items = catalogue(member)

    # then the points tab lists the entry with its reason label and running balance
    page.click("[data-testid=tab-points]")
    page.wait_for_url(f"{base}/m/points/")
    entry = page.locator("[data-testid=entry]").first
    assert "售后服务" in entry.inner_text() and "+1,200" in entry.inner_text()
    page.screenshot(path=str(artifacts_dir / "portal-points.png"), full_page=True)

    # when they redeem a car wash, confirming once and tapping twice
    page.click("[data-testid=tab-benefits]")
    page.wait_for_url(f"{base}/m/benefits/")
    lounge = page.locator("[data-code=lounge]")
    assert "金卡" in lounge.locator("[data-testid=locked]").inner_text()
    page.screenshot(path=str(artifacts_dir / "portal-benefits.png"), full_page=True)
    page.locator("[data-code=wash] [data-testid=redeem]").click()
    page.wait_for_selector("[data-testid=confirm-form]")
    page.screenshot(path=str(artifacts_dir / "portal-redeem-confirm.png"), full_page=True)
    page.locator("[data-testid=confirm]").dblclick()
    page.wait_for_url(f"{base}/m/redemptions/")
    assert "精洗一次" in page.locator("[data-testid=redemption]").first.inner_text()
    assert "兑换成功" in page.locator("[data-testid=flash]").inner_text()
    page.screenshot(path=str(artifacts_dir / "portal-redemptions.png"), full_page=True)

    # then exactly one redemption was made and 300 points were spent
    assert Redemption.objects.filter(member=member).count() == 1
    assert PointsAccount.objects.get(member=member).balance == 900
    items["wash"].refresh_from_db()
    assert items["wash"].stock == 49

    # and signing out ends the session
    page.click("[data-testid=tab-card]")
    page.click("[data-testid=logout]")
    page.wait_for_url(re.compile(r".*/m/login/$"))
    page.goto(f"{base}/m/points/")
    page.wait_for_url(re.compile(r".*/m/login/\?next="))
    assert page.failures == []


def test_new_phone_joins_with_a_name_and_hq_sees_the_outbox(
    browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path
) -> None:
    cache.clear()
    world = browser_world
    base = live_server.url
    program_for_brand(world.brands["premium"])
    page = new_page(browser, mobile=True)
    page.goto(f"{base}/m/login/?brand=premium")
    assert "极境" in page.locator("[data-testid=portal-title]").inner_text()
    page.fill("#id_phone", "13700001111")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=code-sent]")
    page.fill("#id_code", _code_from_outbox("+8613700001111"))
    page.click("[data-testid=code-form] button[type=submit]")
    assert "姓名" in page.locator("[data-testid=error-name]").inner_text()
    page.fill("#id_code", _code_from_outbox("+8613700001111"))
    page.fill("#id_name", "赵小明")
    page.screenshot(path=str(artifacts_dir / "portal-signup-name.png"), full_page=True)
    page.click("[data-testid=code-form] button[type=submit]")
    page.wait_for_url(re.compile(r".*/m/join/"))
    page.check("[data-testid=accept-terms]")
    page.click("[data-testid=join-submit]")
    page.wait_for_url(f"{base}/m/")
    assert page.locator("[data-testid=member-name]").inner_text() == "赵*明"
    assert page.locator("[data-testid=no-vehicle]").is_visible()
    page.screenshot(path=str(artifacts_dir / "portal-card-new-member.png"), full_page=True)
    assert page.failures == []

    # HQ reads the outbox in the console: the number masked, the code shown (demo gateway)
    desk = new_page(browser)
    log_in(desk, base, world, "hq_admin")
    desk.click("text=短信发件箱")
    desk.wait_for_url(f"{base}/console/sms/")
    assert desk.locator("[data-testid=sms-phone]").first.inner_text() == "137****1111"
    assert _code_from_outbox("+8613700001111") in desk.locator("[data-testid=sms-body]").first.inner_text()
    assert desk.locator("[data-testid=demo-note]").is_visible()
    desk.screenshot(path=str(artifacts_dir / "portal-console-sms.png"), full_page=True)
    assert desk.failures == []

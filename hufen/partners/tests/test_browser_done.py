"""Issue 6 "Done when", in real headless Chromium: an owner applies as a Territory Partner in the
portal, HQ approves in the console, another owner shows the car key on their phone, the merchant's
phone scans it (a photo of the owner's screen, decoded by jsQR) and records the perk, the owner sees
it at once, and the value report counts it.

Screenshots: test-artifacts/done-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.partners.models import Merchant, PerkRedemption
from hufen.partners.offers import offer_create
from hufen.partners.reports import brand_monthly_value
from hufen.partners.services import merchant_operator_create
from hufen.partners.tests.factories import credit_code
from hufen.portal.models import SmsMessage
from hufen.testing.browser import assert_styled, log_in, new_page

pytestmark = pytest.mark.browser
CODE = re.compile(r"(\d{6})")


def portal_sign_in(page: Any, base: str, phone_typed: str, phone_e164: str) -> None:
    page.goto(f"{base}/m/")
    page.wait_for_url(re.compile(r".*/m/login/"))
    page.fill("#id_phone", phone_typed)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=code-sent]")
    message = SmsMessage.objects.filter(phone=phone_e164).order_by("-id").first()
    assert message is not None
    found = CODE.search(message.body)
    assert found
    page.fill("#id_code", found.group(1))
    page.click("[data-testid=code-form] button[type=submit]")
    # An owner who is not a member yet reads the terms and agrees before being enrolled.
    page.wait_for_url(re.compile(r".*/m/(join/.*)?$"))
    if "/m/join/" in page.url:
        page.check("[data-testid=accept-terms]")
        page.click("[data-testid=join-submit]")
        page.wait_for_url(f"{base}/m/")


def test_owner_applies_hq_approves_another_owner_gets_a_perk_and_it_counts(
    browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path, tmp_path: Path
) -> None:
    world = browser_world
    base = live_server.url

    # 1. 王小伟 (an owner of a 星河 S7, dealer A1) applies on his phone to be a Territory Partner.
    applicant = new_page(browser, mobile=True)
    portal_sign_in(applicant, base, "138 1234 5678", "+8613812345678")
    applicant.goto(f"{base}/m/perks/apply/")
    assert_styled(applicant)
    applicant.fill("#f-name", "小伟咖啡")
    applicant.fill("#f-legal", "杭州小伟餐饮管理有限公司")
    applicant.fill("#f-code", "91330106MA2B0KQN0")  # a typo first: the check character is missing
    applicant.select_option("#f-scenario", "food")
    applicant.fill("#f-city", "杭州市")
    applicant.fill("#f-district", "西湖区")
    applicant.fill("#f-address", "文三路 478 号")
    applicant.fill("#f-lat", "30.2741")
    applicant.fill("#f-lng", "120.1551")
    applicant.fill("#f-hours", "周一至周日 08:00-20:00")
    applicant.click("[data-testid=apply-submit]")
    assert applicant.locator("[data-testid=apply-error]").get_attribute("data-field") == "credit_code"
    applicant.screenshot(path=str(artifacts_dir / "done-apply-error.png"), full_page=True)
    applicant.fill("#f-code", credit_code(2026))
    applicant.click("[data-testid=apply-submit]")
    applicant.wait_for_selector("[data-testid=application][data-status=applied]")
    applicant.screenshot(path=str(artifacts_dir / "done-applied.png"), full_page=True)
    merchant = Merchant.objects.get(name="小伟咖啡")
    assert merchant.review_dealer == world.dealers["A1"]

    # 2. HQ approves it in the console.
    hq = new_page(browser)
    log_in(hq, base, world, "hq_admin")
    hq.goto(f"{base}/console/partners/applications/")
    row = hq.locator(f"[data-testid=application-row][data-merchant='{merchant.pk}']")
    assert "小伟咖啡" in row.inner_text()
    hq.screenshot(path=str(artifacts_dir / "done-console-review.png"), full_page=True)
    row.locator("[data-testid=approve]").click()
    hq.wait_for_selector("[data-testid=flash]")
    merchant.refresh_from_db()
    assert merchant.status == "active"
    applicant.reload()
    applicant.wait_for_selector("[data-testid=application][data-status=active]")

    # HQ gives the shop a login for its phone and the shop's first perk.
    merchant_operator_create(
        actor=world.actor("hq_admin"),
        merchant=merchant,
        username="xiaowei_cafe",
        name="王小伟",
        password="coffee-2026!",
    )
    offer_create(
        actor=SYSTEM,
        merchant=merchant,
        data={
            "title": "车主到店 9 折",
            "kind": "percent",
            "percent_off": 10,
            "per_owner_per_day": 1,
            "valid_from": "2020-01-01T00:00:00+08:00",
            "valid_until": "2099-01-01T00:00:00+08:00",
        },
    )

    # 3. Another owner, 陈静 (星河 S7, Shanghai), opens the card with the car key on her phone.
    owner = new_page(browser, mobile=True)
    portal_sign_in(owner, base, "150 1234 0002", "+8615012340002")
    owner.goto(f"{base}/m/perks/")
    assert "小伟咖啡" in owner.locator("[data-testid=perk-shops]").inner_text()
    owner.goto(f"{base}/m/")
    owner.wait_for_selector("[data-testid=car-key-qr] svg")
    qr_photo = tmp_path / "owner-screen.png"
    owner.locator("[data-testid=car-key-qr]").screenshot(path=str(qr_photo))
    owner.screenshot(path=str(artifacts_dir / "done-owner-card.png"), full_page=True)

    # 4. The merchant's phone logs in, scans the owner's screen and records the perk.
    shop = new_page(browser, mobile=True)
    shop.goto(f"{base}/merchant/")
    shop.fill("#id_username", "xiaowei_cafe")
    shop.fill("#id_password", "coffee-2026!")
    shop.click("button[type=submit]")
    shop.wait_for_url(f"{base}/merchant/")
    shop.set_input_files("[data-testid=scan-file]", str(qr_photo))
    shop.wait_for_selector("[data-testid=holder]")
    assert shop.locator("[data-testid=holder-name]").inner_text() == "陈*"
    assert "陈静" not in shop.content() and "15012340002" not in shop.content()
    assert "车主到店 9 折" in shop.locator("[data-testid=offer]").first.inner_text()
    shop.fill("[data-testid=bill]", "86.00")
    shop.screenshot(path=str(artifacts_dir / "done-merchant-holder.png"), full_page=True)
    shop.click("[data-testid=redeem-submit]")
    shop.wait_for_selector("[data-testid=receipt]")
    assert shop.locator("[data-testid=receipt-value]").inner_text() == "8.60"
    shop.screenshot(path=str(artifacts_dir / "done-merchant-receipt.png"), full_page=True)

    # 5. The owner sees it at once in the portal, with the 24-hour dispute.
    owner.goto(f"{base}/m/perks/mine/")
    mine = owner.locator("[data-testid=my-perk]").first
    assert "小伟咖啡" in mine.inner_text() and "8.60" in mine.inner_text()
    assert mine.locator("[data-testid=dispute-open]").is_visible()
    owner.screenshot(path=str(artifacts_dir / "done-owner-perks.png"), full_page=True)

    # 6. The value report counts it: Hangzhou ranks with ¥8.60 for this month.
    redemption = PerkRedemption.objects.get()
    month = timezone.localtime(redemption.created_at).strftime("%Y-%m")
    assert brand_monthly_value(actor=SYSTEM, brand=world.brands["mass"], month=month).perk_value_fen == 860
    hq.goto(f"{base}/console/partners/?month={month}")
    ranking = hq.locator("[data-testid=city-row]").first.inner_text()
    assert "杭州市" in ranking and "8.60" in ranking
    assert "8.60" in hq.locator("[data-testid=brand-value][data-brand=mass]").inner_text()
    hq.screenshot(path=str(artifacts_dir / "done-console-value.png"), full_page=True)
    for name, page in {"applicant": applicant, "hq": hq, "owner": owner, "shop": shop}.items():
        assert page.failures == [], name

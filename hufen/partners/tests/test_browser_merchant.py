"""The merchant page in real headless Chromium at a phone viewport: log in, decode a car-key QR
from a photo with jsQR, see the masked owner and the offers, record the perk, then a typed code.

Screenshots: test-artifacts/merchant-*.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import segno

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.partners.carkey import car_key_issue
from hufen.partners.models import Merchant, PerkRedemption
from hufen.partners.offers import offer_create
from hufen.partners.tests.conftest import member_actor
from hufen.testing.browser import assert_styled, new_page

pytestmark = pytest.mark.browser


def merchant_log_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/merchant/")
    assert "/merchant/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/merchant/")


def test_merchant_scans_a_qr_photo_and_records_a_perk(
    browser: Any, live_server: Any, browser_world: World, shop: Merchant, artifacts_dir: Path, tmp_path: Path
) -> None:
    world = browser_world
    base = live_server.url
    for title, extra in [
        ("车主专享 9 折", {"percent_off": 10}),
        ("金卡专享 8 折", {"percent_off": 20, "min_tier_rank": 2}),
    ]:
        offer_create(
            actor=SYSTEM,
            merchant=shop,
            data={
                "title": title,
                "kind": "percent",
                "valid_from": "2020-01-01T00:00:00+08:00",
                "valid_until": "2099-01-01T00:00:00+08:00",
                **extra,
            },
        )
    page = new_page(browser, mobile=True)
    merchant_log_in(page, base, "merchant", world.password)
    assert_styled(page)
    assert page.evaluate("typeof jsQR") == "function", "jsQR did not load from node_modules"
    page.screenshot(path=str(artifacts_dir / "merchant-home.png"), full_page=True)

    # The owner's phone shows the QR; the merchant takes a photo of it.
    key = car_key_issue(actor=member_actor(world, "a1_owner"))
    photo = tmp_path / "car-key.png"
    segno.make_qr(key.token, error="m").save(str(photo), scale=6, border=4)
    page.set_input_files("[data-testid=scan-file]", str(photo))
    page.wait_for_selector("[data-testid=holder]")
    assert page.locator("[data-testid=holder-name]").inner_text() == "王*伟"
    assert "星河 S7" in page.locator("[data-testid=holder-series]").inner_text()
    offers = page.locator("[data-testid=offer]")
    assert offers.count() == 2
    assert "限会员车主" in offers.nth(1).inner_text()
    assert offers.nth(1).locator("input").is_disabled()
    page.fill("[data-testid=bill]", "268")
    page.screenshot(path=str(artifacts_dir / "merchant-holder.png"), full_page=True)
    page.click("[data-testid=redeem-submit]")
    page.wait_for_selector("[data-testid=receipt]")
    assert page.locator("[data-testid=receipt-value]").inner_text() == "26.80"
    page.screenshot(path=str(artifacts_dir / "merchant-receipt.png"), full_page=True)

    # The same QR again is refused with the reason.
    page.goto(f"{base}/merchant/")
    page.set_input_files("[data-testid=scan-file]", str(photo))
    page.wait_for_selector("[data-testid=verify-error]")
    assert "已被使用" in page.locator("[data-testid=verify-error]").inner_text()

    # A typed 6-digit code for another owner.
    other = car_key_issue(actor=world.actor("member_a2"))
    page.fill("[data-testid=code-input]", other.short_code)
    page.click("[data-testid=code-submit]")
    page.wait_for_selector("[data-testid=holder]")
    assert page.locator("[data-testid=holder-name]").inner_text() == "陈*"
    page.fill("[data-testid=bill]", "88.80")
    page.click("[data-testid=redeem-submit]")
    page.wait_for_selector("[data-testid=receipt]")
    page.goto(f"{base}/merchant/redemptions/")
    assert page.locator("[data-testid=redemption-row]").count() == 2
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts_dir / "merchant-redemptions.png"), full_page=True)
    assert sorted(PerkRedemption.objects.values_list("value_fen", flat=True)) == [888, 2680]
    assert page.failures == []

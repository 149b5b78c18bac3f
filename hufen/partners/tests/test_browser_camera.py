"""The merchant page's live camera scan in real headless Chromium: Chromium's fake camera plays a
video of the owner's car-key QR (a Y4M file written here from the QR's modules), jsQR finds it in
the getUserMedia stream and the page verifies the key. Screenshot: test-artifacts/merchant-camera.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import segno

from conftest import World
from hufen.partners.carkey import car_key_issue
from hufen.partners.models import CarKeyAttempt, Merchant
from hufen.partners.tests.conftest import member_actor
from hufen.testing.browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser
SCALE = 6
BORDER = 4


def write_y4m(data: str, path: Path, frames: int = 5) -> None:
    """A still video of `data` as a QR code: 4:2:0 Y4M, dark modules black on white."""
    matrix = segno.make_qr(data, error="m").matrix
    side = (len(matrix) + 2 * BORDER) * SCALE
    side += side % 2
    luma = bytearray(b"\xff" * side * side)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if not dark:
                continue
            for y in range((r + BORDER) * SCALE, (r + BORDER + 1) * SCALE):
                start = y * side + (c + BORDER) * SCALE
                luma[start : start + SCALE] = b"\x00" * SCALE
    chroma = b"\x80" * ((side // 2) * (side // 2))
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{side} H{side} F5:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + bytes(luma) + chroma + chroma)


def test_merchant_scans_the_owner_qr_with_the_camera(
    live_server: Any, browser_world: World, shop: Merchant, artifacts_dir: Path, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not at /usr/bin/chromium: run `make test-browser-deps`")
    from playwright.sync_api import sync_playwright

    world = browser_world
    key = car_key_issue(actor=member_actor(world, "a1_owner"))
    video = tmp_path / "owner-phone.y4m"
    write_y4m(key.token, video)
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
        context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
        context.grant_permissions(["camera"], origin=live_server.url)
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{live_server.url}/merchant/")
        page.fill("#id_username", "merchant")
        page.fill("#id_password", world.password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/merchant/")
        page.click("[data-testid=scan-start]")
        page.wait_for_selector("[data-testid=holder]")
        assert page.locator("[data-testid=holder-name]").inner_text() == "王*伟"
        page.screenshot(path=str(artifacts_dir / "merchant-camera.png"), full_page=True)
        browser.close()
    assert errors == []
    assert list(CarKeyAttempt.objects.values_list("method", "outcome")) == [("qr", "ok")]

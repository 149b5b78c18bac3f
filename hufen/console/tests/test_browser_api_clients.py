"""API clients in a real headless Chromium: an HQ admin creates a client, sees its token once, the
token works on the API, and after revoking it the API answers 401.

Screenshots in test-artifacts/: api-client-new.png, api-client-token.png, api-clients.png,
api-client-revoke.png.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from conftest import World
from hufen.org.models import ApiClient
from hufen.testing.browser import assert_styled, log_in, new_page

pytestmark = pytest.mark.browser


def test_create_a_client_see_the_token_once_and_revoke_it(
    browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path
) -> None:
    base = live_server.url
    page = new_page(browser)
    log_in(page, base, browser_world, "hq_admin")

    # given the API clients page, reached from the menu
    page.click("#navbar-menu >> text=API 客户端")
    page.wait_for_url(re.compile(r".*/console/api-clients/$"))
    assert_styled(page)
    assert page.locator("tr[data-client-id]").count() == len(browser_world.api_clients)

    # when the admin fills the form: a dealer-scoped, read-only client
    page.click("[data-testid=new-client]")
    page.wait_for_url(re.compile(r".*/console/api-clients/new/$"))
    page.fill("#f-name", "DMS 同步 A1")
    page.check("[data-testid=scope-dealer]")
    page.select_option("[data-testid=dealer-select]", "A1")
    page.check("[data-testid=mode-only]")
    for code in ["membership.view", "membership.join", "points.adjust", "benefits.redeem", "identity.link"]:
        page.uncheck(f"[data-permission='{code}']")
    page.screenshot(path=str(artifacts_dir / "api-client-new.png"), full_page=True)
    page.click("[data-testid=create-submit]")

    # then the token is on the result page, once
    token = page.locator("[data-testid=token]").input_value()
    assert token.startswith("hf_")
    created = ApiClient.objects.get(name="DMS 同步 A1")
    assert created.permissions == ["persons.view"] and created.dealer_id == browser_world.dealers["A1"].pk
    page.screenshot(path=str(artifacts_dir / "api-client-token.png"), full_page=True)

    # and it works on the API (from a context without the console's cookies, as an integration calls)
    api = browser.new_context().request
    persons = api.get(f"{base}/api/v1/persons", headers={"Authorization": f"Bearer {token}"})
    assert persons.status == 200
    assert {p["id"] for p in persons.json()["items"]} == browser_world.expected("api_dealer_a1")

    # when the admin goes back to the list, then only the prefix shows, never the token
    page.click("[data-testid=back-to-list]")
    page.wait_for_url(re.compile(r".*/console/api-clients/$"))
    row = page.locator(f"tr[data-client-id='{created.pk}']")
    assert row.locator("[data-testid=token-prefix]").inner_text() == f"{created.token_prefix}…"
    assert token not in page.content()
    page.screenshot(path=str(artifacts_dir / "api-clients.png"), full_page=True)

    # when it revokes the client after the confirmation page
    row.locator("[data-testid=revoke]").click()
    page.wait_for_url(re.compile(rf".*/console/api-clients/{created.pk}/revoke/$"))
    page.fill("#f-reason", "测试完成")
    page.screenshot(path=str(artifacts_dir / "api-client-revoke.png"), full_page=True)
    page.click("[data-testid=revoke-submit]")
    page.wait_for_url(re.compile(r".*/console/api-clients/$"))
    assert "已吊销" in page.locator(f"tr[data-client-id='{created.pk}']").inner_text()

    # then the token gets 401 on the API
    refused = api.get(f"{base}/api/v1/persons", headers={"Authorization": f"Bearer {token}"})
    assert refused.status == 401
    assert page.failures == []

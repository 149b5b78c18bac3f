"""Browser-test fixtures shared by every app: Debian's headless Chromium through Playwright.

Registered as a pytest plugin by the root conftest, so any test module can ask for `browser`,
`browser_world` (the shared World, committed for the live server) and `artifacts_dir`, and import
`new_page`, `log_in` and `assert_styled` from here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import World

# Playwright's sync API runs an event loop in this thread; the ORM calls made here are still sync.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(autouse=True, scope="session")
def _database_before_live_server(django_db_setup: None) -> None:
    """Set the test database up before the (session) live server, so that it is torn down after the
    server stopped: a live server outliving it keeps a connection and PostgreSQL cannot drop it."""


@pytest.fixture
def browser_world(transactional_db: None, world: World) -> World:
    """The shared test world, committed so that the live server's thread sees it."""
    return world


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        # A missing browser fails: page tests must run. `make test` installs Debian's chromium first.
        pytest.fail("Debian's chromium is not at /usr/bin/chromium: run `make test-browser-deps`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def new_page(browser: Any, *, mobile: bool = False) -> Any:
    viewport = {"width": 390, "height": 844} if mobile else {"width": 1366, "height": 900}
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(10_000)
    failures: list[str] = []
    # A navigation aborts the previous page's pending requests (net::ERR_ABORTED): not a load failure.
    page.on(
        "requestfailed",
        lambda r: None if "ERR_ABORTED" in (r.failure or "") else failures.append(f"{r.failure} {r.url}"),
    )
    page.on(
        "response",
        lambda r: failures.append(f"{r.status} {r.url}") if "/static/" in r.url and r.status >= 400 else None,
    )
    page.on("pageerror", lambda e: failures.append(f"js error {e}"))
    page.failures = failures
    return page


def log_in(page: Any, base: str, world: World, username: str) -> None:
    page.goto(f"{base}/console/")
    assert "/console/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", world.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/")


def assert_styled(page: Any) -> None:
    """Tabler's stylesheet is in force: its custom properties exist and the navbar/card styles apply."""
    primary = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--tblr-primary')")
    assert primary.strip(), "Tabler CSS did not load"
    assert page.evaluate("typeof htmx") == "object", "htmx did not load"

"""The console merge flow in real headless Chromium: pick, confirm side by side, merge, follow the old
id, unmerge. Screenshots: test-artifacts/merge-*.png."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from conftest import World
from hufen.people.models import Ownership, Person, PersonMerge
from hufen.testing.browser import assert_styled, log_in, new_page

pytestmark = pytest.mark.browser


def test_merge_and_unmerge_in_the_console(
    browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path
) -> None:
    world = browser_world
    base = live_server.url
    survivor, absorbed = world.persons["a1_owner"], world.persons["b1_serviced_at_a1"]
    page = new_page(browser)
    log_in(page, base, world, "hq_operator")

    # Given the survivor's 360 page, with its merge section
    page.goto(f"{base}/console/persons/{survivor.pk}/")
    assert_styled(page)
    page.wait_for_selector("[data-testid=merge-history]")
    assert "此客户没有合并记录" in page.locator("[data-testid=merge-history]").inner_text()

    # When the operator picks the other customer by id
    page.click("[data-testid=merge-start]")
    page.wait_for_url(re.compile(rf".*/persons/{survivor.pk}/merge/$"))
    page.fill("[data-testid=merge-search]", str(absorbed.pk))
    page.keyboard.press("Enter")
    page.click(f"[data-testid=choose-{absorbed.pk}]")

    # Then both persons show side by side, masked, with what will move and who will see the survivor
    page.wait_for_selector("[data-testid=absorbed-card]")
    assert "王*伟" in page.locator("[data-testid=survivor-card]").inner_text()
    assert "刘*" in page.locator("[data-testid=absorbed-card]").inner_text()
    assert "17712340004" not in page.content() and "13812345678" not in page.content()
    assert "B1" in page.locator("[data-testid=merge-scope]").inner_text()
    page.screenshot(path=str(artifacts_dir / "merge-confirm.png"), full_page=True)

    # When it gives a reason and merges
    page.fill("#merge-reason", "同一客户：电话回访确认")
    page.click("[data-testid=merge-submit]")
    page.wait_for_url(re.compile(rf".*/console/persons/{survivor.pk}/$"))
    assert page.locator("[data-testid=notice]").inner_text() == f"客户 #{absorbed.pk} 已合并至此客户。"
    merge = PersonMerge.objects.get()
    page.wait_for_selector(f"[data-testid=unmerge-{merge.pk}]")
    assert Ownership.objects.filter(person=survivor).count() == 2
    page.screenshot(path=str(artifacts_dir / "merge-history.png"), full_page=True)

    # And the absorbed id's 360 URL lands on the survivor with a notice
    page.goto(f"{base}/console/persons/{absorbed.pk}/")
    page.wait_for_url(re.compile(rf".*/console/persons/{survivor.pk}/$"))
    assert f"#{absorbed.pk}" in page.locator("[data-testid=notice]").inner_text()

    # When it undoes the merge, then the absorbed customer is separate again
    page.wait_for_selector(f"[data-testid=unmerge-{merge.pk}]")
    page.fill(f"[data-testid=unmerge-reason-{merge.pk}]", "误合并")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"[data-testid=unmerge-{merge.pk}]")
    page.wait_for_url(re.compile(rf".*/console/persons/{absorbed.pk}/$"))
    assert Person.objects.get(pk=absorbed.pk).status == "active"
    assert Ownership.objects.filter(person=absorbed).count() == 1
    page.wait_for_selector("[data-testid=merge-history]")
    assert "已撤销" in page.locator("[data-testid=merge-history]").inner_text()
    page.screenshot(path=str(artifacts_dir / "merge-undone.png"), full_page=True)
    assert page.failures == []

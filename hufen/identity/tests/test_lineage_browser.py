"""The record lineage on the person 360 page in real headless Chromium: merge two customers, see
which source record came from whom, unmerge, see the move marked undone.
Screenshots: test-artifacts/lineage-*.png."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from conftest import World
from hufen.identity.models import SourceRecord
from hufen.identity.tests.test_lineage import record_on
from hufen.people.models import PersonMerge
from hufen.testing.browser import assert_styled, log_in, new_page

pytestmark = pytest.mark.browser


def test_lineage_shows_a_merge_and_its_undoing(
    browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path
) -> None:
    world = browser_world
    base = live_server.url
    survivor, absorbed = world.persons["a1_owner"], world.persons["b1_owner"]
    record_on(survivor, "DMS-A-0001", name="王小伟", phone="13812345678")
    record_on(absorbed, "APP-B-0002", name="刘洋", phone="17712340004")
    page = new_page(browser)
    log_in(page, base, world, "hq_operator")

    # Given the survivor's 360 page: no merge has moved a record yet
    page.goto(f"{base}/console/persons/{survivor.pk}/")
    assert_styled(page)
    page.wait_for_selector("[data-testid=lineage]")
    assert "尚无合并移入或移出此客户的来源记录" in page.locator("[data-testid=lineage]").inner_text()

    # When the operator merges the other customer into it
    page.click("[data-testid=merge-start]")
    page.wait_for_url(re.compile(rf".*/persons/{survivor.pk}/merge/$"))
    page.fill("[data-testid=merge-search]", str(absorbed.pk))
    page.keyboard.press("Enter")
    page.click(f"[data-testid=choose-{absorbed.pk}]")
    page.wait_for_selector("[data-testid=absorbed-card]")
    page.fill("#merge-reason", "同一客户：电话回访确认")
    page.click("[data-testid=merge-submit]")
    page.wait_for_url(re.compile(rf".*/console/persons/{survivor.pk}/$"))

    # Then the lineage lists the absorbed customer's record, masked, where it came from, who and when
    page.wait_for_selector("[data-testid=lineage-move]")
    row = page.locator("[data-testid=lineage-move]")
    assert row.count() == 1
    text = row.inner_text()
    assert "APP-B-0002" in text and "刘*" in text and "177****0004" in text
    assert f"#{absorbed.pk}" in text and "李运营" in text and "生效中" in text
    assert "17712340004" not in page.content() and "刘洋" not in page.content()
    # and the absorbed ID is listed as leading here
    assert f"#{absorbed.pk}" in page.locator("[data-testid=lineage-redirects]").inner_text()
    page.locator("[data-testid=record-lineage]").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "lineage-merged.png"), full_page=True)

    # When it undoes the merge from the merge history
    merge = PersonMerge.objects.get()
    page.wait_for_selector(f"[data-testid=unmerge-{merge.pk}]")
    page.fill(f"[data-testid=unmerge-reason-{merge.pk}]", "误合并")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"[data-testid=unmerge-{merge.pk}]")
    page.wait_for_url(re.compile(rf".*/console/persons/{absorbed.pk}/$"))

    # Then the restored customer's lineage shows the move, marked undone with when it went back
    page.wait_for_selector("[data-testid=lineage-move]")
    status = page.locator("[data-testid=lineage-status]").inner_text()
    assert "已撤销" in status and "已移回" in status
    assert "APP-B-0002" in page.locator("[data-testid=lineage-move]").inner_text()
    assert page.locator("[data-testid=lineage-redirects]").count() == 0
    assert SourceRecord.objects.get(source_key="APP-B-0002").person_id == absorbed.pk
    page.locator("[data-testid=record-lineage]").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "lineage-undone.png"), full_page=True)

    # And the survivor's lineage shows it undone too
    page.goto(f"{base}/console/persons/{survivor.pk}/")
    page.wait_for_selector("[data-testid=lineage-move]")
    assert "已撤销" in page.locator("[data-testid=lineage-status]").inner_text()
    assert page.failures == []

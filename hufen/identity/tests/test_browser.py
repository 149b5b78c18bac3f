"""The review queue in a real headless Chromium: an HQ reviewer confirms a gray-zone pair."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.models import AuditEvent
from hufen.identity.models import LinkConstraint, ReviewPair
from hufen.identity.services import RecordInput, identity_link_one
from hufen.people.models import Person
from hufen.testing.browser import assert_styled, log_in, new_page

pytestmark = pytest.mark.browser


def test_hq_confirms_a_pair_on_the_review_page(
    browser: Any, live_server: Any, browser_world: World, artifacts_dir: Path
) -> None:
    base = live_server.url
    # given a gray-zone pair: 李娜 twice in 杭州西湖区, birth dates one digit apart
    from hufen.identity.tests.test_review import GRAY_A, GRAY_B, gray_zone_for

    gray_zone_for(GRAY_A, GRAY_B)
    first = identity_link_one(actor=SYSTEM, record=RecordInput("dms", "A1-5", GRAY_A))
    second = identity_link_one(actor=SYSTEM, record=RecordInput("app", "u-5", GRAY_B))
    assert second.decision == "review" and second.person_id is not None
    page = new_page(browser)
    log_in(page, base, browser_world, "hq_admin")
    # when the reviewer opens the queue from the menu
    page.click("text=身份复核")
    page.wait_for_url(re.compile(r".*/console/identity/review/$"))
    assert_styled(page)
    pair = page.locator("[data-testid=pair]")
    assert pair.count() == 1
    text = pair.inner_text()
    # then both records are side by side, masked, with the evidence per field
    assert "李*" in text and "139****1111" in text and "李娜" not in text
    assert "出生日期" in page.locator("[data-testid=evidence]").inner_text()
    page.screenshot(path=str(artifacts_dir / "identity-review.png"), full_page=True)
    # when it confirms with a reason
    page.fill("input[name=reason]", "电话回访确认是同一人")
    page.click("[data-testid=confirm]")
    page.wait_for_selector("[data-testid=message]")
    assert "已确认" in page.locator("[data-testid=message]").inner_text()
    assert page.locator("[data-testid=pair]").count() == 0
    page.screenshot(path=str(artifacts_dir / "identity-review-confirmed.png"), full_page=True)
    # then the persons are merged, the must-link is kept, and the decision is audited
    assert Person.objects.get(pk=second.person_id).merged_into_id == first.person_id
    assert ReviewPair.objects.get().status == "confirmed"
    assert LinkConstraint.objects.get().kind == "must"
    assert AuditEvent.objects.get(action="identity.review_confirm").reason == "电话回访确认是同一人"
    assert not page.failures, page.failures

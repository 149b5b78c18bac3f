"""The earning job run by several workers at once, on PostgreSQL: each event awarded once, caps held."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest

from conftest import World
from hufen.membership.earning import EarnResult, points_earn
from hufen.membership.models import EarningDecision, PointsEntry
from hufen.membership.tests.earning_helpers import rule, send, shanghai
from hufen.membership.tests.helpers import assert_ledger_consistent, join
from hufen.testing.concurrency import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

JOBS = 4


def _run_together(lake_url: str) -> list[Any]:
    return race([partial(points_earn, lake_url=lake_url)] * JOBS)


def test_concurrent_jobs_award_each_event_once_and_hold_the_caps(
    pg_world: World, tmp_path: Path, settings: Any
) -> None:
    # given: 3 members, a capped rule (3 a day) and an uncapped one, 6 posts and 4 check-ins each
    settings.LAKE_URL = lake_url = str(tmp_path / "lake")
    members = [join(pg_world, key) for key in ("a1_owner", "a1_other", "a2_owner")]
    post = rule(members[0], "post", "post_created", 10, "community_post", daily_cap_count=3)
    checkin = rule(members[0], "checkin", "daily_check_in", 5, "check_in")
    for m in members:
        for i in range(6):
            send(m.person_id, "post_created", shanghai("2026-11-10", 8 + i), post_id=f"{m.pk}-{i}")
        for day in range(4):
            send(m.person_id, "daily_check_in", shanghai(f"2026-11-1{day}", 8))
    # when: four jobs start at the same instant over the same window
    results = _run_together(lake_url)
    # then: no job failed; every (rule, event) was decided exactly once; caps held per member
    assert not [r for r in results if isinstance(r, Exception)], results
    assert all(isinstance(r, EarnResult) for r in results)
    assert EarningDecision.objects.count() == 3 * (6 + 4)
    for m in members:
        awarded = EarningDecision.objects.filter(rule=post, member=m, outcome="awarded").count()
        assert awarded == 3
        assert EarningDecision.objects.filter(rule=checkin, member=m, outcome="awarded").count() == 4
        entries = PointsEntry.objects.filter(account__member=m, ref_type="event")
        assert entries.count() == 7
        assert sum(e.amount for e in entries) == 3 * 10 + 4 * 5
    assert sum(r.points for r in results) == 3 * 50
    # and running them all again, from the beginning, awards nothing more
    from hufen.membership.models import EarningCursor

    EarningCursor.objects.all().delete()
    again = _run_together(lake_url)
    assert sum(r.points for r in again if isinstance(r, EarnResult)) == 0
    assert PointsEntry.objects.filter(ref_type="event").count() == 21
    assert_ledger_consistent()

from __future__ import annotations

import datetime as dt

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.membership.ledger import points_award, points_reverse
from hufen.membership.models import Member, Program, TierHistory
from hufen.membership.services import members_review_tiers
from hufen.membership.tests.helpers import T0, join


def _tier(member: Member) -> str:
    return Member.objects.select_related("tier").get(pk=member.pk).tier.code


def test_join_starts_at_entry_tier_with_history(world: World) -> None:
    member = join(world)
    assert member.number.startswith("MA") and len(member.number) == 11
    assert _tier(member) == "standard"
    assert TierHistory.objects.filter(member=member, reason="join").count() == 1


def test_join_twice_returns_same_member(world: World) -> None:
    assert join(world).pk == join(world).pk
    assert join(world, brand="premium").number.startswith("PR")


def test_upgrade_at_once_when_crossing_threshold(world: World) -> None:
    member = join(world)
    points_award(actor=SYSTEM, member=member, amount=4_999, reason="purchase", idempotency_key="1", now=T0)
    assert _tier(member) == "standard"
    points_award(actor=SYSTEM, member=member, amount=15_001, reason="purchase", idempotency_key="2", now=T0)
    assert _tier(member) == "gold"
    assert list(TierHistory.objects.filter(member=member).values_list("reason", flat=True)) == ["join", "upgrade"]


def test_reversed_award_does_not_downgrade_until_review(world: World) -> None:
    member = join(world)
    entry = points_award(actor=SYSTEM, member=member, amount=6_000, reason="purchase", idempotency_key="1", now=T0)
    points_reverse(actor=SYSTEM, entry=entry, now=T0)
    assert _tier(member) == "silver"
    result = members_review_tiers(actor=SYSTEM, as_of=T0 + dt.timedelta(days=1))
    assert (result.downgraded, _tier(member)) == (1, "standard")


def test_rolling_review_downgrades_after_twelve_months_and_is_idempotent(world: World) -> None:
    member = join(world)
    points_award(actor=SYSTEM, member=member, amount=6_000, reason="purchase", idempotency_key="1", now=T0)
    assert members_review_tiers(actor=SYSTEM, as_of=T0 + dt.timedelta(days=300)).downgraded == 0
    later = T0 + dt.timedelta(days=370)
    assert members_review_tiers(actor=SYSTEM, as_of=later).downgraded == 1
    assert members_review_tiers(actor=SYSTEM, as_of=later).downgraded == 0
    assert _tier(member) == "standard"


def test_calendar_year_review_judges_the_year_that_ended(world: World) -> None:
    member = join(world)
    Program.objects.filter(pk=member.program_id).update(qualifying_period="calendar_year")
    member.refresh_from_db()
    points_award(actor=SYSTEM, member=member, amount=6_000, reason="purchase", idempotency_key="1", now=T0)
    jan1_2027 = dt.datetime(2026, 12, 31, 16, 0, tzinfo=dt.UTC)  # 2027-01-01 00:00 Shanghai
    assert members_review_tiers(actor=SYSTEM, as_of=jan1_2027).downgraded == 0  # 2026 earned silver
    assert members_review_tiers(actor=SYSTEM, as_of=jan1_2027.replace(year=2027)).downgraded == 1
    assert _tier(member) == "standard"

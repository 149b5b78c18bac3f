"""The earning job over the real pipeline: events → write-ahead store / outbox → lake → DuckDB → ledger."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.events import publish
from hufen.membership.earning import points_earn
from hufen.membership.models import EarningCursor, EarningDecision, PointsEntry, TierDefinition
from hufen.membership.services import member_set_status
from hufen.membership.tasks import membership_earn
from hufen.membership.tests.earning_helpers import rule, send, shanghai
from hufen.membership.tests.helpers import assert_ledger_consistent, join
from hufen.people.models import Person


def balance(member_pk: int) -> int:
    return int(sum(PointsEntry.objects.filter(account__member_id=member_pk).values_list("amount", flat=True)))


def test_post_created_capped_at_three_a_day_in_brand_time(world: World, lake_url: str) -> None:
    # given: +10 per post, at most 3 a day; five posts on 11-10 (Shanghai), one just after midnight
    member = join(world)
    r = rule(member, "post", "post_created", 10, "community_post", daily_cap_count=3)
    pid = world.persons["a1_owner"].pk
    ids = [send(pid, "post_created", shanghai("2026-11-10", 9 + i), post_id=f"p{i}") for i in range(4)]
    ids.append(send(pid, "post_created", shanghai("2026-11-10", 23, 59), post_id="p4"))
    after_midnight = send(pid, "post_created", shanghai("2026-11-11", 0, 1), post_id="p5")
    # when
    result = points_earn()
    # then: 3 awarded on the 10th, the 4th and 5th capped, the post after local midnight awarded
    assert result.outcomes == {"awarded": 4, "capped": 2}
    assert result.points == 40
    assert balance(member.pk) == 40
    decisions = {d.event_id: d for d in EarningDecision.objects.filter(rule=r)}
    assert [decisions[i].outcome for i in ids] == ["awarded"] * 3 + ["capped"] * 2
    assert decisions[ids[3]].detail == "day cap of 3 awards reached"
    assert decisions[after_midnight].outcome == "awarded"
    entry = decisions[ids[0]].entry
    assert entry is not None
    assert (entry.ref_type, entry.ref_id, entry.reason, entry.amount) == ("event", ids[0], "community_post", 10)
    assert_ledger_consistent()


def test_replay_and_overlapping_windows_never_award_twice(world: World, lake_url: str) -> None:
    member = join(world)
    rule(member, "post", "post_created", 10, "community_post", daily_cap_count=3)
    pid = world.persons["a1_owner"].pk
    for i in range(2):
        send(pid, "post_created", shanghai("2026-11-10", 9 + i), post_id=f"p{i}")
    first = points_earn()
    assert first.outcomes == {"awarded": 2}
    # when: the same window again, then an overlapping window from the epoch with one new event
    again = points_earn()
    send(pid, "post_created", shanghai("2026-11-10", 12), post_id="p2")
    send(pid, "post_created", shanghai("2026-11-10", 13), post_id="p3")
    overlap = points_earn(since=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    # then: nothing judged twice; the cap still counts the first run's awards
    assert again.points == 0 and again.already_decided == 2
    assert overlap.already_decided == 2
    assert overlap.outcomes == {"awarded": 1, "capped": 1}
    assert balance(member.pk) == 30
    assert EarningDecision.objects.count() == 4
    assert PointsEntry.objects.filter(ref_type="event").count() == 3
    assert_ledger_consistent()


def test_events_read_in_batches_keep_caps_and_order(
    world: World, lake_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hufen.membership import earning

    monkeypatch.setattr(earning, "READ_BATCH", 2)
    member = join(world)
    r = rule(member, "post", "post_created", 10, "community_post", daily_cap_count=3)
    pid = world.persons["a1_owner"].pk
    ids = [send(pid, "post_created", shanghai("2026-11-10", 9 + i), post_id=f"p{i}") for i in range(5)]
    result = points_earn()
    assert (result.events, result.outcomes) == (5, {"awarded": 3, "capped": 2})
    outcomes = dict(EarningDecision.objects.filter(rule=r).values_list("event_id", "outcome"))
    assert [outcomes[i] for i in ids] == ["awarded"] * 3 + ["capped"] * 2


def test_watermark_moves_forward_only_and_late_events_are_still_seen(world: World, lake_url: str) -> None:
    member = join(world)
    rule(member, "checkin", "daily_check_in", 5, "check_in", daily_cap_count=1)
    pid = world.persons["a1_owner"].pk
    points_earn()
    position = EarningCursor.objects.get().position
    # an event stamped days ago but received now (a phone that was offline) is judged
    late = send(pid, "daily_check_in", shanghai("2026-11-01", 8))
    result = points_earn()
    assert result.outcomes == {"awarded": 1}
    assert EarningDecision.objects.get(event_id=late).points == 5
    assert EarningCursor.objects.get().position > position
    # a replay from an old --since leaves the watermark where it was
    moved = EarningCursor.objects.get().position
    points_earn(since=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert EarningCursor.objects.get().position >= moved


def test_tier_multiplier_applies_at_award_time_rounded_down(world: World, lake_url: str) -> None:
    member = join(world)
    gold = TierDefinition.objects.get(program=member.program, code="gold")  # × 1.25
    member.tier = gold
    member.save(update_fields=["tier"])
    multiplied = rule(member, "post", "post_created", 10, "community_post")
    flat = rule(member, "checkin", "daily_check_in", 5, "check_in", apply_multiplier=False)
    pid = world.persons["a1_owner"].pk
    post = send(pid, "post_created", shanghai("2026-11-10", 9), post_id="p1")
    check_in = send(pid, "daily_check_in", shanghai("2026-11-10", 9))
    points_earn()
    d = EarningDecision.objects.get(rule=multiplied, event_id=post)
    assert (d.base_points, str(d.multiplier), d.points) == (10, "1.25", 12)
    assert EarningDecision.objects.get(rule=flat, event_id=check_in).points == 5
    assert balance(member.pk) == 17


def test_points_cap_truncates_then_skips_and_monthly_count_cap(world: World, lake_url: str) -> None:
    member = join(world)
    r = rule(member, "exp", "experience_attended", 50, "experience", daily_cap_points=120, monthly_cap_count=4)
    pid = world.persons["a1_owner"].pk
    day1 = [send(pid, "experience_attended", shanghai("2026-11-03", 10 + i)) for i in range(4)]
    day2 = [send(pid, "experience_attended", shanghai("2026-11-04", 10 + i)) for i in range(3)]
    points_earn()
    got = {d.event_id: (d.outcome, d.points) for d in EarningDecision.objects.filter(rule=r)}
    # day 1: 50, 50, then 20 left of the 120 cap (truncated), then nothing left
    assert [got[i] for i in day1] == [("awarded", 50), ("awarded", 50), ("truncated", 20), ("capped", 0)]
    # day 2: one more award reaches the month's 4 awards; the rest are capped by the month
    assert [got[i] for i in day2] == [("awarded", 50), ("capped", 0), ("capped", 0)]
    assert EarningDecision.objects.get(event_id=day2[1]).detail == "month cap of 4 awards reached"
    assert balance(member.pk) == 170
    assert_ledger_consistent()


def test_conditions_validity_and_inactive_rules(world: World, lake_url: str) -> None:
    member = join(world)
    deliver = rule(
        member,
        "deliver",
        "vehicle_delivered",
        20_000,
        "purchase",
        conditions=[{"property": "brand", "op": "eq", "value": "mass"}],
        valid_from=shanghai("2026-11-01", 0),
        valid_until=shanghai("2026-12-01", 0),
    )
    rule(member, "off", "post_created", 10, "community_post", active=False)
    pid = world.persons["a1_owner"].pk
    ok = send(pid, "vehicle_delivered", shanghai("2026-11-05", 10), brand="mass")
    other = send(pid, "vehicle_delivered", shanghai("2026-11-06", 10), brand="premium")
    before = send(pid, "vehicle_delivered", shanghai("2026-10-31", 23), brand="mass")
    send(pid, "post_created", shanghai("2026-11-05", 10), post_id="x")
    result = points_earn()
    assert result.outcomes == {"awarded": 1, "conditions_not_met": 1}
    assert EarningDecision.objects.get(rule=deliver, event_id=ok).points == 20_000
    skip = EarningDecision.objects.get(rule=deliver, event_id=other)
    assert skip.detail == "conditions[0]: brand eq 'mass' (found 'premium')"
    assert not EarningDecision.objects.filter(event_id=before).exists()
    assert balance(member.pk) == 20_000


def test_domain_events_from_the_outbox_earn_too(world: World, lake_url: str) -> None:
    # The platform's own services publish business facts; the job must see them like API events.
    member = join(world)
    rule(member, "referral", "referral_delivered", 5_000, "referral")
    publish("referral_delivered", person_id=world.persons["a1_owner"].pk, properties={"referee": "李雷"})
    result = points_earn()
    assert result.outcomes == {"awarded": 1}
    assert balance(member.pk) == 5_000


def test_non_members_unresolved_frozen_and_merged_persons(world: World, lake_url: str) -> None:
    member = join(world)  # a1_owner joins mass
    frozen = join(world, "a1_other")
    member_set_status(actor=SYSTEM, member=frozen, status="frozen", reason="投诉处理中")
    r = rule(member, "checkin", "daily_check_in", 5, "check_in")
    # a duplicate person record of a1_owner, merged into it after the event was sent
    dup = Person.objects.create(name="王小伟", phone="+8613812345679")
    dup_event = send(dup.pk, "daily_check_in", shanghai("2026-11-10", 8))
    Person.objects.filter(pk=dup.pk).update(status="merged", merged_into=world.persons["a1_owner"])
    stranger = send(world.persons["b1_owner"].pk, "daily_check_in", shanghai("2026-11-10", 8))
    cold = send(frozen.person_id, "daily_check_in", shanghai("2026-11-10", 8))
    send(None, "daily_check_in", shanghai("2026-11-10", 8), anonymous_id="dev-nobody")
    result = points_earn()
    assert result.unresolved == 1
    got = {d.event_id: d for d in EarningDecision.objects.filter(rule=r)}
    assert (got[dup_event].outcome, got[dup_event].member_id) == ("awarded", member.pk)
    assert got[stranger].outcome == "not_member"
    assert (got[cold].outcome, got[cold].detail) == ("member_inactive", "member is frozen")
    assert balance(member.pk) == 5 and balance(frozen.pk) == 0


def test_rules_driven_awards_upgrade_at_once_and_downgrade_only_at_review(world: World, lake_url: str) -> None:
    from hufen.membership.services import members_review_tiers

    member = join(world)
    rule(member, "referral", "referral_delivered", 5_000, "referral")
    rule(member, "checkin", "daily_check_in", 5, "check_in")
    pid = world.persons["a1_owner"].pk
    send(pid, "referral_delivered", shanghai("2026-11-10", 8))
    points_earn()
    member.refresh_from_db()
    assert member.tier.code == "silver"  # 5,000 qualifying points: upgraded at once
    # multiplied points count as qualifying: as silver (× 1.10) a check-in earns 5
    send(pid, "daily_check_in", shanghai("2026-11-11", 8))
    points_earn()
    assert balance(member.pk) == 5_005
    # a year and more without earning: still silver until the review runs, then the entry tier
    member.refresh_from_db()
    assert member.tier.code == "silver"
    members_review_tiers(actor=SYSTEM, as_of=dt.datetime(2028, 1, 1, tzinfo=dt.UTC))
    member.refresh_from_db()
    assert member.tier.code == "standard"


def test_command_json_and_task(world: World, lake_url: str) -> None:
    member = join(world)
    rule(member, "checkin", "daily_check_in", 5, "check_in")
    send(world.persons["a1_owner"].pk, "daily_check_in", shanghai("2026-11-10", 8))
    out = StringIO()
    call_command("points", "earn", "--json", "--since", "2026-11-01", stdout=out)
    report = json.loads(out.getvalue())
    assert report["outcomes"] == {"awarded": 1} and report["points"] == 5
    assert report["since"].startswith("2026-10-31T16:00:00")
    # the next run looks back 10 minutes before the watermark: it sees the event again, awards nothing
    again = membership_earn(lake_url=lake_url)
    assert (again["already_decided"], again["points"]) == (1, 0)
    text = StringIO()
    call_command("points", "earn", stdout=text)
    assert "judged" in text.getvalue()
    with pytest.raises(CommandError, match="--since"):
        call_command("points", "earn", "--since", "yesterday")
    with pytest.raises(CommandError, match="offset"):
        call_command("points", "earn", "--since", "2026-11-01T08:00:00")

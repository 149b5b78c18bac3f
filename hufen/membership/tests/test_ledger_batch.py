"""The batched award path: set-based, idempotent per key, the same guarantees as `points_award`."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.errors import FieldError
from hufen.common.models import AuditEvent, DomainEvent
from hufen.membership.ledger import points_award
from hufen.membership.ledger_batch import AwardItem, points_award_batch
from hufen.membership.models import Member, PointsAccount, PointsEntry, PointsLot, TierHistory
from hufen.membership.services import member_set_status
from hufen.membership.tests.helpers import T0, assert_ledger_consistent, join

pytestmark = pytest.mark.django_db

PEOPLE = ("a1_owner", "a1_other", "a2_owner", "b1_owner", "b1_serviced_at_a1")


def _members(world: World) -> list[Member]:
    return [join(world, p) for p in PEOPLE]


def _balance(member: Member) -> int:
    return PointsAccount.objects.get(member=member).balance


def test_a_batch_awards_every_item_with_its_lot_audit_and_event(world: World) -> None:
    # given five members, one of them with two awards in the batch
    members = _members(world)
    items = [
        AwardItem(m.pk, 10 * (i + 1), "check_in", f"k:{i}", "memberday_occurrence", "7") for i, m in enumerate(members)
    ]
    items.append(AwardItem(members[0].pk, 5, "goodwill", "k:extra"))
    # when
    outcomes = points_award_batch(actor=SYSTEM, items=items, now=T0)
    # then
    assert [o.status for o in outcomes] == ["awarded"] * 6
    assert [_balance(m) for m in members] == [15, 20, 30, 40, 50]
    first = PointsEntry.objects.get(idempotency_key="k:0")
    assert (first.balance_after, first.ref_type, first.ref_id, first.created_at) == (
        10,
        "memberday_occurrence",
        "7",
        T0,
    )
    assert PointsEntry.objects.get(idempotency_key="k:extra").balance_after == 15
    assert PointsLot.objects.count() == 6 and all(lot.remaining == lot.amount for lot in PointsLot.objects.all())
    assert AuditEvent.objects.filter(action="points.award").count() == 6
    events = DomainEvent.objects.filter(name="points_earned")
    assert events.count() == 6
    assert {e.properties["entry_id"] for e in events} == set(PointsEntry.objects.values_list("id", flat=True))
    assert_ledger_consistent()


def test_running_a_batch_twice_replays_and_a_changed_request_is_a_conflict(world: World) -> None:
    members = _members(world)[:3]
    items = [AwardItem(m.pk, 10, "check_in", "day-1") for m in members]
    points_award_batch(actor=SYSTEM, items=items, now=T0)
    # when: the same batch again, and one key reused for another amount
    again = points_award_batch(actor=SYSTEM, items=items, now=T0)
    changed = points_award_batch(actor=SYSTEM, items=[AwardItem(members[0].pk, 99, "check_in", "day-1")], now=T0)
    # then
    assert [o.status for o in again] == ["replayed"] * 3
    assert [o.entry.pk for o in again if o.entry] == list(
        PointsEntry.objects.order_by("id").values_list("id", flat=True)
    )
    assert changed[0].status == "conflict" and changed[0].entry is not None and changed[0].entry.amount == 10
    assert PointsEntry.objects.count() == 3 and [_balance(m) for m in members] == [10, 10, 10]
    assert_ledger_consistent()


def test_a_key_repeated_inside_the_batch_counts_once(world: World) -> None:
    (member,) = _members(world)[:1]
    out = points_award_batch(
        actor=SYSTEM,
        items=[AwardItem(member.pk, 10, "check_in", "same"), AwardItem(member.pk, 10, "check_in", "same")],
        now=T0,
    )
    assert [o.status for o in out] == ["awarded", "replayed"] and out[0].entry == out[1].entry
    assert _balance(member) == 10 and PointsEntry.objects.count() == 1


def test_the_single_award_and_the_batch_share_one_key_space(world: World) -> None:
    (member,) = _members(world)[:1]
    single = points_award(actor=SYSTEM, member=member, amount=10, reason="check_in", idempotency_key="k", now=T0)
    (out,) = points_award_batch(actor=SYSTEM, items=[AwardItem(member.pk, 10, "check_in", "k")], now=T0)
    assert out.status == "replayed" and out.entry is not None and out.entry.pk == single.pk
    assert _balance(member) == 10


def test_an_inactive_member_is_skipped_and_the_others_are_paid(world: World) -> None:
    active, frozen = _members(world)[:2]
    member_set_status(actor=SYSTEM, member=frozen, status="frozen", reason="fraud check")
    out = points_award_batch(
        actor=SYSTEM, items=[AwardItem(active.pk, 10, "check_in", "k"), AwardItem(frozen.pk, 10, "check_in", "k")]
    )
    assert [o.status for o in out] == ["awarded", "member_inactive"] and out[1].entry is None
    assert (_balance(active), _balance(frozen)) == (10, 0)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"amount": 0}, "items[1].amount"),
        ({"amount": -5}, "items[1].amount"),
        ({"reason": "no_such_reason"}, "items[1].reason"),
        ({"idempotency_key": " "}, "items[1].idempotency_key"),
        ({"member_id": 999_999}, "items[1].member_id"),
    ],
)
def test_bad_input_names_the_item_and_writes_nothing(world: World, bad: dict[str, object], field: str) -> None:
    a, b = _members(world)[:2]
    fields: dict[str, object] = {"member_id": b.pk, "amount": 10, "reason": "check_in", "idempotency_key": "k"}
    items = [AwardItem(a.pk, 10, "check_in", "k"), AwardItem(**{**fields, **bad})]  # type: ignore[arg-type]
    with pytest.raises(FieldError) as err:
        points_award_batch(actor=SYSTEM, items=items)
    assert err.value.field == field
    assert PointsEntry.objects.count() == 0 and _balance(a) == 0


def test_the_tier_check_runs_once_per_member_and_upgrades_at_once(world: World) -> None:
    member, other = _members(world)[:2]
    items = [AwardItem(member.pk, 3_000, "goodwill", f"g{i}") for i in range(2)] + [
        AwardItem(other.pk, 10, "check_in", "c")
    ]
    points_award_batch(actor=SYSTEM, items=items, now=T0)
    member.refresh_from_db()
    other.refresh_from_db()
    assert member.tier.code == "silver" and other.tier.rank == 0
    assert TierHistory.objects.filter(member=member, reason="upgrade").count() == 1


def test_the_batch_costs_a_fixed_number_of_statements(world: World) -> None:
    """Set-based: the statement count does not grow with the number of awards."""
    members = _members(world)

    def statements(n: int, tag: str) -> int:
        items = [AwardItem(m.pk, 10, "check_in", f"{tag}:{i}") for i, m in enumerate(members[:n])]
        with CaptureQueriesContext(connection) as ctx:
            points_award_batch(actor=SYSTEM, items=items, now=T0)
        return len([q for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))])

    two, five = statements(2, "a"), statements(5, "b")
    # lock + keys + entries + lots + balances + audit + events + qualifying points + tiers
    assert two == five <= 9

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.errors import FieldError
from hufen.common.models import AuditEvent, DomainEvent
from hufen.membership.errors import IdempotencyConflict
from hufen.membership.ledger import points_award, points_expire_due, points_reverse, points_spend
from hufen.membership.models import Member, PointsAccount, PointsEntry, PointsLot, Program
from hufen.membership.programs import lot_expires_at
from hufen.membership.selectors import ledger_verify
from hufen.membership.tests.helpers import T0, assert_ledger_consistent, join

SH = zoneinfo.ZoneInfo("Asia/Shanghai")


def _award(member: Member, amount: int, key: str, when: dt.datetime = T0) -> PointsEntry:
    return points_award(actor=SYSTEM, member=member, amount=amount, reason="goodwill", idempotency_key=key, now=when)


def _spend(member: Member, amount: int, key: str, when: dt.datetime = T0) -> PointsEntry:
    return points_spend(actor=SYSTEM, member=member, amount=amount, reason="merchant", idempotency_key=key, now=when)


def balance(member: Member) -> int:
    return PointsAccount.objects.get(member=member).balance


def test_award_writes_entry_lot_audit_and_event(world: World) -> None:
    member = join(world)
    entry = _award(member, 500, "k1")
    assert (entry.amount, entry.balance_after, balance(member)) == (500, 500, 500)
    assert PointsLot.objects.get(entry=entry).remaining == 500
    assert AuditEvent.objects.filter(action="points.award", object_id=str(entry.pk)).exists()
    assert DomainEvent.objects.filter(name="points_earned").count() == 1
    assert_ledger_consistent()


def test_same_key_counts_once_and_other_amount_conflicts(world: World) -> None:
    member = join(world)
    first = _award(member, 500, "k1")
    assert _award(member, 500, "k1").pk == first.pk
    with pytest.raises(IdempotencyConflict):
        _award(member, 501, "k1")
    assert PointsEntry.objects.count() == 1 and balance(member) == 500


@pytest.mark.parametrize(
    ("amount", "reason", "field"),
    [
        (0, "goodwill", "amount"),
        (-5, "goodwill", "amount"),
        (10, "no_such_reason", "reason"),
        (10, "merchant", "reason"),
    ],
)
def test_bad_award_writes_nothing(world: World, amount: int, reason: str, field: str) -> None:
    member = join(world)
    events = DomainEvent.objects.count()
    with pytest.raises(FieldError) as exc:
        points_award(actor=SYSTEM, member=member, amount=amount, reason=reason, idempotency_key="x")
    assert exc.value.field == field
    assert PointsEntry.objects.count() == 0 and DomainEvent.objects.count() == events


def test_spend_beyond_balance_is_refused_and_writes_nothing(world: World) -> None:
    member = join(world)
    _award(member, 100, "a")
    with pytest.raises(FieldError, match="exceed the available balance of 100"):
        _spend(member, 101, "s")
    assert PointsEntry.objects.count() == 1 and balance(member) == 100


def test_spend_consumes_oldest_expiring_lots_first_and_reversal_restores_them(world: World) -> None:
    member = join(world)
    old = _award(member, 100, "old", T0)
    new = _award(member, 100, "new", T0.replace(year=2027))
    spend = _spend(member, 150, "s", T0.replace(year=2027, month=6))
    assert PointsLot.objects.get(entry=old).remaining == 0
    assert PointsLot.objects.get(entry=new).remaining == 50
    points_reverse(actor=SYSTEM, entry=spend)
    assert [PointsLot.objects.get(entry=e).remaining for e in (old, new)] == [100, 100]
    assert balance(member) == 200
    assert_ledger_consistent()


def test_reversing_twice_is_refused(world: World) -> None:
    member = join(world)
    award = _award(member, 100, "a")
    mirror = points_reverse(actor=SYSTEM, entry=award)
    assert (mirror.amount, mirror.reverses_id, balance(member)) == (-100, award.pk, 0)
    with pytest.raises(FieldError, match="already reversed"):
        points_reverse(actor=SYSTEM, entry=award, idempotency_key="another")
    with pytest.raises(FieldError, match="cannot be reversed"):
        points_reverse(actor=SYSTEM, entry=mirror)
    assert_ledger_consistent()


def test_award_already_spent_cannot_be_reversed(world: World) -> None:
    member = join(world)
    award = _award(member, 100, "a")
    _spend(member, 10, "s")
    with pytest.raises(FieldError, match="already spent"):
        points_reverse(actor=SYSTEM, entry=award)
    assert balance(member) == 90


def test_validity_end_of_following_year_in_shanghai(world: World) -> None:
    program = join(world).program
    # 2026-12-31 17:00 UTC is already 2027-01-01 01:00 in Shanghai: earned in 2027, valid through 2028.
    late = dt.datetime(2026, 12, 31, 17, 0, tzinfo=dt.UTC)
    assert lot_expires_at(program, late) == dt.datetime(2029, 1, 1, tzinfo=SH)
    early = dt.datetime(2026, 12, 31, 15, 0, tzinfo=dt.UTC)  # 23:00 Shanghai, still 2026
    assert lot_expires_at(program, early) == dt.datetime(2028, 1, 1, tzinfo=SH)


def test_validity_in_months(world: World) -> None:
    program = join(world).program
    Program.objects.filter(pk=program.pk).update(validity="months", validity_months=24)
    program.refresh_from_db()
    assert lot_expires_at(program, T0) == dt.datetime(2028, 3, 16, tzinfo=SH)


def test_expiry_takes_only_due_lots_and_runs_once(world: World) -> None:
    member = join(world)
    _award(member, 100, "2026", T0)  # expires 2028-01-01 Shanghai
    _award(member, 70, "2027", T0.replace(year=2027))  # expires 2029-01-01
    _spend(member, 30, "s", T0.replace(year=2027, month=5))  # from the 2026 lot
    as_of = dt.datetime(2028, 1, 1, tzinfo=SH)
    entries = points_expire_due(actor=SYSTEM, as_of=as_of)
    assert [e.amount for e in entries] == [-70]
    assert points_expire_due(actor=SYSTEM, as_of=as_of) == []
    assert balance(member) == 70
    assert DomainEvent.objects.filter(name="points_expired").count() == 1
    assert_ledger_consistent()


def test_spend_ignores_overdue_lots(world: World) -> None:
    member = join(world)
    _award(member, 100, "a", T0)
    with pytest.raises(FieldError, match="available balance of 0"):
        _spend(member, 1, "s", dt.datetime(2028, 1, 2, tzinfo=dt.UTC))


def test_frozen_member_cannot_earn_or_spend(world: World) -> None:
    member = join(world)
    _award(member, 100, "a")
    member.status = "frozen"
    member.save()
    with pytest.raises(FieldError, match="frozen"):
        _spend(member, 1, "s")


def test_verify_reports_each_tampering(world: World) -> None:
    member = join(world)
    entry = _award(member, 100, "a")
    PointsAccount.objects.filter(member=member).update(balance=120)
    PointsLot.objects.filter(entry=entry).update(remaining=50)  # the database refuses > amount or < 0
    checks = {d.check for d in ledger_verify()}
    assert {"entries_sum_to_balance", "lots_sum_to_balance", "lot_movements"} <= checks
    found = next(d for d in ledger_verify() if d.check == "entries_sum_to_balance")
    assert (found.expected, found.found) == (120, 100)

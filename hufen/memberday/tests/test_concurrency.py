"""Check-in under a double (twenty-fold) tap, on PostgreSQL: one check-in, one award."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from functools import partial

import pytest
from django.db import connection, connections, transaction

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.models import DomainEvent
from hufen.memberday.awards import DrainResult, memberday_award_pending
from hufen.memberday.checkin import CheckInResult, memberday_check_in
from hufen.memberday.models import CheckIn
from hufen.memberday.services import occurrence_update
from hufen.memberday.tests.helpers import NOON, join, member_actor, schedule
from hufen.membership.models import Member, PointsAccount, PointsEntry, PointsLot
from hufen.membership.selectors import ledger_verify
from hufen.testing.concurrency import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_same_member_checking_in_from_20_threads_is_awarded_once(pg_world: World) -> None:
    member = join(pg_world, "a2_owner")
    schedule(pg_world)
    actor = member_actor(member)
    results = race([lambda: memberday_check_in(actor=actor, member_id=member.pk, now=NOON)] * 20)
    assert all(isinstance(r, CheckInResult) for r in results), results
    ok = [r for r in results if isinstance(r, CheckInResult)]
    assert sum(r.created for r in ok) == 1
    assert len({r.checkin.pk for r in ok}) == 1
    assert CheckIn.objects.count() == 1
    memberday_award_pending()
    assert PointsEntry.objects.filter(reason="check_in").count() == 1
    assert PointsAccount.objects.get(member=member).balance == 10
    assert DomainEvent.objects.filter(name="memberday_checked_in").count() == 1
    assert ledger_verify() == []


def test_many_members_at_midnight_each_once(pg_world: World) -> None:
    members = [join(pg_world, p) for p in ("a1_owner", "a1_other", "a2_owner", "b1_serviced_at_a1")]
    schedule(pg_world)
    jobs = [m for m in members for _ in range(5)]
    results = race([partial(memberday_check_in, actor=member_actor(m), member_id=m.pk, now=NOON) for m in jobs])
    assert all(isinstance(r, CheckInResult) for r in results), results
    assert CheckIn.objects.count() == 4
    memberday_award_pending()
    assert PointsEntry.objects.filter(reason="check_in").count() == 4
    assert ledger_verify() == []


def test_one_idempotency_key_raced_by_different_members_checks_in_one(pg_world: World) -> None:
    """Ten members sent with ONE key at once (a client bug): the key's record is unique, so the
    one-statement path of every loser fails as a whole and the general path answers 409."""
    from hufen.memberday.checkin import KeyConflict, RequestKey

    people = ("a1_owner", "a1_other", "a2_owner", "b1_serviced_at_a1")
    members = [join(pg_world, p) for p in people]
    schedule(pg_world)
    jobs: list[Callable[[], object]] = [
        partial(
            memberday_check_in,
            actor=SYSTEM,
            member_id=m.pk,
            now=NOON,
            request_key=RequestKey("system:race", "one-key", f"digest-{m.pk}"),
        )
        for m in members
        for _ in range(3)
    ]
    results = race(jobs)
    answered = [r for r in results if isinstance(r, CheckInResult)]
    conflicts = [r for r in results if isinstance(r, KeyConflict)]
    # The winner's three requests: its first answer, then that answer replayed; the others' nine: 409.
    assert len(answered) == 3 and len(conflicts) == 9, results
    assert len({r.checkin.pk for r in answered}) == 1 and all(r.created for r in answered)
    assert sum(not r.replayed for r in answered) == 1
    assert CheckIn.objects.count() == 1
    assert DomainEvent.objects.filter(name="memberday_checked_in").count() == 1


# --- the award drain ----------------------------------------------------------------------------------


def _pending_checkins(world: World) -> list[Member]:
    """Five members checked in on each of three Member Days: 15 pending check-ins."""
    members = [join(world, p) for p in ("a1_owner", "a1_other", "a2_owner", "b1_owner", "b1_serviced_at_a1")]
    days = schedule(world, months=3)
    for occurrence in days:
        noon = occurrence.starts_at + dt.timedelta(hours=4)
        for m in members:
            assert memberday_check_in(actor=SYSTEM, member_id=m.pk, now=noon).created
    assert CheckIn.objects.filter(points_status="pending").count() == 15
    return members


def test_concurrent_drains_never_award_twice(pg_world: World) -> None:
    # given 15 pending check-ins
    members = _pending_checkins(pg_world)
    # when six drains run at once, in small batches, while taps keep coming
    results = race([lambda: memberday_award_pending(batch=2) for _ in range(6)])
    # then every check-in is paid exactly once
    assert all(isinstance(r, DrainResult) for r in results), results
    paid = sum(r.outcomes.get("awarded", 0) for r in results if isinstance(r, DrainResult))
    assert paid == 15
    assert CheckIn.objects.filter(points_status="awarded").count() == 15
    assert PointsEntry.objects.filter(reason="check_in").count() == 15
    entry_ids = set(CheckIn.objects.values_list("entry_id", flat=True))
    assert entry_ids == set(PointsEntry.objects.filter(reason="check_in").values_list("id", flat=True))
    for m in members:
        assert PointsAccount.objects.get(member=m).balance == 30
    assert ledger_verify() == []


def test_concurrent_double_taps_and_drains_are_one_check_in_and_one_award(pg_world: World) -> None:
    member = join(pg_world, "a2_owner")
    schedule(pg_world)
    actor = member_actor(member)
    jobs: list[Callable[[], object]] = [
        (lambda: memberday_check_in(actor=actor, member_id=member.pk, now=NOON)) for _ in range(10)
    ] + [memberday_award_pending for _ in range(4)]
    results = race(jobs)
    assert not [r for r in results if isinstance(r, Exception)], results
    memberday_award_pending()
    assert CheckIn.objects.count() == 1 and CheckIn.objects.get().points_status == "awarded"
    assert PointsEntry.objects.filter(reason="check_in").count() == 1
    assert PointsAccount.objects.get(member=member).balance == 10
    assert ledger_verify() == []


def test_a_drain_killed_in_the_middle_leaves_nothing_half_applied(pg_world: World) -> None:
    """The drain is killed (its database session terminated) after it wrote entries, lots, balances,
    audit rows and events, while it waits for the member's row to upgrade its tier: nothing stays."""
    member = join(pg_world, "a2_owner")
    (occ,) = schedule(pg_world)
    occurrence_update(actor=SYSTEM, occurrence=occ, title=occ.title, theme="", checkin_points=6_000)
    assert memberday_check_in(actor=SYSTEM, member_id=member.pk, now=NOON).created
    outcome: list[object] = []
    with transaction.atomic():
        # given: this test holds the member's row, so the drain stops at the tier upgrade
        Member.objects.select_for_update().get(pk=member.pk)
        worker = threading.Thread(target=lambda: outcome.append(_drain_or_error()))
        worker.start()
        pid = _wait_for_blocked_backend()
        # when: the drain's session is killed there
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        worker.join(timeout=60)
    # then: the drain failed and left no trace; the check-in is still pending
    assert outcome and isinstance(outcome[0], Exception), outcome
    assert PointsEntry.objects.count() == 0 and PointsLot.objects.count() == 0
    assert PointsAccount.objects.get(member=member).balance == 0
    assert not DomainEvent.objects.filter(name="points_earned").exists()
    assert CheckIn.objects.get().points_status == "pending"
    assert ledger_verify() == []
    # and the next drain pays it once, upgrading the member
    assert memberday_award_pending().outcomes == {"awarded": 1}
    assert PointsAccount.objects.get(member=member).balance == 6_000
    assert Member.objects.get(pk=member.pk).tier.code == "silver"
    assert ledger_verify() == []


def _drain_or_error() -> object:
    try:
        return memberday_award_pending()
    except Exception as exc:  # the terminated session: what the test expects
        return exc
    finally:
        connections.close_all()


def _wait_for_blocked_backend() -> int:
    """The pid of the (other) session of this database waiting on a lock."""
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # Inside a transaction the activity view is a snapshot: take a fresh one each time.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND wait_event_type = 'Lock'"
            )
            row = cursor.fetchone()
            if row is not None:
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError("the drain never blocked on the member's row")

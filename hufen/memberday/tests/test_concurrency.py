"""Check-in under a double (twenty-fold) tap, on PostgreSQL: one check-in, one award."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from conftest import World, build_world
from hufen.common.models import DomainEvent
from hufen.memberday.checkin import CheckInResult, memberday_check_in
from hufen.memberday.models import CheckIn
from hufen.memberday.tests.helpers import NOON, join, member_actor, schedule
from hufen.membership.models import PointsAccount, PointsEntry
from hufen.membership.selectors import ledger_verify

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pg_world(transactional_db: None) -> World:
    if connection.vendor != "postgresql":
        pytest.skip("check-in concurrency is proven on PostgreSQL; run with DATABASE_URL=postgres://...")
    return build_world()


def _race(n: int, job: object) -> list[object]:
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = job()  # type: ignore[operator]
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_the_same_member_checking_in_from_20_threads_is_awarded_once(pg_world: World) -> None:
    member = join(pg_world, "a2_owner")
    schedule(pg_world)
    actor = member_actor(member)
    results = _race(20, lambda: memberday_check_in(actor=actor, member_id=member.pk, now=NOON))
    assert all(isinstance(r, CheckInResult) for r in results), results
    ok = [r for r in results if isinstance(r, CheckInResult)]
    assert sum(r.created for r in ok) == 1
    assert len({r.checkin.pk for r in ok}) == 1
    assert CheckIn.objects.count() == 1
    assert PointsEntry.objects.filter(reason="check_in").count() == 1
    assert PointsAccount.objects.get(member=member).balance == 10
    assert DomainEvent.objects.filter(name="memberday_checked_in").count() == 1
    assert ledger_verify() == []


def test_many_members_at_midnight_each_once(pg_world: World) -> None:
    members = [join(pg_world, p) for p in ("a1_owner", "a1_other", "a2_owner", "b1_serviced_at_a1")]
    schedule(pg_world)
    jobs = [m for m in members for _ in range(5)]
    idx = iter(range(len(jobs)))
    lock = threading.Lock()

    def job() -> CheckInResult:
        with lock:
            m = jobs[next(idx)]
        return memberday_check_in(actor=member_actor(m), member_id=m.pk, now=NOON)

    results = _race(len(jobs), job)
    assert all(isinstance(r, CheckInResult) for r in results), results
    assert CheckIn.objects.count() == 4
    assert PointsEntry.objects.filter(reason="check_in").count() == 4
    assert ledger_verify() == []

"""Group commit (memberday/group.py), on PostgreSQL: check-ins that arrive together share one statement,
and each gets exactly the answer it would have got alone."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any, cast

import pytest
from django.db import IntegrityError

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.models import AuditEvent, DomainEvent, IdempotencyRecord
from hufen.memberday import group, hotwrite, live
from hufen.memberday.awards import memberday_award_pending
from hufen.memberday.checkin import CheckInResult, RequestKey, memberday_check_in
from hufen.memberday.models import CheckIn
from hufen.memberday.tests.helpers import NOON, schedule
from hufen.membership.models import Member, PointsEntry
from hufen.membership.selectors import ledger_verify
from hufen.membership.services import member_join
from hufen.people.models import Person
from hufen.people.tests.factories import PersonFactory
from hufen.testing.concurrency import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def fresh_group(monkeypatch: pytest.MonkeyPatch) -> group.GroupCommit:
    """A group of its own, whose statements take 30 ms more: threads arriving meanwhile queue up."""
    fresh = group.GroupCommit(max_batch=8)
    monkeypatch.setattr(group, "GROUP", fresh)
    real = hotwrite.check_in_many

    def slow(statement: Any, requests: Any) -> Any:
        time.sleep(0.03)
        return real(statement, requests)

    monkeypatch.setattr(hotwrite, "check_in_many", slow)
    return fresh


def members(world: World, n: int) -> list[Member]:
    brand = world.brands["mass"]
    people: list[Person] = [PersonFactory() for _ in range(n)]  # type: ignore[misc]
    return [member_join(actor=SYSTEM, person=p, brand=brand, channel="api") for p in people]


def test_thirty_members_at_once_share_statements_and_each_checks_in_once(
    pg_world: World, fresh_group: group.GroupCommit
) -> None:
    (day,) = schedule(pg_world)
    crowd = members(pg_world, 30)
    live.checkins_live(day.pk, count_from_db=0)  # the dashboard is showing the live counter
    key = [RequestKey("api_client:test", f"k-{m.pk}", f"d-{m.pk}") for m in crowd]
    jobs: list[Callable[[], object]] = [
        partial(memberday_check_in, actor=SYSTEM, member_id=m.pk, now=NOON, request_key=k)
        for m, k in zip(crowd, key, strict=True)
    ]
    results = race(jobs + jobs)  # every member twice, with the same key: a retry
    assert all(isinstance(r, CheckInResult) for r in results), results
    firsts = [r for r in results if isinstance(r, CheckInResult)]
    assert sum(r.created and not r.replayed for r in firsts) == 30
    by_member: dict[int, set[int]] = {}
    for r in firsts:
        by_member.setdefault(r.checkin.member_id, set()).add(r.checkin.pk)
    assert all(len(ids) == 1 for ids in by_member.values()) and len(by_member) == 30
    assert fresh_group.requests >= 60 - 1 and fresh_group.batches < fresh_group.requests, "no batch was shared"
    assert CheckIn.objects.count() == 30
    assert AuditEvent.objects.filter(action="memberday.check_in").count() == 30
    assert DomainEvent.objects.filter(name="memberday_checked_in").count() == 30
    assert IdempotencyRecord.objects.count() == 30
    # The live figures, updated by each batch's leader for the whole batch: new check-ins counted once.
    assert live.checkins_live(day.pk) == 30
    assert live.online_now() == 30
    memberday_award_pending()
    assert PointsEntry.objects.filter(reason="check_in").count() == 30
    assert ledger_verify() == []


def test_a_batch_that_fails_as_a_whole_runs_each_request_again_alone(
    pg_world: World, fresh_group: group.GroupCommit, monkeypatch: pytest.MonkeyPatch
) -> None:
    schedule(pg_world)
    crowd = members(pg_world, 12)
    real, failed = hotwrite._execute, list[int]()

    def flaky(sql: str, params: list[Any]) -> Any:
        if len(json.loads(params[0])) > 1 and not failed:  # the first shared statement fails (a key raced)
            failed.append(len(json.loads(params[0])))
            raise IntegrityError("duplicate key value violates unique constraint")
        return real(sql, params)

    monkeypatch.setattr(hotwrite, "_execute", flaky)
    results = race([partial(memberday_check_in, actor=SYSTEM, member_id=m.pk, now=NOON) for m in crowd])
    assert failed, "no shared statement was made"
    assert all(isinstance(r, CheckInResult) and r.created for r in results), results
    assert CheckIn.objects.count() == 12 == DomainEvent.objects.filter(name="memberday_checked_in").count()


def test_a_batch_takes_one_request_per_member_and_per_key() -> None:
    """The same member twice, or one Idempotency-Key twice, never share a statement (its key insert
    would fail the whole batch): the second waits for the next batch."""
    shared = cast(hotwrite.Statement, object())

    def slot(member_id: int, key: str | None) -> Any:
        return group._Slot(shared, hotwrite.Request(SYSTEM, member_id, "app", NOON, ("s", key, "d") if key else None))

    g = group.GroupCommit(max_batch=3)
    mine = slot(1, "a")
    g._waiting = [mine, slot(1, "b"), slot(2, "a"), slot(3, None), slot(4, "c"), slot(5, None)]
    batch = g._take(mine)
    assert [s.request.member_id for s in batch] == [1, 3, 4]  # at most 3, the leader's own first
    assert [s.request.member_id for s in g._waiting] == [1, 2, 5]


def test_inside_a_transaction_a_check_in_runs_alone(pg_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import transaction

    schedule(pg_world)
    (member,) = members(pg_world, 1)
    submitted: list[Any] = []

    def submit(*args: Any) -> object:
        submitted.append(args)
        return hotwrite.FAILED

    monkeypatch.setattr(group.GROUP, "submit", submit)
    with transaction.atomic():
        result = memberday_check_in(actor=SYSTEM, member_id=member.pk, now=NOON)
    assert result.created and submitted == []
    memberday_check_in(actor=SYSTEM, member_id=member.pk, now=NOON)
    assert len(submitted) == 1


def test_threads_queue_behind_a_leader(pg_world: World, fresh_group: group.GroupCommit) -> None:
    """Under light load every batch is one request: nobody waits for a timer."""
    schedule(pg_world)
    crowd = members(pg_world, 3)
    for m in crowd:
        memberday_check_in(actor=SYSTEM, member_id=m.pk, now=NOON)
    assert (fresh_group.batches, fresh_group.requests) == (3, 3)


def test_live_figures_of_a_batch_survive_a_redis_that_lost_its_scripts(pg_world: World) -> None:
    script = live._redis_script("checked_in", live._CHECKED_IN)
    assert script is not None, "the PostgreSQL pass runs with Redis as the cache (HUFEN_REQUIRE_REDIS)"
    live.checkins_live(77, count_from_db=5)
    script.registered_client.script_flush()  # as after a Redis restart
    live.checked_in_many([(1, 77, True), (2, 77, True), (1, 77, False)])
    assert live.checkins_live(77) == 7
    assert live.online_now() == 2

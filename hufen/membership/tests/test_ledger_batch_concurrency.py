"""The batched award path under concurrent writers, on PostgreSQL (SQLite serialises every writer)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection

from conftest import World, build_world
from hufen.common.actors import SYSTEM
from hufen.membership.ledger import points_award
from hufen.membership.ledger_batch import AwardItem, AwardOutcome, points_award_batch
from hufen.membership.models import PointsAccount, PointsEntry
from hufen.membership.tests.helpers import T0, assert_ledger_consistent, join
from hufen.testing.concurrency import race, require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PEOPLE = ("a1_owner", "a1_other", "a2_owner", "b1_owner", "b1_serviced_at_a1")


@pytest.fixture
def pg_world(transactional_db: None) -> World:
    require_postgres()
    return build_world()


def test_overlapping_batches_in_any_order_award_each_key_once(pg_world: World) -> None:
    # given five members and eight batches naming them in different orders, with shared keys
    members = [join(pg_world, p) for p in PEOPLE]
    assert connection.vendor == "postgresql"

    def batch(shift: int) -> Callable[[], object]:
        order = members[shift % 5 :] + members[: shift % 5]
        items = [AwardItem(m.pk, 10, "check_in", "day-1") for m in order]
        items.append(AwardItem(order[0].pk, 7, "goodwill", f"own-{shift}"))  # one key of its own
        return lambda: points_award_batch(actor=SYSTEM, items=items, now=T0)

    # when they all run at once
    results = race([batch(i) for i in range(8)])
    # then no deadlock, no error, and each key paid once
    assert all(isinstance(r, list) for r in results), results
    outcomes = [o for r in results for o in r if isinstance(o, AwardOutcome)]  # type: ignore[attr-defined]
    assert sum(o.status == "awarded" for o in outcomes) == 5 + 8
    assert PointsEntry.objects.filter(idempotency_key="day-1").count() == 5
    assert PointsEntry.objects.filter(idempotency_key__startswith="own-").count() == 8
    total = sum(PointsAccount.objects.values_list("balance", flat=True))
    assert total == 5 * 10 + 8 * 7
    assert_ledger_consistent()


def test_a_batch_and_single_awards_racing_on_one_key_pay_once(pg_world: World) -> None:
    member = join(pg_world, "a2_owner")
    jobs: list[Callable[[], object]] = [
        lambda: points_award_batch(actor=SYSTEM, items=[AwardItem(member.pk, 10, "check_in", "tap")], now=T0)
        for _ in range(5)
    ] + [
        lambda: points_award(actor=SYSTEM, member=member, amount=10, reason="check_in", idempotency_key="tap", now=T0)
        for _ in range(5)
    ]
    results = race(jobs)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert PointsEntry.objects.count() == 1
    assert PointsAccount.objects.get(member=member).balance == 10
    assert_ledger_consistent()

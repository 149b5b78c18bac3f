"""Crossing merges on PostgreSQL: A←B and B←A at once end consistent — one wins, the other fails clearly."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conftest import World, build_world
from hufen.common.actors import SYSTEM
from hufen.common.errors import FieldError
from hufen.membership.ledger import points_award
from hufen.membership.selectors import ledger_verify
from hufen.membership.services import member_join
from hufen.people.merge import person_merge, person_unmerge
from hufen.people.models import Ownership, Person, PersonMerge
from hufen.testing.concurrency import race, require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pg_world(transactional_db: None) -> World:
    require_postgres()
    return build_world()


def _merge(survivor: Person, absorbed: Person) -> Callable[[], object]:
    return lambda: person_merge(actor=SYSTEM, survivor=survivor, absorbed=absorbed, reason="并发测试")


@pytest.mark.parametrize("rounds", [3])
def test_crossing_merges_one_wins_the_other_fails_clearly(pg_world: World, rounds: int) -> None:
    a, b = pg_world.persons["a1_owner"], pg_world.persons["a1_other"]
    for brand in ("mass", "premium"):
        for person in (a, b):
            member = member_join(actor=SYSTEM, person=person, brand=pg_world.brands[brand], channel="api")
            points_award(
                actor=SYSTEM, member=member, amount=100, reason="goodwill", idempotency_key=f"{brand}{person.pk}"
            )
    for _ in range(rounds):
        results = race([_merge(a, b), _merge(b, a)])
        wins = [r for r in results if isinstance(r, PersonMerge)]
        errors = [r for r in results if isinstance(r, Exception)]
        assert len(wins) == 1 and len(errors) == 1, results
        assert isinstance(errors[0], FieldError) and "merged into person" in str(errors[0])
        won = wins[0]
        assert PersonMerge.objects.filter(unmerged_at__isnull=True).count() == 1
        absorbed = Person.objects.get(pk=won.absorbed_id)
        assert absorbed.status == "merged" and absorbed.merged_into_id == won.survivor_id
        assert Person.objects.get(pk=won.survivor_id).status == "active"
        assert Ownership.objects.filter(person_id=won.survivor_id).count() == 2
        assert ledger_verify() == []
        person_unmerge(actor=SYSTEM, merge=won)
        assert ledger_verify() == []


def test_concurrent_unmerges_of_one_merge_undo_it_once(pg_world: World) -> None:
    a, b = pg_world.persons["a1_owner"], pg_world.persons["a1_other"]
    merge = person_merge(actor=SYSTEM, survivor=a, absorbed=b, reason="并发测试")
    results = race([lambda: person_unmerge(actor=SYSTEM, merge=merge) for _ in range(3)])
    assert len([r for r in results if isinstance(r, Person)]) == 1
    assert all("already undone" in str(r) for r in results if isinstance(r, Exception))
    assert Ownership.objects.filter(person=b).count() == 1

"""Invariants under concurrent writers, on PostgreSQL (SQLite serialises every writer anyway)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest

from conftest import World, build_world
from hufen.common.actors import SYSTEM
from hufen.common.pii import FieldError
from hufen.people.models import ButlerAssignment, Ownership
from hufen.people.services import butler_assign, ownership_deliver
from hufen.testing.concurrency import race, require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pg_world(transactional_db: None) -> World:
    require_postgres()
    return build_world()


def test_concurrent_butler_assignments_leave_exactly_one_open(pg_world: World) -> None:
    person = pg_world.persons["a1_owner"]
    grids = [pg_world.grids["A1-west"], pg_world.grids["A1-north"]]
    butlers = [pg_world.staff["butler_a1"], pg_world.staff["butler_a1b"]]
    jobs: list[Callable[[], object]] = [
        partial(butler_assign, actor=SYSTEM, person=person, grid=grids[i % 2], butler=butlers[i % 2]) for i in range(8)
    ]
    results = race(jobs)
    assert not [r for r in results if isinstance(r, Exception)]
    assert ButlerAssignment.objects.filter(person=person, ended_at__isnull=True).count() == 1


def test_concurrent_deliveries_of_one_vehicle_keep_one_current_owner(pg_world: World) -> None:
    vehicle = Ownership.objects.get(person=pg_world.persons["b1_owner"]).vehicle
    buyers = [pg_world.persons[k] for k in ("prospect", "a2_owner", "a1_owner", "a1_other")]
    jobs: list[Callable[[], object]] = [
        partial(ownership_deliver, actor=SYSTEM, person=p, vehicle=vehicle, dealer=pg_world.dealers["B1"])
        for p in buyers
    ]
    results = race(jobs)
    errors = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(e, FieldError) for e in errors), errors
    assert Ownership.objects.filter(vehicle=vehicle, role="owner", ended_at__isnull=True).count() == 1

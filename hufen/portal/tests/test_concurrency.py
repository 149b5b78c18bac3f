"""Double taps and parallel sign-ins on PostgreSQL (SQLite serialises every writer anyway)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.core.cache import cache
from django.db import connection, connections
from django.test import Client

from conftest import World, build_world
from hufen.common.errors import FieldError
from hufen.membership.models import PointsAccount, Redemption
from hufen.membership.selectors import ledger_verify
from hufen.portal.access import COOKIE_NAME
from hufen.portal.models import PortalSession
from hufen.portal.services import login_code_request, member_sign_in
from hufen.portal.tests.helpers import award, catalogue, last_code, signed_in_client

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pg_world(transactional_db: None) -> World:
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is proven on PostgreSQL; run with DATABASE_URL=postgres://...")
    cache.clear()
    return build_world()


def _race(jobs: list[Callable[[], object]]) -> list[object]:
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = jobs[i]()
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_a_burst_of_taps_on_one_confirmation_redeems_once(pg_world: World) -> None:
    client, member = signed_in_client(pg_world)
    award(member, 1_000, "visit-1")
    wash = catalogue(member)["wash"]
    token = client.cookies[COOKIE_NAME].value

    def tap() -> int:
        c = Client()
        c.cookies[COOKIE_NAME] = token
        response = c.post(f"/m/benefits/{wash.pk}/redeem/", {"idempotency_key": "one-form", "quantity": "1"})
        return response.status_code

    results = _race([tap for _ in range(8)])
    assert results == [302] * 8, results
    assert Redemption.objects.filter(member=member).count() == 1
    assert PointsAccount.objects.get(member=member).balance == 700
    wash.refresh_from_db()
    assert wash.stock == 49
    assert ledger_verify() == []


def test_one_code_opens_one_session_however_many_tabs_race(pg_world: World) -> None:
    login_code_request(phone="15012340002", brand_code="mass")
    code = last_code("+8615012340002")
    results = _race([lambda: member_sign_in(phone="15012340002", code=code, brand_code="mass") for _ in range(6)])
    signed = [r for r in results if not isinstance(r, Exception)]
    assert len(signed) == 1, results
    assert all(isinstance(r, FieldError) for r in results if isinstance(r, Exception)), results
    assert PortalSession.objects.count() == 1

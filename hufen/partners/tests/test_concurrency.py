"""Per-owner caps and offer budgets under concurrent redemptions, on PostgreSQL (SQLite serialises
every writer anyway)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

import pytest
from django.db import connection, connections

from conftest import World, build_world
from hufen.common.actors import SYSTEM, Actor
from hufen.common.errors import FieldError
from hufen.partners.carkey import CarKeyRejected, car_key_issue, car_key_verify
from hufen.partners.models import Merchant, Offer, PerkRedemption
from hufen.partners.offers import offer_create, perk_redeem
from hufen.partners.selectors import actor_for_merchant_operator
from hufen.partners.tests.conftest import member_actor
from hufen.partners.tests.factories import MerchantFactory, link_operator

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS = 8


@pytest.fixture
def pg_world(transactional_db: None) -> World:
    if connection.vendor != "postgresql":
        pytest.skip("caps and budgets under concurrency are proven on PostgreSQL; set DATABASE_URL=postgres://...")
    return build_world()


def _race(jobs: list[Callable[[], object]]) -> list[object]:
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = jobs[i]()
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _setup(world: World, **offer_kw: object) -> tuple[Merchant, Actor, Offer]:
    shop: Merchant = MerchantFactory.create(brands=[world.brands["mass"], world.brands["premium"]])
    link_operator(world.staff["merchant"], shop)
    data = {
        "title": "并发测试",
        "kind": "fixed",
        "amount_fen": 1_000,
        "valid_from": "2020-01-01T00:00:00+08:00",
        "valid_until": "2099-01-01T00:00:00+08:00",
        **offer_kw,
    }
    return (
        shop,
        actor_for_merchant_operator(world.staff["merchant"]),
        offer_create(actor=SYSTEM, merchant=shop, data=data),
    )


def _keys(shop_actor: Actor, owners: list[Actor]) -> list[int]:
    return [car_key_verify(actor=shop_actor, code=car_key_issue(actor=o).short_code).key_id for o in owners]


def _jobs(shop_actor: Actor, offer: Offer, keys: list[int]) -> list[Callable[[], object]]:
    return [
        partial(
            perk_redeem, actor=shop_actor, key_id=k, offer_id=offer.pk, bill_fen=5_000, idempotency_key=f"race-form-{k}"
        )
        for k in keys
    ]


def test_per_owner_daily_cap_holds_under_concurrency(pg_world: World) -> None:
    _, shop_actor, offer = _setup(pg_world, per_owner_per_day=1)
    keys = _keys(shop_actor, [pg_world.actor("member_a2")] * THREADS)
    results = _race(_jobs(shop_actor, offer, keys))
    ok = [r for r in results if isinstance(r, PerkRedemption)]
    refused = [r for r in results if isinstance(r, FieldError)]
    assert len(ok) == 1 and len(refused) == THREADS - 1, results
    assert PerkRedemption.objects.filter(offer=offer).count() == 1


def test_budget_count_and_fen_hold_under_concurrency(pg_world: World) -> None:
    _, shop_actor, offer = _setup(pg_world, budget_count=3, budget_fen=100_000)
    owners = [member_actor(pg_world, p) for p in ("a1_owner", "a1_other", "a2_owner", "b1_owner", "b1_serviced_at_a1")]
    keys = _keys(shop_actor, owners + owners[:3])
    results = _race(_jobs(shop_actor, offer, keys))
    assert sum(isinstance(r, PerkRedemption) for r in results) == 3, results
    assert all(isinstance(r, PerkRedemption | FieldError) for r in results), results
    offer.refresh_from_db()
    assert (offer.used_count, offer.used_fen) == (3, 3_000)
    assert PerkRedemption.objects.filter(offer=offer).count() == 3


def test_a_retried_form_records_once_under_concurrency(pg_world: World) -> None:
    _, shop_actor, offer = _setup(pg_world)
    (key,) = _keys(shop_actor, [pg_world.actor("member_a2")])
    job = _jobs(shop_actor, offer, [key])[0]
    results = _race([job] * 4)
    assert all(isinstance(r, PerkRedemption) for r in results), results
    assert len({r.pk for r in results if isinstance(r, PerkRedemption)}) == 1
    offer.refresh_from_db()
    assert offer.used_count == 1


def test_one_key_verified_concurrently_is_accepted_once(pg_world: World) -> None:
    _, shop_actor, _ = _setup(pg_world)
    key = car_key_issue(actor=pg_world.actor("member_a2"))
    jobs: list[Callable[[], object]] = [
        partial(car_key_verify, actor=shop_actor, code=code) for code in [key.token, key.short_code] * 3
    ]
    results = _race(jobs)
    accepted = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, CarKeyRejected)]
    assert len(accepted) == 1 and len(refused) == 5, results
    assert {r.outcome for r in refused} == {"used"}

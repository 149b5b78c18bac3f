"""Per-owner caps and offer budgets under concurrent redemptions, on PostgreSQL (SQLite serialises
every writer anyway)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest
from django.core.cache import cache

from conftest import World
from hufen.common.actors import SYSTEM, Actor
from hufen.common.errors import FieldError
from hufen.partners.carkey import CarKeyRejected, car_key_issue, car_key_verify
from hufen.partners.models import Merchant, Offer, PerkRedemption
from hufen.partners.offers import offer_create, perk_redeem
from hufen.partners.selectors import actor_for_merchant_operator
from hufen.partners.tests.conftest import member_actor
from hufen.partners.tests.factories import MerchantFactory, link_operator
from hufen.testing.concurrency import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS = 8


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
    results = race(_jobs(shop_actor, offer, keys))
    ok = [r for r in results if isinstance(r, PerkRedemption)]
    refused = [r for r in results if isinstance(r, FieldError)]
    assert len(ok) == 1 and len(refused) == THREADS - 1, results
    assert PerkRedemption.objects.filter(offer=offer).count() == 1


def test_budget_count_and_fen_hold_under_concurrency(pg_world: World) -> None:
    _, shop_actor, offer = _setup(pg_world, budget_count=3, budget_fen=100_000)
    owners = [member_actor(pg_world, p) for p in ("a1_owner", "a1_other", "a2_owner", "b1_owner", "b1_serviced_at_a1")]
    keys = _keys(shop_actor, owners + owners[:3])
    results = race(_jobs(shop_actor, offer, keys))
    assert sum(isinstance(r, PerkRedemption) for r in results) == 3, results
    assert all(isinstance(r, PerkRedemption | FieldError) for r in results), results
    offer.refresh_from_db()
    assert (offer.used_count, offer.used_fen) == (3, 3_000)
    assert PerkRedemption.objects.filter(offer=offer).count() == 3


def test_a_retried_form_records_once_under_concurrency(pg_world: World) -> None:
    _, shop_actor, offer = _setup(pg_world)
    (key,) = _keys(shop_actor, [pg_world.actor("member_a2")])
    job = _jobs(shop_actor, offer, [key])[0]
    results = race([job] * 4)
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
    results = race(jobs)
    accepted = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, CarKeyRejected)]
    assert len(accepted) == 1 and len(refused) == 5, results
    assert {r.outcome for r in refused} == {"used"}


def test_two_first_visit_offers_of_one_merchant_race_for_one_owner(pg_world: World) -> None:
    # Given two first-visit offers of one shop and one owner holding two verified car keys
    shop, shop_actor, first = _setup(pg_world, first_visit_only=True)
    second = offer_create(
        actor=SYSTEM,
        merchant=shop,
        data={
            "title": "首次到店送洗车",
            "kind": "fixed",
            "amount_fen": 500,
            "first_visit_only": True,
            "valid_from": "2020-01-01T00:00:00+08:00",
            "valid_until": "2099-01-01T00:00:00+08:00",
        },
    )
    owner = pg_world.actor("member_a2")
    for _attempt in range(3):
        PerkRedemption.objects.filter(merchant=shop).delete()
        keys = _keys(shop_actor, [owner, owner])
        # When both offers are redeemed at the same instant, each with its own key
        jobs = _jobs(shop_actor, first, keys[:1]) + _jobs(shop_actor, second, keys[1:])
        results = race(jobs)
        # Then only one counts as the first visit; the other is refused with the reason
        ok = [r for r in results if isinstance(r, PerkRedemption)]
        refused = [r for r in results if isinstance(r, FieldError)]
        assert len(ok) == 1 and len(refused) == 1, results
        assert refused[0].field == "offer_id"
        assert PerkRedemption.objects.filter(merchant=shop, person=pg_world.persons["a2_owner"]).count() == 1
        cache.clear()  # the per-member verification limit is not what this test is about

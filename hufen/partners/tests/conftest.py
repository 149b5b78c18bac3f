from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from conftest import World
from hufen.common.actors import Actor, Role
from hufen.partners.models import Merchant
from hufen.partners.selectors import actor_for_merchant_operator
from hufen.partners.tests.factories import MerchantFactory, link_operator


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    # Rate-limit counters live in the cache; ids repeat across rolled-back tests.
    cache.clear()
    yield
    cache.clear()


def member_actor(world: World, person: str) -> Actor:
    p = world.persons[person]
    return Actor(kind="member", role=Role.MEMBER, label=f"member:{p.pk}", person_id=p.pk)


@pytest.fixture
def shop(world: World) -> Merchant:
    """An active Territory Partner serving both brands, operated by the world's `merchant` login."""
    merchant: Merchant = MerchantFactory.create(brands=[world.brands["mass"], world.brands["premium"]])
    link_operator(world.staff["merchant"], merchant)
    return merchant


@pytest.fixture
def shop_actor(world: World, shop: Merchant) -> Actor:
    return actor_for_merchant_operator(world.staff["merchant"])

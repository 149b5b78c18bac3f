"""Calling the API as any named actor of the test world (same shape as hufen/membership/tests)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from conftest import World
from hufen.api.tests.helpers import Caller, bearer


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Live counters and presence live in the cache: start every test without another test's."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def caller(world: World) -> Callable[[str], Caller]:
    def make(name: str) -> Caller:
        if name in world.api_tokens:
            return Caller(Client(), bearer(world.api_tokens[name]))
        client = Client()
        client.force_login(world.staff[name].user)
        return Caller(client)

    return make

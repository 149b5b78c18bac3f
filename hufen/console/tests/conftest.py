"""Console test helpers: a logged-in client per named actor, and a guard for compiled translations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from conftest import World


@pytest.fixture(autouse=True, scope="session")
def _translations_compiled() -> None:
    """The console renders Chinese from compiled catalogues; stale ones would fail tests obscurely."""
    for locale_dir in settings.LOCALE_PATHS:
        for po in Path(locale_dir).glob("*/LC_MESSAGES/django.po"):
            mo = po.with_suffix(".mo")
            if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
                pytest.exit(f"{mo} is missing or older than its .po: run `.venv/bin/hufen compilemessages`", 2)


@pytest.fixture
def login(world: World, client: Client) -> Callable[[str], Client]:
    """`login("dealer_a1")` → the test client, logged in as that named staff user."""

    def as_(name: str) -> Client:
        client.force_login(world.staff[name].user)
        return client

    return as_


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Cached figures of one test's world must not show up in the next test's pages."""
    from django.core.cache import cache

    cache.clear()

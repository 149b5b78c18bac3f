"""Calling the API as any named actor of the test world (same shape as hufen/api/tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from conftest import World
from hufen.api.tests.helpers import Caller, bearer


@pytest.fixture
def caller(world: World) -> Callable[[str], Caller]:
    def make(name: str) -> Caller:
        if name in world.api_tokens:
            return Caller(Client(), bearer(world.api_tokens[name]))
        client = Client()
        client.force_login(world.staff[name].user)
        return Caller(client)

    return make


@pytest.fixture
def lake_url(tmp_path: Path, settings: Any) -> str:
    """A fresh event lake per test (the earning job reads it through DuckDB)."""
    settings.LAKE_URL = str(tmp_path / "lake")
    return str(settings.LAKE_URL)

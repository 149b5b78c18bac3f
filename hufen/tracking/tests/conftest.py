"""Tracking test fixtures: a fresh lake per test and API callers by actor name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from conftest import World
from hufen.api.tests.helpers import Caller, bearer


@pytest.fixture
def lake_url(tmp_path: Path, settings: Any) -> str:
    settings.LAKE_URL = str(tmp_path / "lake")
    return str(settings.LAKE_URL)


@pytest.fixture
def caller(world: World) -> Callable[[str], Caller]:
    def make(name: str) -> Caller:
        if name in world.api_tokens:
            return Caller(Client(), bearer(world.api_tokens[name]))
        client = Client()
        client.force_login(world.staff[name].user)
        return Caller(client)

    return make

"""The bearer-token lookup is cached for a few seconds (the check-in hot path): revocation still bites.

The cache lives in `hufen.org.services.api_client_actor` (used by `hufen.api.auth`); it is tested
here because Member Day load is what it is for.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import World
from hufen.api.tests.helpers import API, bearer
from hufen.org.models import ApiClient
from hufen.org.services import api_client_actor, api_client_revoke

pytestmark = pytest.mark.django_db

TTL = 0.5


@pytest.fixture
def short_ttl(settings: Any) -> None:
    settings.HUFEN_API_TOKEN_CACHE_SECONDS = TTL


def _token_queries(token: str) -> tuple[object, int]:
    with CaptureQueriesContext(connection) as ctx:
        actor = api_client_actor(token)
    return actor, len([q for q in ctx.captured_queries if "org_apiclient" in q["sql"]])


def test_a_cached_token_costs_no_query_within_the_ttl(world: World, short_ttl: None) -> None:
    token = world.api_tokens["api_dealer_a1"]
    first, looked_up = _token_queries(token)
    again, cached = _token_queries(token)
    assert first is not None and first == again
    assert looked_up >= 1 and cached == 0
    assert api_client_actor(token + "x") is None and api_client_actor("not-a-token") is None


def test_a_revocation_elsewhere_bites_within_the_ttl(world: World, short_ttl: None) -> None:
    # given a token in use (cached in this process)
    token = world.api_tokens["api_dealer_a1"]
    assert Client().get(f"{API}/persons", headers=bearer(token)).status_code == 200
    # when another process revokes it (a plain UPDATE: this process's cache is not told)
    ApiClient.objects.filter(pk=world.api_clients["api_dealer_a1"].pk).update(revoked_at=timezone.now())
    # then it may live on for at most the TTL, and no longer
    assert api_client_actor(token) is not None
    time.sleep(TTL + 0.1)
    assert api_client_actor(token) is None
    assert Client().get(f"{API}/persons", headers=bearer(token)).status_code == 401


def test_revoking_in_this_process_bites_at_once(world: World, short_ttl: None) -> None:
    token = world.api_tokens["api_dealer_a1"]
    assert api_client_actor(token) is not None
    api_client_revoke(actor=world.actor("hq_admin"), client=world.api_clients["api_dealer_a1"])
    assert api_client_actor(token) is None


def test_an_expiry_inside_the_ttl_bites_at_once(world: World, short_ttl: None) -> None:
    client = world.api_clients["api_brand_premium"]
    client.expires_at = timezone.now() + dt.timedelta(milliseconds=200)
    client.save(update_fields=["expires_at"])
    token = world.api_tokens["api_brand_premium"]
    assert api_client_actor(token) is not None
    time.sleep(0.25)
    assert api_client_actor(token) is None

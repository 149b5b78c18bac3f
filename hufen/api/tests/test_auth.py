"""Who may call the API: live tokens and console sessions; everything else is a 401."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conftest import World
from hufen.api.tests.helpers import API, Caller, bearer, error_of
from hufen.org.services import api_client_revoke

CallerFor = Callable[[str], Caller]


def _assert_401(response: object) -> None:
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert error_of(response)["code"] == "unauthenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")  # type: ignore[index]


@pytest.mark.parametrize("path", ["/persons", "/persons/1", "/dealers", "/dealers/A1", "/vehicles"])
def test_no_credentials_is_401(world: World, path: str) -> None:
    _assert_401(Client().get(API + path))


@pytest.mark.parametrize(
    "header",
    [
        "Bearer hf_not-a-real-token",
        "Bearer not-even-our-prefix",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "hf_token-without-scheme",
    ],
)
def test_bad_token_is_401(world: World, header: str) -> None:
    _assert_401(Client().get(f"{API}/persons", headers={"Authorization": header}))


def test_revoked_token_is_401(world: World) -> None:
    token = world.api_tokens["api_dealer_a1"]
    assert Client().get(f"{API}/persons", headers=bearer(token)).status_code == 200
    api_client_revoke(actor=world.actor("hq_admin"), client=world.api_clients["api_dealer_a1"])
    _assert_401(Client().get(f"{API}/persons", headers=bearer(token)))


def test_expired_token_is_401(world: World) -> None:
    client = world.api_clients["api_brand_premium"]
    client.expires_at = timezone.now() - dt.timedelta(seconds=1)
    client.save(update_fields=["expires_at"])
    _assert_401(Client().get(f"{API}/persons", headers=bearer(world.api_tokens["api_brand_premium"])))


def test_a_bad_token_is_not_rescued_by_a_session(world: World) -> None:
    # given a logged-in HQ admin whose browser also sends a wrong bearer token
    client = Client()
    client.force_login(world.staff["hq_admin"].user)
    # then the token decides: 401, not the admin's view
    _assert_401(client.get(f"{API}/persons", headers=bearer("hf_wrong")))


def test_logged_in_user_without_staff_record_is_401(world: World, django_user_model: Any) -> None:
    client = Client()
    client.force_login(django_user_model.objects.create_user(username="visitor", password="x" * 12))
    _assert_401(client.get(f"{API}/persons"))


def test_inactive_staff_is_401(world: World) -> None:
    staff = world.staff["hq_admin"]
    client = Client()
    client.force_login(staff.user)
    staff.is_active = False
    staff.save(update_fields=["is_active"])
    _assert_401(client.get(f"{API}/persons"))


def test_session_login_works_with_the_real_login(world: World) -> None:
    client = Client()
    assert client.login(username="region_east", password=world.password)
    assert client.get(f"{API}/persons").status_code == 200


def test_session_writes_need_the_csrf_token(world: World) -> None:
    # given an HQ admin's browser session with CSRF checks on, as in a real browser
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.staff["hq_admin"].user)
    body = '{"name": "赵六"}'
    # when it posts without the token; then 403
    response = client.post(f"{API}/persons", body, content_type="application/json")
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    # when it sends the cookie's token in X-CSRFToken; then the write goes through
    secret = "a" * 32
    client.cookies["csrftoken"] = secret
    response = client.post(f"{API}/persons", body, content_type="application/json", headers={"X-CSRFToken": secret})
    assert response.status_code == 201, response.content


def test_token_writes_need_no_csrf(world: World) -> None:
    # A token is not an ambient credential a third-party page could ride on, so no CSRF applies;
    # the answer is the permission check (403 for a dealer client), not a CSRF failure.
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        f"{API}/persons",
        '{"name": "赵六"}',
        content_type="application/json",
        headers=bearer(world.api_tokens["api_dealer_a1"]),
    )
    assert response.status_code == 403
    assert "HQ" in error_of(response)["message"]


def test_anonymous_write_is_401_not_csrf(world: World) -> None:
    response = Client(enforce_csrf_checks=True).post(f"{API}/persons", "{}", content_type="application/json")
    _assert_401(response)


def test_token_use_is_recorded(world: World) -> None:
    client = world.api_clients["api_dealer_a1"]
    assert client.last_used_at is None
    Client().get(f"{API}/dealers", headers=bearer(world.api_tokens["api_dealer_a1"]))
    client.refresh_from_db()
    assert client.last_used_at is not None

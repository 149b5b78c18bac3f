"""API clients in the console (/console/api-clients/): HQ admins with `api_clients.manage` list,
create (token shown once), limit and revoke integrations' credentials; nobody else reaches a page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from conftest import World
from hufen.common.models import AuditEvent
from hufen.org.models import ApiClient

API = "/api/v1"


def urls(world: World) -> list[tuple[str, str]]:
    client_id = world.api_clients["api_dealer_a1"].pk
    return [
        ("get", reverse("console:api_client_list")),
        ("get", reverse("console:api_client_create")),
        ("post", reverse("console:api_client_create")),
        ("get", reverse("console:api_client_permissions", args=[client_id])),
        ("post", reverse("console:api_client_permissions", args=[client_id])),
        ("get", reverse("console:api_client_revoke", args=[client_id])),
        ("post", reverse("console:api_client_revoke", args=[client_id])),
    ]


def create(client: Client, **fields: Any) -> Any:
    data = {"form_key": "k1", "name": "DMS 同步 A1", "scope": "dealer", "dealer": "A1", "permissions_mode": "all"}
    return client.post(reverse("console:api_client_create"), {**data, **fields})


def token_of(response: Any) -> str:
    match = re.search(r'value="(hf_[^"]+)"[^>]*data-testid="token"', response.content.decode())
    assert match, "no token on the page"
    return match.group(1)


def api_get(token: str, path: str = "/persons") -> Any:
    return Client().get(API + path, headers={"Authorization": f"Bearer {token}"})


# --- who may use the pages ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hq_operator", "region_east", "dealer_a1", "butler_a1", "dealer_b1"])
def test_everyone_but_an_hq_admin_gets_403_on_every_url(
    world: World, login: Callable[[str], Client], name: str
) -> None:
    client = login(name)
    before = list(ApiClient.objects.order_by("id").values_list("id", "permissions", "revoked_at"))
    for method, url in urls(world):
        response = getattr(client, method)(url, {"name": "x", "scope": "dealer", "dealer": "A1", "form_key": "z"})
        assert response.status_code == 403, (method, url, response.status_code)
        assert 'data-testid="forbidden"' in response.content.decode()
    # and nothing changed, nothing was audited
    assert list(ApiClient.objects.order_by("id").values_list("id", "permissions", "revoked_at")) == before
    assert not AuditEvent.objects.filter(action__startswith="api_client.", actor_user_id=world.staff[name].user_id)
    assert "/console/api-clients/" not in client.get("/console/").content.decode()


def test_a_merchant_and_an_anonymous_visitor_get_no_page(world: World) -> None:
    merchant = Client()
    merchant.force_login(world.staff["merchant"].user)
    for method, url in urls(world):
        assert getattr(merchant, method)(url).status_code == 403
        anonymous = getattr(Client(), method)(url)
        assert anonymous.status_code == 302 and "/console/login/" in anonymous["Location"]


def test_hq_admin_sees_the_menu_entry_and_the_list(world: World, login: Callable[[str], Client]) -> None:
    client = login("hq_admin")
    assert 'href="/console/api-clients/"' in client.get("/console/").content.decode()
    html = client.get(reverse("console:api_client_list")).content.decode()
    for name, api_client in world.api_clients.items():
        row = html.split(f'data-client-id="{api_client.pk}"', 1)[1].split("</tr>", 1)[0]
        assert f"{api_client.token_prefix}…" in row
        assert world.api_tokens[name] not in html
    dealer_row = html.split(f'data-client-id="{world.api_clients["api_dealer_a1"].pk}"', 1)[1].split("</tr>", 1)[0]
    assert "经销商 A1" in dealer_row and "有效" in dealer_row and "从未" in dealer_row
    brand_row = html.split(f'data-client-id="{world.api_clients["api_brand_premium"].pk}"', 1)[1].split("</tr>", 1)[0]
    assert "品牌 极境" in brand_row


def test_the_list_shows_last_use_and_status(world: World, login: Callable[[str], Client]) -> None:
    assert api_get(world.api_tokens["api_dealer_a1"]).status_code == 200
    client = login("hq_admin")
    client.post(reverse("console:api_client_revoke", args=[world.api_clients["api_brand_premium"].pk]))
    html = client.get(reverse("console:api_client_list")).content.decode()
    used = html.split(f'data-client-id="{world.api_clients["api_dealer_a1"].pk}"', 1)[1].split("</tr>", 1)[0]
    assert "从未" not in used
    revoked = html.split(f'data-client-id="{world.api_clients["api_brand_premium"].pk}"', 1)[1].split("</tr>", 1)[0]
    assert "已吊销" in revoked and 'data-testid="revoke"' not in revoked


def test_the_list_costs_a_fixed_number_of_queries(
    world: World, login: Callable[[str], Client], django_assert_max_num_queries: Any
) -> None:
    client = login("hq_admin")
    for i in range(5):
        create(client, form_key=f"q{i}", name=f"client {i}")
    with django_assert_max_num_queries(12):
        assert client.get(reverse("console:api_client_list")).status_code == 200


# --- create: the token once ------------------------------------------------------------------------


def test_create_shows_the_token_once_and_it_works(world: World, login: Callable[[str], Client]) -> None:
    client = login("hq_admin")
    response = create(client, permissions_mode="only", permissions=["persons.view", "membership.view"])
    assert response.status_code == 200
    token = token_of(response)
    assert token.startswith("hf_") and "no-store" in response["Cache-Control"]
    created = ApiClient.objects.get(name="DMS 同步 A1")
    assert created.dealer == world.dealers["A1"] and created.brand is None
    assert created.permissions == ["membership.view", "persons.view"]
    assert created.created_by_id == world.staff["hq_admin"].pk
    # the token works on the API, with the dealer's scope
    persons = api_get(token)
    assert persons.status_code == 200
    assert {p["id"] for p in persons.json()["items"]} == world.expected("api_dealer_a1")
    # audited, without the token
    event = AuditEvent.objects.get(action="api_client.create", object_id=str(created.pk))
    assert event.actor_user_id == world.staff["hq_admin"].user_id
    assert token not in str(event.summary) and token not in event.reason
    # never shown again: not in the list, not on its pages, not in the session
    assert token not in client.get(reverse("console:api_client_list")).content.decode()
    for name in ("console:api_client_permissions", "console:api_client_revoke"):
        assert token not in client.get(reverse(name, args=[created.pk])).content.decode()
    assert token not in str(dict(client.session.items()))
    # a reload re-posts the form: no second client, and the token is not shown again
    again = create(client, permissions_mode="only", permissions=["persons.view", "membership.view"])
    assert again.status_code == 409 and token not in again.content.decode()
    assert 'data-testid="already-created"' in again.content.decode()
    assert ApiClient.objects.filter(name="DMS 同步 A1").count() == 1


def test_create_a_brand_client_with_every_permission_and_an_expiry(
    world: World, login: Callable[[str], Client]
) -> None:
    client = login("hq_admin")
    response = create(client, scope="brand", brand="mass", dealer="", expires_days="30")
    assert response.status_code == 200
    created = ApiClient.objects.get(name="DMS 同步 A1")
    assert created.brand == world.brands["mass"] and created.dealer is None and created.permissions is None
    assert created.expires_at is not None
    assert api_get(token_of(response)).status_code == 200


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 81}, "name"),
        ({"dealer": ""}, "dealer"),
        ({"dealer": "NOPE"}, "dealer"),
        ({"scope": "brand", "brand": "nope"}, "brand"),
        ({"scope": "planet"}, "scope"),
        ({"expires_days": "0"}, "expires_days"),
        ({"expires_days": "3651"}, "expires_days"),
        ({"expires_days": "1e3"}, "expires_days"),
        ({"permissions_mode": "only", "permissions": ["persons.view", "org.manage"]}, "permissions"),
    ],
    ids=["blank", "long", "no-dealer", "unknown-dealer", "unknown-brand", "scope", "zero", "too-long", "text", "perm"],
)
def test_a_bad_form_names_the_field_and_creates_nothing(
    world: World, login: Callable[[str], Client], fields: dict[str, Any], field: str
) -> None:
    client = login("hq_admin")
    count, audited = ApiClient.objects.count(), AuditEvent.objects.count()
    response = create(client, **fields)
    assert response.status_code == 422
    html = response.content.decode()
    error = html.split(f'data-error-for="{field}">', 1)[1].split("</div>", 1)[0]
    assert error.strip(), html
    assert 'data-testid="form-error"' in html and "hf_" not in html
    assert ApiClient.objects.count() == count and AuditEvent.objects.count() == audited


def test_an_empty_permission_set_is_allowed(world: World, login: Callable[[str], Client]) -> None:
    response = create(login("hq_admin"), permissions_mode="only")
    assert response.status_code == 200
    assert ApiClient.objects.get(name="DMS 同步 A1").permissions == []
    assert api_get(token_of(response)).status_code == 403  # authenticates, may do nothing


# --- permissions ---------------------------------------------------------------------------------


def test_set_permissions_is_audited_and_applies_to_the_token(world: World, login: Callable[[str], Client]) -> None:
    client = login("hq_admin")
    target = world.api_clients["api_dealer_a1"]
    token = world.api_tokens["api_dealer_a1"]
    url = reverse("console:api_client_permissions", args=[target.pk])
    page = client.get(url).content.decode()
    for code in ("persons.view", "membership.view", "identity.link"):
        assert f'data-permission="{code}"' in page
    response = client.post(url, {"permissions_mode": "only", "permissions": ["membership.view"], "reason": "只读同步"})
    assert response.status_code == 302 and response["Location"] == reverse("console:api_client_list")
    target.refresh_from_db()
    assert target.permissions == ["membership.view"]
    event = AuditEvent.objects.get(action="api_client.permissions", object_id=str(target.pk))
    assert event.reason == "只读同步" and event.summary == {"before": None, "after": ["membership.view"]}
    assert api_get(token).status_code == 403  # persons.view is gone
    # back to every permission of the role
    client.post(url, {"permissions_mode": "all"})
    target.refresh_from_db()
    assert target.permissions is None and api_get(token).status_code == 200


def test_set_permissions_refuses_an_unknown_code_and_a_revoked_client(
    world: World, login: Callable[[str], Client]
) -> None:
    client = login("hq_admin")
    target = world.api_clients["api_dealer_a1"]
    url = reverse("console:api_client_permissions", args=[target.pk])
    bad = client.post(url, {"permissions_mode": "only", "permissions": ["pii.reveal"]})
    assert bad.status_code == 422 and "pii.reveal" in bad.content.decode()
    client.post(reverse("console:api_client_revoke", args=[target.pk]))
    refused = client.post(url, {"permissions_mode": "only", "permissions": ["persons.view"]})
    assert refused.status_code == 422 and 'data-testid="form-error"' in refused.content.decode()
    target.refresh_from_db()
    assert target.permissions is None
    assert not AuditEvent.objects.filter(action="api_client.permissions")


def test_an_unknown_client_is_404(world: World, login: Callable[[str], Client]) -> None:
    client = login("hq_admin")
    for name in ("console:api_client_permissions", "console:api_client_revoke"):
        assert client.get(reverse(name, args=[10**9])).status_code == 404
        assert client.post(reverse(name, args=[10**9])).status_code == 404


# --- revoke ----------------------------------------------------------------------------------------


def test_revoke_asks_first_then_the_token_gets_401(world: World, login: Callable[[str], Client]) -> None:
    client = login("hq_admin")
    target = world.api_clients["api_dealer_a1"]
    token = world.api_tokens["api_dealer_a1"]
    assert api_get(token).status_code == 200
    url = reverse("console:api_client_revoke", args=[target.pk])
    # GET is the confirmation page: nothing is revoked
    page = client.get(url)
    assert page.status_code == 200 and 'data-testid="revoke-form"' in page.content.decode()
    assert f"{target.token_prefix}…" in page.content.decode()
    target.refresh_from_db()
    assert target.revoked_at is None and api_get(token).status_code == 200
    # POST revokes, audited with the reason
    response = client.post(url, {"reason": "供应商合同到期"})
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.revoked_at is not None
    assert AuditEvent.objects.get(action="api_client.revoke", object_id=str(target.pk)).reason == "供应商合同到期"
    unauthorised = api_get(token)
    assert unauthorised.status_code == 401 and unauthorised.json()["error"]["code"] == "unauthenticated"
    # a second POST changes nothing and writes no second audit row
    client.post(url)
    assert AuditEvent.objects.filter(action="api_client.revoke").count() == 1


def test_a_token_created_in_the_console_and_revoked_there_gets_401(
    world: World, login: Callable[[str], Client]
) -> None:
    client = login("hq_admin")
    token = token_of(create(client))
    assert api_get(token).status_code == 200
    created = ApiClient.objects.get(name="DMS 同步 A1")
    client.post(reverse("console:api_client_revoke", args=[created.pk]))
    assert api_get(token).status_code == 401


# --- CSRF ------------------------------------------------------------------------------------------


def test_every_post_needs_the_csrf_token(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.staff["hq_admin"].user)
    target = world.api_clients["api_dealer_a1"]
    count = ApiClient.objects.count()
    posts = {
        reverse("console:api_client_create"): {"form_key": "c", "name": "x", "scope": "dealer", "dealer": "A1"},
        reverse("console:api_client_permissions", args=[target.pk]): {"permissions_mode": "only"},
        reverse("console:api_client_revoke", args=[target.pk]): {},
    }
    for url, data in posts.items():
        assert client.post(url, data).status_code == 403, url
    target.refresh_from_db()
    assert ApiClient.objects.count() == count and target.revoked_at is None and target.permissions is None
    # with the token from the form, the same post goes through
    page = client.get(reverse("console:api_client_revoke", args=[target.pk])).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert csrf
    url = reverse("console:api_client_revoke", args=[target.pk])
    assert client.post(url, {"csrfmiddlewaretoken": csrf.group(1)}).status_code == 302
    target.refresh_from_db()
    assert target.revoked_at is not None


# --- English ---------------------------------------------------------------------------------------


def test_the_pages_render_in_english(world: World, login: Callable[[str], Client]) -> None:
    client = login("hq_admin")
    client.post(reverse("set_language"), {"language": "en", "next": "/console/"})
    html = client.get(reverse("console:api_client_list")).content.decode()
    assert "API clients" in html and "New API client" in html and "Dealer A1" in html
    form = client.get(reverse("console:api_client_create")).content.decode()
    assert "Read customers, dealers and vehicles" in form and "Create and show the token" in form

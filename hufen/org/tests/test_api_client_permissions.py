"""Per-API-client permission sets: a client holds its role's permissions, or only the ones it was given.

Each grantable permission is checked over HTTP with a real token: a client lacking it gets 403 with
the permission named and nothing changes; the same client with it gets past the check.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from conftest import World
from hufen.api.tests.helpers import API, bearer, error_of
from hufen.common.actors import ROLE_PERMISSIONS, SYSTEM, Role
from hufen.common.errors import PermissionDenied
from hufen.common.models import AuditEvent
from hufen.common.pii import FieldError
from hufen.membership.models import Member, PointsEntry
from hufen.membership.services import member_join
from hufen.org.models import ApiClient
from hufen.org.selectors import actor_for_api_client
from hufen.org.services import (
    api_client_create,
    api_client_grantable,
    api_client_revoke,
    api_client_set_permissions,
)

GRANTABLE = sorted(ROLE_PERMISSIONS[Role.API_CLIENT])


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("apiclient", *args, stdout=out)
    return out.getvalue()


def _client_with(world: World, permissions: list[str] | None, name: str = "crm") -> str:
    _, token = api_client_create(
        actor=world.actor("hq_admin"), name=name, dealer=world.dealers["A1"], permissions=permissions
    )
    return token


def _member(world: World) -> Member:
    return member_join(actor=SYSTEM, person=world.persons["a1_owner"], brand=world.brands["mass"], channel="api")


def _post(token: str, path: str, body: dict[str, Any], key: str = "") -> Any:
    headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
    return Client().post(API + path, json.dumps(body), content_type="application/json", headers=headers)


# One request per permission that needs exactly that permission first.
Call = Callable[[str, World, Member], Any]
CALLS: dict[str, Call] = {
    "persons.view": lambda t, w, m: Client().get(f"{API}/persons", headers=bearer(t)),
    "membership.view": lambda t, w, m: Client().get(f"{API}/membership/members", headers=bearer(t)),
    "membership.join": lambda t, w, m: _post(
        t, "/membership/members", {"person_id": w.persons["a1_other"].pk, "brand": "mass"}
    ),
    "points.adjust": lambda t, w, m: _post(
        t, f"/membership/members/{m.pk}/award", {"amount": 50, "reason": "goodwill"}, key="award-1"
    ),
    "benefits.redeem": lambda t, w, m: _post(
        t, f"/membership/members/{m.pk}/redemptions", {"item_id": 987654, "quantity": 1}, key="redeem-1"
    ),
    "identity.link": lambda t, w, m: _post(
        t,
        "/identity/records",
        {"records": [{"source": "dms", "source_key": "A1-1", "fields": {"name": "周明", "phone": "13600001111"}}]},
    ),
}


def test_every_grantable_permission_has_a_request_here() -> None:
    assert set(CALLS) == set(GRANTABLE)


def test_existing_clients_keep_every_permission_of_their_role(world: World) -> None:
    # given the clients created before permission sets existed (no set given)
    for client in world.api_clients.values():
        assert client.permissions is None
        actor = actor_for_api_client(client)
        assert actor.permission_limit is None
        assert all(actor.has_perm(p) for p in GRANTABLE)


@pytest.mark.parametrize("perm", GRANTABLE)
def test_a_client_without_the_permission_gets_403_naming_it(world: World, perm: str) -> None:
    # given a member and a client holding every permission but `perm`
    member = _member(world)
    token = _client_with(world, [p for p in GRANTABLE if p != perm])
    entries_before = PointsEntry.objects.count()
    members_before = Member.objects.count()
    # when it calls the endpoint that needs `perm`
    response = CALLS[perm](token, world, member)
    # then it is refused with the API's error body, and nothing was written
    assert response.status_code == 403, response.content
    error = error_of(response)
    assert error["code"] == "forbidden"
    assert "api:crm" in error["message"]
    assert PointsEntry.objects.count() == entries_before
    assert Member.objects.count() == members_before


@pytest.mark.parametrize("perm", GRANTABLE)
def test_the_same_client_with_the_permission_gets_past_the_check(world: World, perm: str) -> None:
    member = _member(world)
    token = _client_with(world, [perm] + (["membership.view"] if perm != "membership.view" else []))
    response = CALLS[perm](token, world, member)
    assert response.status_code != 403, response.content
    expected = {
        "persons.view": 200,
        "membership.view": 200,
        "membership.join": 201,
        "points.adjust": 201,
        "benefits.redeem": 404,  # past the permission: the item does not exist
        "identity.link": 200,
    }[perm]
    assert response.status_code == expected, response.content


def test_points_award_is_refused_for_a_read_only_client(world: World) -> None:
    # given a read-only CRM client (view members only)
    member = _member(world)
    token = _client_with(world, ["membership.view"])
    # then it can read the member but awarding points is a clear 403
    assert Client().get(f"{API}/membership/members/{member.pk}", headers=bearer(token)).status_code == 200
    response = CALLS["points.adjust"](token, world, member)
    assert response.status_code == 403
    assert "points.adjust" in error_of(response)["message"]
    assert not PointsEntry.objects.filter(account__member=member).exists()


def test_an_empty_set_authenticates_but_may_do_nothing(world: World) -> None:
    token = _client_with(world, [])
    assert Client().get(f"{API}/persons", headers=bearer(token)).status_code == 403
    assert Client().get(f"{API}/persons", headers=bearer("hf_wrong")).status_code == 401


def test_scope_still_applies_within_the_permission_set(world: World) -> None:
    token = _client_with(world, ["persons.view"])
    response = Client().get(f"{API}/persons", headers=bearer(token))
    assert {p["id"] for p in response.json()["items"]} == world.expected("dealer_a1")


def test_unknown_or_ungrantable_permission_is_refused_and_nothing_is_created(world: World) -> None:
    before = ApiClient.objects.count()
    with pytest.raises(FieldError) as err:
        _client_with(world, ["persons.view", "pii.reveal", "points.award"])
    assert err.value.field == "permissions"
    assert "pii.reveal" in err.value.reason and "points.award" in err.value.reason
    assert "points.adjust" in err.value.reason  # the valid choices are listed
    assert ApiClient.objects.count() == before


def test_changing_the_set_applies_to_the_next_request_and_is_audited(world: World) -> None:
    member = _member(world)
    client = world.api_clients["api_dealer_a1"]
    token = world.api_tokens["api_dealer_a1"]
    api_client_set_permissions(
        actor=world.actor("hq_admin"), client=client, permissions=["membership.view"], reason="CRM is read-only"
    )
    assert CALLS["points.adjust"](token, world, member).status_code == 403
    event = AuditEvent.objects.get(action="api_client.permissions")
    assert event.summary == {"before": None, "after": ["membership.view"]}
    assert event.reason == "CRM is read-only"
    # back to every permission of the role
    api_client_set_permissions(actor=world.actor("hq_admin"), client=client, permissions=None)
    assert CALLS["points.adjust"](token, world, member).status_code == 201


def test_only_api_client_managers_change_sets_and_revoked_clients_stay_revoked(world: World) -> None:
    client = world.api_clients["api_dealer_a1"]
    with pytest.raises(PermissionDenied):
        api_client_set_permissions(actor=world.actor("hq_operator"), client=client, permissions=[])
    api_client_revoke(actor=world.actor("hq_admin"), client=client)
    with pytest.raises(FieldError) as err:
        api_client_set_permissions(actor=world.actor("hq_admin"), client=client, permissions=[])
    assert "revoked" in err.value.reason
    client.refresh_from_db()
    assert client.permissions is None


# --- the command ----------------------------------------------------------------------------------


def test_command_creates_a_client_with_a_set_and_lists_it(world: World) -> None:
    row = json.loads(
        run("create", "--name", "CRM", "--dealer", "A1", "--permissions", "membership.view, persons.view", "--json")
    )
    assert row["permissions"] == ["membership.view", "persons.view"]
    assert Client().get(f"{API}/persons", headers=bearer(row["token"])).status_code == 200
    listed = {r["name"]: r for r in json.loads(run("list", "--json"))}
    assert listed["CRM"]["permissions"] == ["membership.view", "persons.view"]
    assert listed["api_dealer_a1"]["permissions"] is None
    text = run("list")
    assert "[membership.view,persons.view]" in text and "[all]" in text


def test_command_changes_and_lifts_a_set(world: World) -> None:
    client_id = str(world.api_clients["api_brand_premium"].pk)
    assert "persons.view" in run("permissions", client_id, "--set", "persons.view", "--reason", "narrow")
    assert ApiClient.objects.get(pk=client_id).permissions == ["persons.view"]
    assert run("permissions", client_id).strip().endswith("persons.view")
    assert json.loads(run("permissions", client_id, "--all", "--json"))["permissions"] is None
    assert AuditEvent.objects.filter(action="api_client.permissions").count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["permissions", "999999", "--set", "persons.view"], "id: no API client with id '999999'"),
        (["permissions", "{id}", "--set", "persons.view,org.manage"], "permissions: org.manage cannot be granted"),
        (["create", "--name", "x", "--dealer", "A1", "--permissions", "nope"], "permissions: nope cannot be granted"),
    ],
)
def test_command_bad_input_names_the_argument_and_changes_nothing(world: World, args: list[str], message: str) -> None:
    client_id = str(world.api_clients["api_dealer_a1"].pk)
    before = list(ApiClient.objects.order_by("id").values_list("id", "permissions"))
    with pytest.raises(CommandError) as err:
        run(*[a.replace("{id}", client_id) for a in args])
    assert message in str(err.value)
    assert list(ApiClient.objects.order_by("id").values_list("id", "permissions")) == before


def test_grantable_is_the_api_client_role() -> None:
    assert api_client_grantable() == ROLE_PERMISSIONS[Role.API_CLIENT]

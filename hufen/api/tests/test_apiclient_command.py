"""`hufen apiclient`: the token is printed once and works; bad input names its argument, writes nothing."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from conftest import World
from hufen.api.tests.helpers import API, bearer
from hufen.common.models import AuditEvent
from hufen.org.management.commands.apiclient import Command
from hufen.org.models import ApiClient


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("apiclient", *args, stdout=out)
    return out.getvalue()


def test_create_prints_a_working_token_once(world: World) -> None:
    # when a dealer client is created from the shell
    output = run("create", "--name", "DMS sync A1", "--dealer", "A1", "--expires-days", "30")
    token = output.strip().splitlines()[-1]
    # then its token works against the API, within the dealer's scope
    assert token.startswith("hf_")
    response = Client().get(f"{API}/persons", headers=bearer(token))
    assert response.status_code == 200
    assert {p["id"] for p in response.json()["items"]} == world.expected("dealer_a1")
    client = ApiClient.objects.get(name="DMS sync A1")
    assert client.expires_at is not None
    assert client.expires_at - timezone.now() > dt.timedelta(days=29)
    assert AuditEvent.objects.filter(action="api_client.create", actor_label="system:cli").exists()
    # and the token is never shown again
    assert token not in run("list") and token not in run("list", "--json")


def test_create_json(world: World) -> None:
    row = json.loads(run("create", "--name", "品牌数据中台", "--brand", "premium", "--json"))
    assert row["brand"] == "premium" and row["dealer"] is None and row["expires_at"] is None
    assert row["token"].startswith(row["token_prefix"])
    assert Client().get(f"{API}/dealers", headers=bearer(row["token"])).status_code == 200


def test_list_shows_prefix_scope_and_status(world: World) -> None:
    world.api_clients["api_brand_premium"].revoked_at = timezone.now()
    world.api_clients["api_brand_premium"].save()
    rows = {r["name"]: r for r in json.loads(run("list", "--json"))}
    assert rows["api_dealer_a1"]["status"] == "active"
    assert rows["api_dealer_a1"]["dealer"] == "A1"
    assert rows["api_brand_premium"]["status"] == "revoked"
    assert all("token" not in r and len(r["token_prefix"]) <= 12 for r in rows.values())
    text = run("list")
    assert "dealer:A1" in text and "brand:premium" in text
    for token in world.api_tokens.values():
        assert token not in text


def test_revoke_stops_the_token(world: World) -> None:
    token = world.api_tokens["api_dealer_a1"]
    client_id = world.api_clients["api_dealer_a1"].pk
    assert "revoked" in run("revoke", str(client_id), "--reason", "leaked in a log")
    assert Client().get(f"{API}/persons", headers=bearer(token)).status_code == 401
    assert AuditEvent.objects.get(action="api_client.revoke").reason == "leaked in a log"
    assert "already revoked" in run("revoke", str(client_id))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--name", "x", "--brand", "nope"], "--brand: no brand with code 'nope'"),
        (["create", "--name", "x", "--dealer", "Z9"], "--dealer: no dealer with code 'Z9'"),
        (["create", "--name", "x", "--dealer", " "], "--dealer: is empty"),
        (["create", "--name", "x", "--brand", "mass", "--dealer", "A1"], "--dealer: not allowed with argument --brand"),
        (["create", "--name", "x"], "one of the arguments --brand --dealer is required"),
        (["create", "--name", "x", "--brand", "mass", "--expires-days", "0"], "--expires-days"),
        (["create", "--name", "x", "--brand", "mass", "--expires-days", "soon"], "--expires-days"),
        (["create", "--name", "  ", "--brand", "mass"], "--name: is empty"),
        (["create", "--name", "x" * 81, "--brand", "mass"], "--name: is longer than 80"),
        (["revoke", "999999"], "id: no API client with id '999999'"),
        (["revoke", "abc"], "id: no API client with id 'abc'"),
    ],
)
def test_bad_input_names_the_argument_and_writes_nothing(world: World, args: list[str], message: str) -> None:
    before = (ApiClient.objects.count(), AuditEvent.objects.count())
    with pytest.raises(CommandError) as excinfo:
        run(*args)
    assert message in str(excinfo.value)
    assert (ApiClient.objects.count(), AuditEvent.objects.count()) == before


def test_from_the_command_line_bad_input_exits_non_zero(world: World, capsys: Any) -> None:
    with pytest.raises(SystemExit) as excinfo:
        Command().run_from_argv(["hufen", "apiclient", "create", "--name", "x", "--brand", "nope"])
    assert excinfo.value.code != 0
    assert "--brand: no brand with code 'nope'" in capsys.readouterr().err

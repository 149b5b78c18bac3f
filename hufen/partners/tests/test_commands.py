from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from conftest import World
from hufen.partners.tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("partners", *args, stdout=out)
    return out.getvalue()


def test_key_create_prints_a_working_partner_key_once(world: World) -> None:
    hotel = MerchantFactory.create(kind="cross_industry", brands=[world.brands["mass"]])
    text = run("key-create", "--merchant", str(hotel.pk), "--name", "全季 PMS")
    token = text.split(": ", 1)[1].split()[0]
    assert token.startswith("hp_")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = api.get("/api/v1/partners/coupons/settlement", {"month": "2026-07"}).json()
    assert (body["merchant_id"], body["redeemed"]) == (hotel.pk, 0)
    with pytest.raises(CommandError, match="does not exist"):
        run("key-create", "--merchant", "999999", "--name", "x")


def test_settlement_and_value_commands(world: World) -> None:
    hotel = MerchantFactory.create(kind="cross_industry", brands=[world.brands["mass"]])
    assert json.loads(run("settlement", "--merchant", str(hotel.pk), "--month", "2026-07", "--json"))["total_fen"] == 0
    assert json.loads(run("value", "--month", "2026-07", "--brand", "mass", "--json"))["brand_value_fen"] == 0
    with pytest.raises(CommandError, match="month"):
        run("value", "--month", "July")


def test_operator_create_prints_a_password_that_logs_in(world: World) -> None:
    shop = MerchantFactory.create(brands=[world.brands["mass"]])
    text = run("operator-create", "--merchant", str(shop.pk), "--username", "laowang", "--name", "王师傅")
    password = text.split("password ", 1)[1].split()[0]
    client = Client()
    response = client.post("/merchant/login/", {"username": "laowang", "password": password})
    assert response.status_code == 302 and response["Location"] == "/merchant/"
    assert shop.name in client.get("/merchant/").content.decode()
    with pytest.raises(CommandError, match="already taken"):
        run("operator-create", "--merchant", str(shop.pk), "--username", "laowang", "--name", "x")

"""The partners API for staff and integrations: review, status, offers (idempotent), coupon batches,
each scoped like the console."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from conftest import World
from hufen.partners.models import Coupon, Merchant, Offer
from hufen.partners.services import merchant_apply
from hufen.partners.tests.conftest import member_actor
from hufen.partners.tests.factories import MerchantFactory, credit_code

pytestmark = pytest.mark.django_db
OFFER = {
    "title": "车主专享 85 折",
    "kind": "percent",
    "percent_off": 15,
    "valid_from": "2026-01-01T00:00:00+08:00",
    "valid_until": "2027-01-01T00:00:00+08:00",
}


def staff_client(world: World, name: str) -> Client:
    client = Client()
    client.force_login(world.staff[name].user)
    return client


def applied(world: World) -> Merchant:
    return merchant_apply(
        actor=member_actor(world, "a1_owner"),
        data={
            "name": "小伟书店",
            "legal_name": "杭州小伟文化传播有限公司",
            "credit_code": credit_code(31),
            "scenario": "learning",
            "city": "杭州市",
            "address": "文三路 100 号",
            "latitude": Decimal("30.28"),
            "longitude": Decimal("120.13"),
        },
    )


def test_review_and_status_are_scoped(world: World) -> None:
    merchant = applied(world)
    url = f"/api/v1/partners/merchants/{merchant.pk}"
    other = staff_client(world, "dealer_b1")
    assert other.post(f"{url}/review", {"approve": True}, content_type="application/json").status_code == 404
    dealer = staff_client(world, "dealer_a1")
    bad = dealer.post(f"{url}/review", {"approve": False}, content_type="application/json")
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "reason"
    ok = dealer.post(f"{url}/review", {"approve": True}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["status"] == "active"
    suspended = dealer.post(
        f"{url}/status", {"status": "suspended", "reason": "投诉核查"}, content_type="application/json"
    )
    assert suspended.json()["status"] == "suspended"


def test_offers_create_idempotently_and_contradictions_are_422(world: World) -> None:
    shop = MerchantFactory.create(brands=[world.brands["mass"]])
    hq = staff_client(world, "hq_operator")
    url = f"/api/v1/partners/merchants/{shop.pk}/offers"
    headers = {"Idempotency-Key": "offer-create-0001"}
    first = hq.post(url, OFFER, content_type="application/json", headers=headers)
    again = hq.post(url, OFFER, content_type="application/json", headers=headers)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert Offer.objects.count() == 1
    bad = hq.post(url, {**OFFER, "amount_fen": 500}, content_type="application/json")
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "amount_fen"
    assert [o["title"] for o in hq.get(url).json()["items"]] == ["车主专享 85 折"]
    assert staff_client(world, "dealer_b1").get(url).status_code == 404


def test_coupon_batches_over_the_api(world: World) -> None:
    hotel = MerchantFactory.create(kind="cross_industry", scenario="travel", brands=[world.brands["mass"]])
    hq = staff_client(world, "hq_admin")
    url = f"/api/v1/partners/merchants/{hotel.pk}/coupon-batches"
    batch = {
        "brand": "mass",
        "title": "亚朵酒店 80 元券",
        "value_fen": 8000,
        "valid_from": "2026-01-01T00:00:00+08:00",
        "valid_until": "2027-01-01T00:00:00+08:00",
    }
    bad = hq.post(url, {**batch, "csv": "code\nYD-000001\nYD-000001\n"}, content_type="application/json")
    assert bad.status_code == 422 and "第 3 行" in bad.json()["error"]["message"]
    assert not Coupon.objects.exists()
    ok = hq.post(url, {**batch, "csv": "code\nYD-000001\nYD-000002\n"}, content_type="application/json")
    assert ok.status_code == 201 and ok.json()["codes"] == 2
    generated = hq.post(url, {**batch, "count": 25}, content_type="application/json")
    assert generated.json()["codes"] == 25
    both = hq.post(url, {**batch, "count": 1, "csv": "code\nYD-000009\n"}, content_type="application/json")
    assert both.status_code == 422
    dealer = staff_client(world, "dealer_a1")
    assert dealer.post(url, {**batch, "count": 1}, content_type="application/json").status_code in (403, 404)

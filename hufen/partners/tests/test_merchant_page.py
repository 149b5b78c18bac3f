"""The merchant page over HTTP: its own login, no console access either way, verify → record →
receipt, idempotent forms, and a merchant seeing only its own redemptions."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from conftest import World
from hufen.common.actors import SYSTEM, Actor
from hufen.partners.carkey import car_key_issue
from hufen.partners.models import CarKeyAttempt, Merchant, Offer, PerkRedemption
from hufen.partners.offers import offer_create
from hufen.partners.tests.conftest import member_actor
from hufen.partners.tests.factories import MerchantFactory, link_operator

pytestmark = pytest.mark.django_db


def login(world: World, name: str) -> Client:
    client = Client()
    client.force_login(world.staff[name].user)
    return client


def make_offer(shop: Merchant, **over: Any) -> Offer:
    data = {
        "title": "车主专享 9 折",
        "kind": "percent",
        "percent_off": 10,
        "valid_from": "2020-01-01T00:00:00+08:00",
        "valid_until": "2099-01-01T00:00:00+08:00",
        **over,
    }
    return offer_create(actor=SYSTEM, merchant=shop, data=data)


def verify(client: Client, owner: Actor) -> tuple[Any, str]:
    key = car_key_issue(actor=owner)
    response = client.post("/merchant/verify/", {"code": key.short_code})
    return response, key.short_code


def form_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'name="(key_id|form_key)" value="([^"]+)"', html))


def test_anonymous_goes_to_the_merchant_login(client: Client) -> None:
    response = client.get("/merchant/")
    assert response.status_code == 302 and response["Location"].startswith("/merchant/login/")
    assert client.get("/merchant/login/").status_code == 200


def test_login_page_signs_an_operator_in_to_the_merchant_page(world: World, shop: Merchant) -> None:
    client = Client()
    response = client.post("/merchant/login/", {"username": "merchant", "password": world.password})
    assert response.status_code == 302 and response["Location"] == "/merchant/"
    page = client.get("/merchant/")
    assert page.status_code == 200 and shop.name in page.content.decode()
    # The same login has no console access.
    assert client.get("/console/").status_code == 403


@pytest.mark.parametrize("name", ["hq_admin", "dealer_a1", "butler_a1", "merchant"])
def test_console_staff_and_unlinked_operators_get_no_merchant_access(world: World, name: str) -> None:
    response = login(world, name).get("/merchant/")
    assert response.status_code == 403
    assert 'data-testid="no-merchant-access"' in response.content.decode()


def test_a_suspended_merchant_is_refused(world: World, shop: Merchant) -> None:
    shop.status = "suspended"
    shop.save()
    response = login(world, "merchant").get("/merchant/")
    assert response.status_code == 403 and "未在营业状态" in response.content.decode()


def test_verify_shows_masked_owner_and_offers_then_records_once(world: World, shop: Merchant) -> None:
    make_offer(shop)
    make_offer(shop, title="金卡专享", min_tier_rank=2)
    client = login(world, "merchant")
    response, _ = verify(client, member_actor(world, "a1_owner"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "王*伟" in html and "王小伟" not in html and "13812345678" not in html and "5678" not in html
    assert "星河 S7" in html and "限会员车主" in html
    fields = form_fields(html)
    offer = Offer.objects.get(title="车主专享 9 折")
    post = {**fields, "offer_id": offer.pk, "bill": "128.50"}
    done = client.post("/merchant/redeem/", post)
    assert done.status_code == 302
    receipt = client.get(done["Location"]).content.decode()
    assert "128.50" in receipt and "12.85" in receipt and "王*伟" in receipt
    # A double tap (the same form posted again) lands on the same receipt.
    again = client.post("/merchant/redeem/", post)
    assert again["Location"] == done["Location"]
    assert PerkRedemption.objects.get().bill_fen == 12_850


@pytest.mark.parametrize("bill", ["", "abc", "-5", "1.234", "nan"])
def test_bad_bill_amount_is_a_clear_error(world: World, shop: Merchant, bill: str) -> None:
    offer = make_offer(shop)
    client = login(world, "merchant")
    response, _ = verify(client, world.actor("member_a2"))
    post = {**form_fields(response.content.decode()), "offer_id": offer.pk, "bill": bill}
    bad = client.post("/merchant/redeem/", post)
    assert bad.status_code == 422 and 'data-testid="redeem-error"' in bad.content.decode()
    assert not PerkRedemption.objects.exists()


def test_wrong_code_shows_the_reason_and_is_logged(world: World, shop: Merchant) -> None:
    client = login(world, "merchant")
    first, code = verify(client, world.actor("member_a2"))
    assert first.status_code == 200
    again = client.post("/merchant/verify/", {"code": code})
    assert again.status_code == 422 and "已被使用" in again.content.decode()
    bad = client.post("/merchant/verify/", {"code": "12ab"})
    assert bad.status_code == 422 and "格式不正确" in bad.content.decode()
    assert list(CarKeyAttempt.objects.order_by("id").values_list("outcome", flat=True)) == ["ok", "used", "malformed"]


def test_a_merchant_sees_only_its_own_redemptions(world: World, shop: Merchant) -> None:
    offer = make_offer(shop)
    other = MerchantFactory.create(brands=[world.brands["mass"], world.brands["premium"]])
    staff = world.staff["butler_a1b"]
    staff.role = "merchant_operator"
    staff.save()
    link_operator(staff, other)
    other_offer = make_offer(other, title="别家优惠")
    mine_client, theirs_client = login(world, "merchant"), login(world, "butler_a1b")
    r1, _ = verify(mine_client, world.actor("member_a2"))
    mine = mine_client.post(
        "/merchant/redeem/", {**form_fields(r1.content.decode()), "offer_id": offer.pk, "bill": "100"}
    )
    r2, _ = verify(theirs_client, member_actor(world, "b1_owner"))
    theirs = theirs_client.post(
        "/merchant/redeem/", {**form_fields(r2.content.decode()), "offer_id": other_offer.pk, "bill": "50"}
    )
    assert mine_client.get(theirs["Location"]).status_code == 404
    listing = mine_client.get("/merchant/redemptions/").content.decode()
    assert listing.count('data-testid="redemption-row"') == 1 and "陈*" in listing and "黄*国" not in listing
    assert theirs_client.get(mine["Location"]).status_code == 404
    # Redeeming another merchant's offer with my verified key fails too.
    r3, _ = verify(mine_client, member_actor(world, "a1_owner"))
    cross = mine_client.post(
        "/merchant/redeem/", {**form_fields(r3.content.decode()), "offer_id": other_offer.pk, "bill": "10"}
    )
    assert cross.status_code == 404
    assert PerkRedemption.objects.count() == 2

"""Owner portal perk pages: shops by city/scenario/distance, my perks with a 24-hour dispute, and
the Territory Partner application form."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.test import Client

from conftest import World
from hufen.common.actors import SYSTEM, Actor, Role
from hufen.partners.carkey import car_key_issue, car_key_verify
from hufen.partners.models import Merchant, PerkRedemption
from hufen.partners.offers import offer_create, perk_redeem
from hufen.partners.selectors import distance_km
from hufen.partners.tests.factories import MerchantFactory, credit_code
from hufen.portal.tests.helpers import signed_in_client

pytestmark = pytest.mark.django_db
LIVE = {"valid_from": "2020-01-01T00:00:00+08:00", "valid_until": "2099-01-01T00:00:00+08:00"}


def shop_with_offer(world: World, name: str, **kw: object) -> Merchant:
    brands = kw.pop("brands", [world.brands["mass"]])
    m: Merchant = MerchantFactory.create(name=name, brands=brands, **kw)
    offer_create(
        actor=SYSTEM, merchant=m, data={"title": f"{name}车主礼", "kind": "percent", "percent_off": 10, **LIVE}
    )
    return m


def test_anonymous_goes_to_the_portal_sign_in(client: Client) -> None:
    response = client.get("/m/perks/")
    assert response.status_code == 302 and "/m/login/" in response["Location"]


def test_perks_by_city_scenario_and_distance(world: World) -> None:
    shop_with_offer(
        world, "外滩咖啡", city="上海市", scenario="food", latitude=Decimal("31.2400"), longitude=Decimal("121.4900")
    )
    shop_with_offer(
        world,
        "浦东洗车",
        city="上海市",
        scenario="mobility",
        latitude=Decimal("31.2200"),
        longitude=Decimal("121.5400"),
    )
    shop_with_offer(world, "西湖茶馆", city="杭州市", scenario="food")
    shop_with_offer(world, "极境专属", city="上海市", brands=[world.brands["premium"]])  # not the member's brand
    pending = shop_with_offer(world, "待审小店", city="上海市")
    Merchant.objects.filter(pk=pending.pk).update(status="applied")
    client, _ = signed_in_client(world, "a2_owner", "mass")
    page = client.get("/m/perks/").content.decode()
    for shown in ["外滩咖啡", "浦东洗车", "西湖茶馆", "外滩咖啡车主礼"]:
        assert shown in page
    for hidden in ["极境专属", "待审小店"]:
        assert hidden not in page
    shanghai = client.get("/m/perks/", {"city": "上海市"}).content.decode()
    assert "外滩咖啡" in shanghai and "西湖茶馆" not in shanghai
    food = client.get("/m/perks/", {"scenario": "food"}).content.decode()
    assert "外滩咖啡" in food and "浦东洗车" not in food
    # Standing in Lujiazui (31.2397, 121.4998), the Bund café is nearer than the Pudong car wash.
    near = client.get("/m/perks/", {"lat": "31.2397", "lng": "121.4998", "city": "上海市"}).content.decode()
    assert near.index("外滩咖啡") < near.index("浦东洗车") and " km" in near
    far = client.get("/m/perks/", {"lat": "31.2200", "lng": "121.5400", "city": "上海市"}).content.decode()
    assert far.index("浦东洗车") < far.index("外滩咖啡")


def test_distance_is_haversine() -> None:
    # Shanghai People's Square to Hangzhou West Lake: about 165 km.
    assert 160 < distance_km(31.2304, 121.4737, 30.2431, 120.1500) < 170


def test_my_perks_and_dispute_within_24_hours(world: World, shop: Merchant, shop_actor: Actor) -> None:
    offer = offer_create(
        actor=SYSTEM, merchant=shop, data={"title": "洗车立减", "kind": "fixed", "amount_fen": 2000, **LIVE}
    )
    client, member = signed_in_client(world, "a2_owner", "mass")
    owner = Actor(kind="member", role=Role.MEMBER, label="m", person_id=member.person_id, member_id=member.pk)
    key = car_key_verify(actor=shop_actor, code=car_key_issue(actor=owner).short_code)
    r = perk_redeem(
        actor=shop_actor, key_id=key.key_id, offer_id=offer.pk, bill_fen=6000, idempotency_key="form-portal-1"
    )
    page = client.get("/m/perks/mine/").content.decode()
    assert "洗车立减" in page and "20.00" in page and 'data-testid="dispute-submit"' in page
    # Another owner cannot dispute it.
    other, _ = signed_in_client(world, "b1_owner", "premium")
    other.post(f"/m/perks/mine/{r.pk}/dispute/", {"reason": "不是我"})
    r.refresh_from_db()
    assert r.status == "recorded"
    response = client.post(f"/m/perks/mine/{r.pk}/dispute/", {"reason": "账单金额不对"})
    assert response.status_code == 302
    r.refresh_from_db()
    assert (r.status, r.dispute_reason) == ("disputed", "账单金额不对")
    # After 24 hours there is no dispute button.
    PerkRedemption.objects.filter(pk=r.pk).update(status="recorded", created_at=r.created_at - dt.timedelta(hours=25))
    assert 'data-testid="dispute-submit"' not in client.get("/m/perks/mine/").content.decode()


def test_apply_form_creates_an_application_and_shows_errors(world: World) -> None:
    client, _ = signed_in_client(world, "a2_owner", "mass")
    form = {
        "name": "静姐咖啡",
        "legal_name": "上海静姐餐饮管理有限公司",
        "credit_code": credit_code(77),
        "scenario": "food",
        "city": "上海市",
        "district": "浦东新区",
        "address": "张杨路 1500 号",
        "latitude": "31.2286",
        "longitude": "121.5264",
    }
    bad = client.post("/m/perks/apply/", {**form, "credit_code": "91310115MA1K3YJ26B"})
    assert bad.status_code == 422 and 'data-field="credit_code"' in bad.content.decode()
    outside = client.post("/m/perks/apply/", {**form, "latitude": "48.85", "longitude": "2.35"})
    assert outside.status_code == 422 and "不在中国境内" in outside.content.decode()
    assert not Merchant.objects.exists()
    ok = client.post("/m/perks/apply/", form)
    assert ok.status_code == 302
    merchant = Merchant.objects.get()
    assert (merchant.status, merchant.applicant_id) == ("applied", world.persons["a2_owner"].pk)
    page = client.get("/m/perks/apply/").content.decode()
    assert 'data-testid="application" data-status="applied"' in page


def test_a_prospect_without_a_car_cannot_apply(world: World) -> None:
    client, _ = signed_in_client(world, "prospect", "mass")
    response = client.post("/m/perks/apply/", {"name": "x"})
    assert response.status_code == 422 and 'data-field="applicant"' in response.content.decode()


def test_my_coupons_and_exchange_for_points_once(world: World) -> None:
    from hufen.membership.ledger import points_award
    from hufen.partners.coupons import coupon_batch_generate, coupon_issue
    from hufen.partners.models import Coupon

    client, member = signed_in_client(world, "a2_owner", "mass")
    points_award(actor=SYSTEM, member=member, amount=1000, reason="goodwill", idempotency_key="seed")
    hotel = MerchantFactory.create(
        kind="cross_industry", name="全季酒店", scenario="travel", brands=[world.brands["mass"]]
    )
    window = {
        "valid_from": dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        "valid_until": dt.datetime(2099, 1, 1, tzinfo=dt.UTC),
    }
    gift = coupon_batch_generate(
        actor=SYSTEM,
        merchant=hotel,
        brand=world.brands["mass"],
        data={"title": "会员日住宿券", "value_fen": 5000, **window},
        count=3,
    )
    coupon_issue(actor=SYSTEM, batch=gift, member=member, via="member_day", idempotency_key="md-1")
    shop = coupon_batch_generate(
        actor=SYSTEM,
        merchant=hotel,
        brand=world.brands["mass"],
        data={"title": "积分换住宿券", "value_fen": 10000, "points_price": 600, **window},
        count=3,
    )
    page = client.get("/m/perks/mine/").content.decode()
    assert "会员日住宿券" in page and "积分换住宿券" in page and 'data-testid="exchange"' in page
    form_key = re.search(r'name="form_key" value="([^"]+)"', page)
    assert form_key
    for _ in range(2):  # a double tap
        response = client.post(f"/m/perks/coupons/{shop.pk}/exchange/", {"form_key": form_key.group(1)})
        assert response.status_code == 302
    assert Coupon.objects.filter(batch=shop, member_id=member.pk).count() == 1
    member.account.refresh_from_db()
    assert member.account.balance == 400
    # Not enough points for another: nothing is issued.
    client.post(f"/m/perks/coupons/{shop.pk}/exchange/", {"form_key": "another-tap-123"})
    assert Coupon.objects.filter(batch=shop, member_id=member.pk).count() == 1
    assert "积分换住宿券" in client.get("/m/perks/mine/").content.decode()

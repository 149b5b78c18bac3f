"""Value reports (per merchant, city, scenario; the brand's monthly value), the console pages that
show them and review applications, and the value API — each scoped to the caller."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from conftest import World
from hufen.common.actors import SYSTEM, Actor
from hufen.common.errors import FieldError, PermissionDenied
from hufen.membership.services import member_join
from hufen.partners.carkey import car_key_issue, car_key_verify
from hufen.partners.coupons import (
    actor_for_partner_key,
    coupon_batch_generate,
    coupon_issue,
    coupon_redeem_confirm,
    partner_key_create,
)
from hufen.partners.models import Merchant
from hufen.partners.offers import offer_create, perk_dispute, perk_dispute_resolve, perk_redeem
from hufen.partners.reports import brand_monthly_value, value_report
from hufen.partners.selectors import actor_for_merchant_operator
from hufen.partners.services import merchant_apply
from hufen.partners.tests.conftest import member_actor
from hufen.partners.tests.factories import MerchantFactory, credit_code, link_operator

pytestmark = pytest.mark.django_db
JUNE = dt.datetime(2026, 6, 10, 4, 0, tzinfo=dt.UTC)
LIVE = {"valid_from": "2020-01-01T00:00:00+08:00", "valid_until": "2099-01-01T00:00:00+08:00"}


def operator(world: World, staff_name: str, merchant: Merchant) -> Actor:
    staff = world.staff[staff_name]
    staff.role = "merchant_operator"
    staff.save()
    link_operator(staff, merchant)
    return actor_for_merchant_operator(staff)


def perk(shop_actor: Actor, owner: Actor, offer_id: int, bill: int, now: dt.datetime, tag: str) -> int:
    key = car_key_verify(actor=shop_actor, code=car_key_issue(actor=owner, now=now).short_code, now=now)
    r = perk_redeem(
        actor=shop_actor,
        key_id=key.key_id,
        offer_id=offer_id,
        bill_fen=bill,
        idempotency_key=f"report-form-{tag}",
        now=now,
    )
    return r.pk


@pytest.fixture
def scene(world: World) -> dict[str, Merchant]:
    """Hangzhou café (A1's owner) and car wash, Shanghai café (A2's owner); perks in June and July."""
    hz_cafe = MerchantFactory.create(
        name="西湖咖啡", city="杭州市", scenario="food", brands=[world.brands["mass"], world.brands["premium"]]
    )
    hz_wash = MerchantFactory.create(name="之江洗车", city="杭州市", scenario="mobility", brands=[world.brands["mass"]])
    sh_cafe = MerchantFactory.create(name="外滩咖啡", city="上海市", scenario="food", brands=[world.brands["mass"]])
    hz_cafe.review_dealer = world.dealers["A1"]
    hz_cafe.save()
    ops = {
        "hz_cafe": operator(world, "merchant", hz_cafe),
        "hz_wash": operator(world, "butler_a1b", hz_wash),
        "sh_cafe": operator(world, "hq_operator", sh_cafe),  # reused login, only for this test
    }
    offers = {
        name: offer_create(
            actor=SYSTEM, merchant=m, data={"title": "立减 20 元", "kind": "fixed", "amount_fen": 2000, **LIVE}
        )
        for name, m in {"hz_cafe": hz_cafe, "hz_wash": hz_wash, "sh_cafe": sh_cafe}.items()
    }
    a1, a2 = member_actor(world, "a1_owner"), world.actor("member_a2")
    b1 = member_actor(world, "b1_owner")
    perk(ops["hz_cafe"], a1, offers["hz_cafe"].pk, 5000, JUNE, "1")
    perk(ops["hz_cafe"], a1, offers["hz_cafe"].pk, 5000, JUNE + dt.timedelta(days=1), "2")  # a repeat visit
    perk(ops["hz_cafe"], b1, offers["hz_cafe"].pk, 1500, JUNE, "3")  # premium owner, bill below 20 yuan
    perk(ops["hz_wash"], a2, offers["hz_wash"].pk, 8000, JUNE, "4")
    perk(ops["sh_cafe"], a2, offers["sh_cafe"].pk, 3000, JUNE, "5")
    perk(ops["sh_cafe"], a2, offers["sh_cafe"].pk, 3000, JUNE + dt.timedelta(days=40), "6")  # July
    disputed = perk(ops["sh_cafe"], a1, offers["sh_cafe"].pk, 3000, JUNE, "7")
    perk_dispute(actor=a1, redemption_id=disputed, reason="不是我", now=JUNE)
    perk_dispute_resolve(actor=SYSTEM, redemption_id=disputed, void=True, reason="核实误录")
    return {"hz_cafe": hz_cafe, "hz_wash": hz_wash, "sh_cafe": sh_cafe}


def test_value_by_merchant_city_scenario(world: World, scene: dict[str, Merchant]) -> None:
    hq = world.actor("hq_admin")
    by_merchant = {r.key: r for r in value_report(actor=hq, month="2026-06", by="merchant")}
    cafe = by_merchant["西湖咖啡"]
    assert (cafe.visits, cafe.unique_owners, cafe.repeat_owners, cafe.perk_value_fen) == (3, 2, 1, 5500)
    assert cafe.repeat_rate == 0.5
    assert by_merchant["外滩咖啡"].perk_value_fen == 2000  # the voided perk and July's do not count
    by_city = value_report(actor=hq, month="2026-06", by="city")
    assert [(r.key, r.value_fen) for r in by_city] == [("杭州市", 7500), ("上海市", 2000)]
    by_scenario = {r.key: r.value_fen for r in value_report(actor=hq, month="2026-06", by="scenario")}
    assert by_scenario == {"food": 7500, "mobility": 2000}
    assert [r.value_fen for r in value_report(actor=hq, month="2026-07", by="city")] == [2000]
    with pytest.raises(FieldError):
        value_report(actor=hq, month="2026-6", by="city")
    with pytest.raises(FieldError):
        value_report(actor=hq, month="2026-06", by="dealer")


def test_brand_monthly_value_includes_coupons(world: World, scene: dict[str, Merchant]) -> None:
    hq = world.actor("hq_admin")
    mass = brand_monthly_value(actor=hq, brand=world.brands["mass"], month="2026-06")
    premium = brand_monthly_value(actor=hq, brand=world.brands["premium"], month="2026-06")
    assert (mass.perk_value_fen, mass.visits, mass.owners) == (8000, 4, 2)
    assert premium.perk_value_fen == 1500
    hotel = MerchantFactory.create(
        kind="cross_industry", name="全季酒店", scenario="travel", brands=[world.brands["mass"]]
    )
    member = member_join(actor=SYSTEM, person=world.persons["a2_owner"], brand=world.brands["mass"], channel="api")
    batch = coupon_batch_generate(
        actor=SYSTEM,
        merchant=hotel,
        brand=world.brands["mass"],
        data={
            "title": "住宿券",
            "value_fen": 10_000,
            "valid_from": JUNE - dt.timedelta(days=30),
            "valid_until": JUNE + dt.timedelta(days=90),
        },
        count=2,
    )
    coupon = coupon_issue(actor=SYSTEM, batch=batch, member=member, via="member_day", idempotency_key="md")
    key, _ = partner_key_create(actor=SYSTEM, merchant=hotel, name="PMS")
    coupon_redeem_confirm(actor=actor_for_partner_key(key), code=coupon.code, idempotency_key="pms-000001", now=JUNE)
    mass = brand_monthly_value(actor=hq, brand=world.brands["mass"], month="2026-06")
    assert (mass.perk_value_fen, mass.coupon_value_fen, mass.value_fen) == (8000, 10_000, 18_000)
    travel = {r.key: r for r in value_report(actor=hq, month="2026-06", by="scenario")}["travel"]
    assert (travel.coupons_redeemed, travel.value_fen) == (1, 10_000)


def test_reports_are_scoped(world: World, scene: dict[str, Merchant]) -> None:
    # Dealer A1 reviews only the Hangzhou café; a merchant sees itself; members and butlers nothing.
    dealer = value_report(actor=world.actor("dealer_a1"), month="2026-06", by="merchant")
    assert [r.key for r in dealer] == ["西湖咖啡"]
    assert value_report(actor=world.actor("dealer_b1"), month="2026-06", by="merchant") == []
    wash = actor_for_merchant_operator(world.staff["butler_a1b"])
    assert [r.key for r in value_report(actor=wash, month="2026-06", by="merchant")] == ["之江洗车"]
    for name in ["member_a2", "butler_a1"]:
        with pytest.raises(PermissionDenied):
            value_report(actor=world.actor(name), month="2026-06", by="city")


def test_console_value_page_ranks_cities(world: World, scene: dict[str, Merchant]) -> None:
    client = Client()
    client.force_login(world.staff["hq_admin"].user)
    page = client.get("/console/partners/", {"month": "2026-06"})
    html = page.content.decode()
    assert page.status_code == 200
    assert html.index("杭州市") < html.index("上海市") and "75.00" in html and "西湖咖啡" in html
    assert 'data-brand="mass"' in html and "80.00" in html
    dealer = Client()
    dealer.force_login(world.staff["dealer_b1"].user)
    assert "西湖咖啡" not in dealer.get("/console/partners/", {"month": "2026-06"}).content.decode()
    butler = Client()
    butler.force_login(world.staff["butler_a1"].user)
    assert butler.get("/console/partners/", {"month": "2026-06"}).status_code == 403


def test_console_review_of_applications(world: World) -> None:
    merchant = merchant_apply(
        actor=member_actor(world, "a1_owner"),
        data={
            "name": "小伟书店",
            "legal_name": "杭州小伟文化传播有限公司",
            "credit_code": credit_code(99),
            "scenario": "learning",
            "city": "杭州市",
            "address": "文三路 100 号",
            "latitude": Decimal("30.28"),
            "longitude": Decimal("120.13"),
        },
    )
    other = Client()
    other.force_login(world.staff["dealer_b1"].user)
    assert "小伟书店" not in other.get("/console/partners/applications/").content.decode()
    other.post(f"/console/partners/applications/{merchant.pk}/review/", {"decision": "approve"})
    merchant.refresh_from_db()
    assert merchant.status == "applied"
    dealer = Client()
    dealer.force_login(world.staff["dealer_a1"].user)
    listing = dealer.get("/console/partners/applications/").content.decode()
    assert "小伟书店" in listing and 'data-testid="approve"' in listing
    response = dealer.post(
        f"/console/partners/applications/{merchant.pk}/review/", {"decision": "reject", "reason": ""}
    )
    assert response.status_code == 302
    merchant.refresh_from_db()
    assert merchant.status == "applied"  # a rejection needs a reason
    dealer.post(f"/console/partners/applications/{merchant.pk}/review/", {"decision": "approve"})
    merchant.refresh_from_db()
    assert merchant.status == "active" and merchant.reviewed_by == world.staff["dealer_a1"]


def test_value_api(world: World, scene: dict[str, Merchant]) -> None:
    client = Client()
    client.force_login(world.staff["hq_admin"].user)
    body = client.get("/api/v1/partners/value", {"month": "2026-06", "by": "city", "brand": "mass"}).json()
    assert [(r["key"], r["value_fen"]) for r in body["rows"]] == [("杭州市", 6000), ("上海市", 2000)]
    assert body["brand_value_fen"] == 8000
    assert client.get("/api/v1/partners/value", {"month": "June"}).status_code == 422
    merchants = client.get("/api/v1/partners/merchants").json()["items"]
    assert {m["name"] for m in merchants} == {"西湖咖啡", "之江洗车", "外滩咖啡"}
    api = Client(HTTP_AUTHORIZATION=f"Bearer {world.api_tokens['api_dealer_a1']}")
    assert {m["name"] for m in api.get("/api/v1/partners/merchants").json()["items"]} == {"西湖咖啡"}


def test_console_merchant_page_creates_offers_and_suspends(world: World) -> None:
    shop = MerchantFactory.create(name="老王洗车", brands=[world.brands["mass"]])
    url = f"/console/partners/merchants/{shop.pk}/"
    other = Client()
    other.force_login(world.staff["dealer_b1"].user)
    assert other.get(url).status_code == 404
    hq = Client()
    hq.force_login(world.staff["hq_operator"].user)
    form = {
        "action": "offer",
        "title": "洗车立减 15 元",
        "kind": "fixed",
        "amount_fen": "15",
        "min_bill_fen": "40.5",
        "per_owner_per_day": "1",
        "valid_from": "2026-06-01",
        "valid_until": "2026-06-30",
    }
    bad = hq.post(url, {**form, "percent_off": "10"})
    assert bad.status_code == 422 and 'data-field="percent_off"' in bad.content.decode()
    assert hq.post(url, form).status_code == 302
    offer = shop.offers.get()
    assert (offer.amount_fen, offer.min_bill_fen, offer.per_owner_per_day) == (1500, 4050, 1)
    # Whole days in the brand's time zone: 1 June 00:00 to the end of 30 June, Shanghai time.
    assert offer.valid_from == dt.datetime(2026, 5, 31, 16, 0, tzinfo=dt.UTC)
    assert offer.valid_until == dt.datetime(2026, 6, 30, 16, 0, tzinfo=dt.UTC)
    assert "洗车立减 15 元" in hq.get(url).content.decode()
    assert hq.post(url, {"action": "suspended", "reason": ""}).status_code == 422
    assert hq.post(url, {"action": "suspended", "reason": "门店装修暂停营业"}).status_code == 302
    shop.refresh_from_db()
    assert shop.status == "suspended"


def test_console_adds_a_merchant_page_login_shown_once(world: World) -> None:
    shop = MerchantFactory.create(name="老王洗车", brands=[world.brands["mass"]])
    url = f"/console/partners/merchants/{shop.pk}/"
    hq = Client()
    hq.force_login(world.staff["hq_admin"].user)
    page = hq.post(url, {"action": "operator", "username": "laowang_wash", "name": "王师傅"})
    html = page.content.decode()
    assert page.status_code == 200 and 'data-testid="operator-created"' in html
    password = html.split('data-testid="operator-password">', 1)[1].split("<", 1)[0]
    assert password not in hq.get(url).content.decode()  # not shown again
    shop_phone = Client()
    login = shop_phone.post("/merchant/login/", {"username": "laowang_wash", "password": password})
    assert login.status_code == 302 and login["Location"] == "/merchant/"
    taken = hq.post(url, {"action": "operator", "username": "laowang_wash", "name": "x"})
    assert taken.status_code == 422 and 'data-field="username"' in taken.content.decode()


def test_console_issues_a_coupon_batch_to_a_segment(world: World) -> None:
    # given a hotel partner with a batch of 5 codes, and three members of the mass program
    hotel = MerchantFactory.create(
        kind="cross_industry", name="全季酒店", scenario="travel", brands=[world.brands["mass"]]
    )
    for person in ("a1_owner", "a2_owner", "a1_other"):
        member_join(actor=SYSTEM, person=world.persons[person], brand=world.brands["mass"], channel="api")
    data = {
        "title": "全季酒店 100 元住宿券",
        "value_fen": 10_000,
        "valid_from": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "valid_until": dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    }
    batch = coupon_batch_generate(actor=SYSTEM, merchant=hotel, brand=world.brands["mass"], data=data, count=5)
    url = f"/console/partners/merchants/{hotel.pk}/"
    hq = Client()
    hq.force_login(world.staff["hq_operator"].user)
    page = hq.get(url).content.decode()
    assert 'data-testid="issue-form"' in page and "全季酒店 100 元住宿券" in page
    # when HQ issues to owners of 星河 S7 delivered by A1 or A2 (full-width comma, as typed in Chinese)
    form = {
        "action": "issue",
        "batch": str(batch.pk),
        "min_tier_rank": "0",
        "series": "星河 S7",
        "dealer_codes": "A1，A2",
    }
    assert hq.post(url, form).status_code == 302
    # then the two S7 owners hold one each, and the page shows it
    assert batch.coupons.filter(status="issued").count() == 2
    assert '<td class="text-end" data-testid="batch-issued">2</td>' in hq.get(url).content.decode()
    # a typo in a dealer code is named and issues nothing; another batch id is refused
    bad = hq.post(url, {**form, "dealer_codes": "A9"})
    assert bad.status_code == 422 and 'data-field="dealer_codes"' in bad.content.decode()
    assert hq.post(url, {**form, "batch": "999999"}).status_code == 422
    # and a dealer manager (who may see the page) may not issue
    dealer = Client()
    dealer.force_login(world.staff["dealer_a1"].user)
    if dealer.get(url).status_code == 200:
        assert dealer.post(url, form).status_code == 422
    assert batch.coupons.filter(status="issued").count() == 2

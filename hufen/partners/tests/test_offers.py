"""Offers: contradictory conditions, who gets which perk, caps in the brand's time zone, budgets,
idempotent recording, disputes, and what each side may see."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from conftest import World
from hufen.common.actors import SYSTEM, Actor
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.models import DomainEvent
from hufen.membership.services import member_join
from hufen.partners.carkey import car_key_issue, car_key_verify
from hufen.partners.models import Merchant, Offer, PerkRedemption
from hufen.partners.offers import offer_create, offers_for_key, perk_dispute, perk_dispute_resolve, perk_redeem
from hufen.partners.selectors import actor_for_merchant_operator, merchant_redemptions
from hufen.partners.tests.conftest import member_actor
from hufen.partners.tests.factories import MerchantFactory, link_operator

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 6, 10, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


def offer(shop: Merchant, **over: Any) -> Offer:
    data: dict[str, Any] = {
        "title": "车主专享 9 折",
        "kind": "percent",
        "percent_off": 10,
        "valid_from": "2026-01-01T00:00:00+08:00",
        "valid_until": "2027-01-01T00:00:00+08:00",
    }
    data.update(over)
    return offer_create(actor=SYSTEM, merchant=shop, data=data)


def verified(shop_actor: Actor, owner: Actor, now: dt.datetime = T0) -> int:
    key = car_key_issue(actor=owner, now=now)
    return car_key_verify(actor=shop_actor, code=key.short_code, now=now).key_id


def redeem(shop_actor: Actor, key_id: int, o: Offer, bill: int = 20_000, now: dt.datetime = T0, **kw: Any) -> Any:
    form_key = kw.pop("form_key", f"form-{key_id}-{o.pk}-{bill}")
    return perk_redeem(actor=shop_actor, key_id=key_id, offer_id=o.pk, bill_fen=bill, idempotency_key=form_key, now=now)


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"percent_off": None}, "percent_off"),
        ({"percent_off": 100}, "percent_off"),
        ({"amount_fen": 500}, "amount_fen"),
        ({"kind": "fixed", "percent_off": None}, "amount_fen"),
        ({"kind": "fixed", "amount_fen": 500}, "percent_off"),
        ({"kind": "fixed", "percent_off": None, "amount_fen": 5000, "budget_fen": 1000}, "budget_fen"),
        ({"kind": "free_item", "percent_off": None, "item_name": "美式咖啡"}, "item_name"),
        ({"kind": "voucher"}, "kind"),
        ({"valid_until": "2025-01-01T00:00:00+08:00"}, "valid_until"),
        ({"valid_from": "2026-01-01T00:00:00"}, "valid_from"),
        ({"per_owner_per_day": 3, "per_owner_per_month": 2}, "per_owner_per_day"),
        ({"first_visit_only": True, "per_owner_per_month": 4}, "first_visit_only"),
        ({"series": "不存在的车系"}, "series"),
        ({"per_owner_per_day": "two"}, "per_owner_per_day"),
        ({"budget_count": 0}, "budget_count"),
    ],
)
def test_contradictory_or_bad_offers_are_refused(shop: Merchant, over: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as exc:
        offer(shop, **over)
    assert exc.value.field == field
    assert not Offer.objects.exists()


def test_brand_and_series_must_match_the_merchant(world: World, shop: Merchant) -> None:
    shop.brands.set([world.brands["mass"]])
    with pytest.raises(FieldError) as exc:
        offer(shop, brand_id=world.brands["premium"].pk)
    assert exc.value.field == "brand_id"
    with pytest.raises(FieldError, match="不是该优惠品牌的车系"):
        offer(shop, brand_id=world.brands["mass"].pk, series="极境 E9")
    with pytest.raises(FieldError, match="不在本商户服务范围内"):
        offer(shop, series="极境 E9")
    assert offer(shop, brand_id=world.brands["mass"].pk, series="星河 S7").series == "星河 S7"


def test_only_staff_in_scope_or_the_merchant_itself_create_offers(world: World, shop: Merchant) -> None:
    data = {"title": "x", "kind": "percent", "percent_off": 5, "valid_from": T0, "valid_until": T0 + dt.timedelta(1)}
    for name in ["dealer_b1", "member_a2", "butler_a1"]:
        with pytest.raises(PermissionDenied):
            offer_create(actor=world.actor(name), merchant=shop, data=data)
    assert offer_create(actor=actor_for_merchant_operator(world.staff["merchant"]), merchant=shop, data=data)


def test_perk_values_percent_fixed_free_item(world: World, shop: Merchant, shop_actor: Actor) -> None:
    owner = world.actor("member_a2")
    pct = offer(shop, percent_off=12, max_discount_fen=2_000)
    fixed = offer(shop, title="立减 30 元", kind="fixed", percent_off=None, amount_fen=3_000, min_bill_fen=10_000)
    free = offer(
        shop, title="赠美式咖啡", kind="free_item", percent_off=None, item_name="美式咖啡", item_value_fen=2_800
    )
    assert redeem(shop_actor, verified(shop_actor, owner), pct, bill=10_000).value_fen == 1_200
    assert redeem(shop_actor, verified(shop_actor, owner), pct, bill=50_000).value_fen == 2_000  # capped
    with pytest.raises(FieldError) as exc:
        redeem(shop_actor, verified(shop_actor, owner), fixed, bill=9_999)
    assert exc.value.field == "bill_fen"
    assert redeem(shop_actor, verified(shop_actor, owner), fixed, bill=10_000).value_fen == 3_000
    assert redeem(shop_actor, verified(shop_actor, owner), free, bill=0).value_fen == 2_800
    assert DomainEvent.objects.filter(name="offer_redeemed").count() == 4


def test_conditions_tier_brand_series_first_visit(world: World, shop: Merchant, shop_actor: Actor) -> None:
    a2 = world.actor("member_a2")  # 陈静: mass 星河 S7, not a member
    b1 = member_actor(world, "b1_owner")  # 黄建国: premium 极境 E9
    member_join(actor=SYSTEM, person=world.persons["b1_owner"], brand=world.brands["premium"], channel="api")
    gold = offer(shop, title="金卡专享", min_tier_rank=1)
    members = offer(shop, title="会员专享", min_tier_rank=0)
    premium = offer(shop, title="极境车主", brand_id=world.brands["premium"].pk, series="极境 E9")
    first = offer(shop, title="首次到店礼", first_visit_only=True)
    key = verified(shop_actor, a2)
    checks = {c.offer.title: c.reason for c in offers_for_key(actor=shop_actor, key_id=key, now=T0)}
    assert checks == {
        "金卡专享": "限会员车主",
        "会员专享": "限会员车主",
        "极境车主": "限指定品牌车主",
        "首次到店礼": "",
    }
    with pytest.raises(FieldError, match="限会员车主"):
        redeem(shop_actor, key, gold)
    redeem(shop_actor, key, first)
    again = verified(shop_actor, a2)
    assert {c.offer.title: c.reason for c in offers_for_key(actor=shop_actor, key_id=again, now=T0)}["首次到店礼"]
    with pytest.raises(FieldError, match="首次"):
        redeem(shop_actor, again, first)
    bkey = verified(shop_actor, b1)
    ok = {c.offer.title for c in offers_for_key(actor=shop_actor, key_id=bkey, now=T0) if c.ok}
    assert ok == {"会员专享", "极境车主", "首次到店礼"}
    assert redeem(shop_actor, bkey, members).member_id is not None
    assert gold.pk and premium.pk


def test_daily_cap_counts_days_in_the_brand_time_zone(world: World, shop: Merchant, shop_actor: Actor) -> None:
    owner = world.actor("member_a2")
    daily = offer(shop, per_owner_per_day=1, per_owner_per_month=2)
    late = dt.datetime(2026, 6, 10, 15, 30, tzinfo=dt.UTC)  # 23:30 in Shanghai
    redeem(shop_actor, verified(shop_actor, owner, late), daily, now=late)
    same_day = late + dt.timedelta(minutes=20)  # 23:50, still 10 June in Shanghai
    with pytest.raises(FieldError, match="今日"):
        redeem(shop_actor, verified(shop_actor, owner, same_day), daily, now=same_day)
    next_day = late + dt.timedelta(minutes=40)  # 00:10 on 11 June in Shanghai (still 10 June in UTC)
    assert redeem(shop_actor, verified(shop_actor, owner, next_day), daily, now=next_day).local_day == dt.date(
        2026, 6, 11
    )
    later = next_day + dt.timedelta(days=2)
    with pytest.raises(FieldError, match="本月"):
        redeem(shop_actor, verified(shop_actor, owner, later), daily, now=later)
    july = dt.datetime(2026, 6, 30, 16, 30, tzinfo=dt.UTC)  # 1 July in Shanghai
    redeem(shop_actor, verified(shop_actor, owner, july), daily, now=july)


def test_budgets_by_count_and_by_fen(world: World, shop: Merchant, shop_actor: Actor) -> None:
    owner = world.actor("member_a2")
    two = offer(shop, title="限量两份", budget_count=2)
    redeem(shop_actor, verified(shop_actor, owner), two)
    redeem(shop_actor, verified(shop_actor, owner), two)
    with pytest.raises(FieldError, match="名额"):
        redeem(shop_actor, verified(shop_actor, owner), two)
    money = offer(shop, title="预算 50 元", kind="fixed", percent_off=None, amount_fen=3_000, budget_fen=5_000)
    redeem(shop_actor, verified(shop_actor, owner), money)
    with pytest.raises(FieldError, match="预算不足"):
        redeem(shop_actor, verified(shop_actor, owner), money)
    money.refresh_from_db()
    assert (money.used_count, money.used_fen) == (1, 3_000)


def test_recording_is_idempotent_and_a_key_gives_one_perk(world: World, shop: Merchant, shop_actor: Actor) -> None:
    o = offer(shop)
    key = verified(shop_actor, world.actor("member_a2"))
    first = redeem(shop_actor, key, o, form_key="form-abcdef01")
    assert redeem(shop_actor, key, o, form_key="form-abcdef01").pk == first.pk
    with pytest.raises(FieldError) as exc:
        redeem(shop_actor, key, o, bill=1, form_key="form-abcdef01")
    assert exc.value.field == "idempotency_key"
    with pytest.raises(FieldError, match="already recorded"):
        redeem(shop_actor, key, o, form_key="form-abcdef02")
    o.refresh_from_db()
    assert o.used_count == 1 and PerkRedemption.objects.count() == 1


def test_a_key_verified_elsewhere_or_long_ago_cannot_be_used(world: World, shop: Merchant, shop_actor: Actor) -> None:
    o = offer(shop)
    other = MerchantFactory.create(brands=[world.brands["mass"]])
    staff = world.staff["butler_a1b"]
    staff.role = "merchant_operator"
    staff.save()
    link_operator(staff, other)
    other_actor = actor_for_merchant_operator(staff)
    key = verified(other_actor, world.actor("member_a2"))
    with pytest.raises(NotFound):
        redeem(shop_actor, key, o)
    mine = verified(shop_actor, world.actor("member_a2"))
    with pytest.raises(FieldError, match="lapsed"):
        redeem(shop_actor, mine, o, now=T0 + dt.timedelta(minutes=11))
    other_offer = offer(other)
    with pytest.raises(NotFound):
        redeem(shop_actor, mine, other_offer)


def test_merchant_sees_only_its_own_redemptions_and_no_names(world: World, shop: Merchant, shop_actor: Actor) -> None:
    o = offer(shop)
    mine = redeem(shop_actor, verified(shop_actor, world.actor("member_a2")), o)
    other = MerchantFactory.create(brands=[world.brands["mass"]])
    staff = world.staff["butler_a1b"]
    staff.role = "merchant_operator"
    staff.save()
    link_operator(staff, other)
    other_actor = actor_for_merchant_operator(staff)
    theirs = redeem(other_actor, verified(other_actor, member_actor(world, "a1_owner")), offer(other))
    assert [r.pk for r in merchant_redemptions(actor=shop_actor)] == [mine.pk]
    assert [r.pk for r in merchant_redemptions(actor=other_actor)] == [theirs.pk]
    assert [r.pk for r in merchant_redemptions(actor=world.actor("member_a2"))] == [mine.pk]
    assert list(merchant_redemptions(actor=world.actor("merchant"))) == []  # no merchant link
    assert {r.pk for r in merchant_redemptions(actor=world.actor("hq_admin"))} == {mine.pk, theirs.pk}


def test_owner_disputes_within_24_hours(world: World, shop: Merchant, shop_actor: Actor) -> None:
    o = offer(shop)
    r = redeem(shop_actor, verified(shop_actor, world.actor("member_a2")), o)
    with pytest.raises(NotFound):
        perk_dispute(actor=member_actor(world, "b1_owner"), redemption_id=r.pk, reason="不是我", now=T0)
    with pytest.raises(FieldError, match="24 hours"):
        perk_dispute(actor=world.actor("member_a2"), redemption_id=r.pk, reason="x", now=T0 + dt.timedelta(hours=25))
    with pytest.raises(FieldError):
        perk_dispute(actor=world.actor("member_a2"), redemption_id=r.pk, reason=" ", now=T0)
    disputed = perk_dispute(actor=world.actor("member_a2"), redemption_id=r.pk, reason="账单金额不对", now=T0)
    assert disputed.status == "disputed"
    with pytest.raises(NotFound):
        perk_dispute_resolve(actor=world.actor("dealer_b1"), redemption_id=r.pk, void=True, reason="x")
    voided = perk_dispute_resolve(actor=world.actor("hq_operator"), redemption_id=r.pk, void=True, reason="核实误录")
    assert voided.status == "voided"
    o.refresh_from_db()
    assert (o.used_count, o.used_fen) == (0, 0)


def test_console_settles_disputes_for_reviewers_only(world: World, shop: Merchant, shop_actor: Actor) -> None:
    # given a perk the owner (陈静, member_a2) disputed
    o = offer(shop)
    r = redeem(shop_actor, verified(shop_actor, world.actor("member_a2")), o)
    perk_dispute(actor=world.actor("member_a2"), redemption_id=r.pk, reason="账单金额不对", now=T0)
    url = "/console/partners/disputes/"
    hq = Client()
    hq.force_login(world.staff["hq_operator"].user)
    page = hq.get(url).content.decode()
    # then HQ sees it with the owner masked and the owner's reason
    assert 'data-testid="dispute-row"' in page and "陈*" in page and "陈静" not in page and "账单金额不对" in page
    # a dealer that does not review this shop sees no dispute and cannot settle it
    other = Client()
    other.force_login(world.staff["dealer_b1"].user)
    assert 'data-testid="dispute-row"' not in other.get(url).content.decode()
    other.post(url, {"redemption": r.pk, "decision": "void", "reason": "x"})
    assert PerkRedemption.objects.get(pk=r.pk).status == "disputed"
    # a settlement without a reason is refused and changes nothing
    hq.post(url, {"redemption": r.pk, "decision": "void", "reason": " "})
    assert PerkRedemption.objects.get(pk=r.pk).status == "disputed"
    # when HQ voids it with a reason, then the perk stops counting and the offer's use comes back
    assert hq.post(url, {"redemption": r.pk, "decision": "void", "reason": "核实误录"}).status_code == 302
    assert PerkRedemption.objects.get(pk=r.pk).status == "voided"
    o.refresh_from_db()
    assert (o.used_count, o.used_fen) == (0, 0)
    assert 'data-testid="dispute-row"' not in hq.get(url).content.decode()

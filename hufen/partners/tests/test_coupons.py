"""Cross-industry coupons: atomic CSV import, generation, issuing (tier, Member Day, points via the
ledger), partner API confirmation with its own key (idempotent), monthly settlement."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from conftest import World
from hufen.common.actors import SYSTEM, Actor, Role
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.models import DomainEvent
from hufen.membership.ledger import points_award
from hufen.membership.models import Member, PointsEntry
from hufen.membership.services import member_join
from hufen.partners.coupons import (
    CouponImportError,
    Segment,
    actor_for_partner_key,
    coupon_batch_generate,
    coupon_batch_import,
    coupon_exchange,
    coupon_issue,
    coupon_redeem_confirm,
    coupon_settlement,
    coupons_issue_to_segment,
    coupons_issue_to_tier,
    partner_key_create,
)
from hufen.partners.models import Coupon, CouponBatch, Merchant
from hufen.partners.tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 6, 10, 2, 0, tzinfo=dt.UTC)
BATCH = {
    "title": "全季酒店 100 元住宿券",
    "value_fen": 10_000,
    "valid_from": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    "valid_until": dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
}


@pytest.fixture
def hotel(world: World) -> Merchant:
    m: Merchant = MerchantFactory.create(
        kind="cross_industry", name="全季酒店", scenario="travel", brands=[world.brands["mass"]]
    )
    return m


def join(world: World, person: str) -> Member:
    return member_join(actor=SYSTEM, person=world.persons[person], brand=world.brands["mass"], channel="api")


def csv_of(*codes: str) -> str:
    return "code\n" + "\n".join(codes) + "\n"


def test_csv_import_is_atomic_and_names_every_bad_row(world: World, hotel: Merchant) -> None:
    hq = world.actor("hq_admin")
    bad = "code\nHOTEL-0001\nHOTEL-0002\nhotel-0001\nx!\n\nHOTEL-0003\n"
    with pytest.raises(CouponImportError) as exc:
        coupon_batch_import(actor=hq, merchant=hotel, brand=world.brands["mass"], data=BATCH, csv_text=bad)
    # Blank lines are skipped; rows are the file's line numbers.
    assert [(e.row, e.column) for e in exc.value.rows] == [(4, "code"), (5, "code")]
    assert "与第 2 行重复" in exc.value.rows[0].reason
    assert not CouponBatch.objects.exists() and not Coupon.objects.exists()
    with pytest.raises(CouponImportError, match="表头"):
        coupon_batch_import(actor=hq, merchant=hotel, brand=world.brands["mass"], data=BATCH, csv_text="voucher\nA1\n")
    batch = coupon_batch_import(
        actor=hq, merchant=hotel, brand=world.brands["mass"], data=BATCH, csv_text=csv_of("HOTEL-0001", "HOTEL-0002")
    )
    assert batch.coupons.count() == 2 and batch.source == "imported"
    # A second file repeating a code already imported for this partner is refused whole.
    with pytest.raises(CouponImportError) as again:
        coupon_batch_import(
            actor=hq,
            merchant=hotel,
            brand=world.brands["mass"],
            data=BATCH,
            csv_text=csv_of("HOTEL-0009", "HOTEL-0002"),
        )
    assert [(e.row, "已存在" in e.reason) for e in again.value.rows] == [(3, True)]
    assert Coupon.objects.count() == 2


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"value_fen": 0}, "value_fen"),
        ({"value_fen": 99.5}, "value_fen"),
        ({"title": ""}, "title"),
        ({"valid_until": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)}, "valid_until"),
        ({"points_price": -1}, "points_price"),
    ],
)
def test_bad_batch_fields(world: World, hotel: Merchant, over: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as exc:
        coupon_batch_generate(
            actor=world.actor("hq_admin"), merchant=hotel, brand=world.brands["mass"], data={**BATCH, **over}, count=3
        )
    assert exc.value.field == field


def test_generate_and_only_hq_manages_batches(world: World, hotel: Merchant) -> None:
    batch = coupon_batch_generate(
        actor=world.actor("hq_operator"), merchant=hotel, brand=world.brands["mass"], data=BATCH, count=50
    )
    codes = list(batch.coupons.values_list("code", flat=True))
    assert len(set(codes)) == 50 and all(len(c) == 12 for c in codes)
    with pytest.raises(PermissionDenied):
        coupon_batch_generate(
            actor=world.actor("dealer_a1"), merchant=hotel, brand=world.brands["mass"], data=BATCH, count=1
        )
    with pytest.raises(FieldError) as exc:
        coupon_batch_generate(
            actor=world.actor("hq_operator"), merchant=hotel, brand=world.brands["premium"], data=BATCH, count=1
        )
    assert exc.value.field == "brand"


def test_issue_to_tier_once_each_and_until_stock_runs_out(world: World, hotel: Merchant) -> None:
    members = [join(world, p) for p in ("a1_owner", "a2_owner", "a1_other")]
    batch = coupon_batch_import(
        actor=SYSTEM, merchant=hotel, brand=world.brands["mass"], data=BATCH, csv_text=csv_of("H-000001", "H-000002")
    )
    assert coupons_issue_to_tier(actor=SYSTEM, batch=batch, min_tier_rank=0, now=T0) == 2
    assert coupons_issue_to_tier(actor=SYSTEM, batch=batch, min_tier_rank=0, now=T0) == 0  # stock is gone
    issued = set(Coupon.objects.filter(status="issued").values_list("member_id", flat=True))
    assert issued == {members[0].pk, members[1].pk}
    assert DomainEvent.objects.filter(name="coupon_issued").count() == 2
    assert coupons_issue_to_tier(actor=SYSTEM, batch=batch, min_tier_rank=5, now=T0) == 0


def test_member_day_issue_is_idempotent(world: World, hotel: Merchant) -> None:
    member = join(world, "a2_owner")
    batch = coupon_batch_generate(actor=SYSTEM, merchant=hotel, brand=world.brands["mass"], data=BATCH, count=5)
    first = coupon_issue(actor=SYSTEM, batch=batch, member=member, via="member_day", idempotency_key="md-2026-06-18")
    again = coupon_issue(actor=SYSTEM, batch=batch, member=member, via="member_day", idempotency_key="md-2026-06-18")
    assert first.pk == again.pk and Coupon.objects.filter(status="issued").count() == 1
    with pytest.raises(FieldError):
        coupon_issue(actor=SYSTEM, batch=batch, member=member, via="points", idempotency_key="x")


def test_points_exchange_spends_through_the_ledger_once(world: World, hotel: Merchant) -> None:
    member = join(world, "a2_owner")
    points_award(actor=SYSTEM, member=member, amount=500, reason="goodwill", idempotency_key="seed", now=T0)
    batch = coupon_batch_generate(
        actor=SYSTEM, merchant=hotel, brand=world.brands["mass"], data={**BATCH, "points_price": 300}, count=5
    )
    actor = Actor(kind="member", role=Role.MEMBER, label="m", person_id=member.person_id, member_id=member.pk)
    coupon = coupon_exchange(actor=actor, batch_id=batch.pk, idempotency_key="tap-1", now=T0)
    assert coupon_exchange(actor=actor, batch_id=batch.pk, idempotency_key="tap-1", now=T0).pk == coupon.pk
    assert coupon.points_entry_id is not None
    spend = PointsEntry.objects.get(pk=coupon.points_entry_id)
    assert (spend.amount, spend.reason) == (-300, "coupon")
    with pytest.raises(FieldError) as exc:  # 200 left, 300 needed: nothing issued
        coupon_exchange(actor=actor, batch_id=batch.pk, idempotency_key="tap-2", now=T0)
    assert exc.value.field == "amount"
    assert Coupon.objects.filter(status="issued").count() == 1
    no_points = coupon_batch_generate(actor=SYSTEM, merchant=hotel, brand=world.brands["mass"], data=BATCH, count=1)
    with pytest.raises(NotFound):
        coupon_exchange(actor=actor, batch_id=no_points.pk, idempotency_key="tap-3", now=T0)


def _issued(world: World, hotel: Merchant) -> tuple[CouponBatch, Coupon]:
    member = join(world, "a2_owner")
    batch = coupon_batch_import(
        actor=SYSTEM, merchant=hotel, brand=world.brands["mass"], data=BATCH, csv_text=csv_of("QJ-100001", "QJ-100002")
    )
    coupon = coupon_issue(actor=SYSTEM, batch=batch, member=member, via="member_day", idempotency_key="k1")
    return batch, coupon


def test_partner_confirms_with_its_own_key_idempotently(world: World, hotel: Merchant) -> None:
    batch, _ = _issued(world, hotel)
    client, _ = partner_key_create(actor=world.actor("hq_admin"), merchant=hotel, name="全季酒店 PMS")
    partner = actor_for_partner_key(client)
    done = coupon_redeem_confirm(actor=partner, code="qj-100001", idempotency_key="pms-order-778899", now=T0)
    assert done.status == "redeemed"
    assert (
        coupon_redeem_confirm(actor=partner, code="QJ-100001", idempotency_key="pms-order-778899", now=T0).pk == done.pk
    )
    with pytest.raises(FieldError, match=r"已于 .* 核销"):
        coupon_redeem_confirm(actor=partner, code="QJ-100001", idempotency_key="pms-order-000000", now=T0)
    with pytest.raises(FieldError, match="未发放给任何车主"):
        coupon_redeem_confirm(actor=partner, code="QJ-100002", idempotency_key="pms-order-000001", now=T0)
    with pytest.raises(NotFound):
        coupon_redeem_confirm(actor=partner, code="NOPE-0001", idempotency_key="pms-order-000002", now=T0)
    # Another partner's key, or a general integration key, cannot touch these coupons.
    other = MerchantFactory.create(kind="cross_industry", brands=[world.brands["mass"]])
    other_client, _ = partner_key_create(actor=SYSTEM, merchant=other, name="别家")
    with pytest.raises(NotFound):
        coupon_redeem_confirm(actor=actor_for_partner_key(other_client), code="QJ-100001", idempotency_key="x" * 10)
    with pytest.raises(PermissionDenied):
        coupon_redeem_confirm(actor=world.actor("api_dealer_a1"), code="QJ-100001", idempotency_key="x" * 10)
    assert DomainEvent.objects.filter(name="coupon_redeemed").count() == 1
    assert batch.pk


def test_monthly_settlement_in_brand_time_zone(world: World, hotel: Merchant) -> None:
    _, coupon = _issued(world, hotel)
    client, _ = partner_key_create(actor=SYSTEM, merchant=hotel, name="全季酒店 PMS")
    partner = actor_for_partner_key(client)
    # 30 June 16:30 UTC is already 1 July in Shanghai: it settles in July.
    coupon_redeem_confirm(
        actor=partner,
        code=coupon.code,
        idempotency_key="pms-1-xxxx",
        now=dt.datetime(2026, 6, 30, 16, 30, tzinfo=dt.UTC),
    )
    june = coupon_settlement(actor=partner, merchant=hotel, month="2026-06")
    july = coupon_settlement(actor=partner, merchant=hotel, month="2026-07")
    assert (june.redeemed, july.redeemed, july.total_fen) == (0, 1, 10_000)
    assert july.lines[0].title == BATCH["title"]
    assert coupon_settlement(actor=world.actor("hq_admin"), merchant=hotel, month="2026-07").total_fen == 10_000
    other = MerchantFactory.create(kind="cross_industry", brands=[world.brands["mass"]])
    with pytest.raises(PermissionDenied):
        coupon_settlement(actor=partner, merchant=other, month="2026-07")
    with pytest.raises(PermissionDenied):
        coupon_settlement(actor=world.actor("dealer_a1"), merchant=hotel, month="2026-07")
    with pytest.raises(FieldError):
        coupon_settlement(actor=partner, merchant=hotel, month="2026-13")


def test_partner_api_redeem_and_settlement(world: World, hotel: Merchant) -> None:
    _, coupon = _issued(world, hotel)
    _, token = partner_key_create(actor=SYSTEM, merchant=hotel, name="全季酒店 PMS")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    no_key = api.post("/api/v1/partners/coupons/redeem", {"code": coupon.code}, content_type="application/json")
    assert no_key.status_code == 400 and no_key.json()["error"]["code"] == "idempotency_key_required"
    headers = {"Idempotency-Key": "pms-order-123456"}
    first = api.post(
        "/api/v1/partners/coupons/redeem", {"code": coupon.code}, content_type="application/json", headers=headers
    )
    again = api.post(
        "/api/v1/partners/coupons/redeem", {"code": coupon.code}, content_type="application/json", headers=headers
    )
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == "redeemed" and first.json() == again.json()
    month = first.json()["redeemed_at"][:7]
    settlement = api.get("/api/v1/partners/coupons/settlement", {"month": month}).json()
    assert (settlement["redeemed"], settlement["total_fen"]) == (1, 10_000)
    # A general integration key is not a partner key; the partner key opens nothing else.
    assert api.get("/api/v1/persons").status_code == 401
    assert api.get("/api/v1/partners/merchants").status_code == 401
    other = Client(HTTP_AUTHORIZATION=f"Bearer {world.api_tokens['api_dealer_a1']}")
    refused = other.post(
        "/api/v1/partners/coupons/redeem", {"code": coupon.code}, content_type="application/json", headers=headers
    )
    assert refused.status_code == 401


def test_issue_to_a_segment_by_series_dealer_and_city(world: World, hotel: Merchant) -> None:
    # given members of the mass program: a1_owner (星河 S7 from A1), a2_owner (星河 S7 from A2, 上海市)
    # and a1_other (a premium car only)
    s7_a1, s7_a2, premium_only = (join(world, p) for p in ("a1_owner", "a2_owner", "a1_other"))
    codes = [f"S-{i:06d}" for i in range(10)]
    batch = coupon_batch_import(
        actor=SYSTEM, merchant=hotel, brand=world.brands["mass"], data=BATCH, csv_text=csv_of(*codes)
    )

    def holders() -> set[int | None]:
        return set(Coupon.objects.filter(batch=batch, status="issued").values_list("member_id", flat=True))

    # when HQ issues to the dealer A2's owners, then only a2_owner gets one
    assert coupons_issue_to_segment(actor=SYSTEM, batch=batch, segment=Segment(dealer_codes=("A2",)), now=T0) == 1
    assert holders() == {s7_a2.pk}
    # and to every current 星河 S7 owner: a1_owner is topped up, a2_owner is not issued twice
    assert coupons_issue_to_segment(actor=SYSTEM, batch=batch, segment=Segment(series=("星河 S7",)), now=T0) == 1
    assert holders() == {s7_a1.pk, s7_a2.pk}
    # and a city filter on its own selects by the person's city
    assert coupons_issue_to_segment(actor=SYSTEM, batch=batch, segment=Segment(cities=("上海市",)), now=T0) == 0
    assert premium_only.pk not in holders()
    assert set(Coupon.objects.filter(batch=batch, status="issued").values_list("issued_via", flat=True)) == {"segment"}


@pytest.mark.parametrize(
    ("segment", "field"),
    [
        (Segment(series=("极境 E9",)), "series"),  # a premium series, not the batch's brand
        (Segment(dealer_codes=("ZZ9",)), "dealer_codes"),
        (Segment(cities=("",)), "cities"),
        (Segment(min_tier_rank=-1), "min_tier_rank"),
    ],
)
def test_a_bad_segment_names_its_field_and_issues_nothing(
    world: World, hotel: Merchant, segment: Segment, field: str
) -> None:
    join(world, "a1_owner")
    batch = coupon_batch_import(
        actor=SYSTEM, merchant=hotel, brand=world.brands["mass"], data=BATCH, csv_text=csv_of("B-000001")
    )
    with pytest.raises(FieldError) as exc:
        coupons_issue_to_segment(actor=SYSTEM, batch=batch, segment=segment, now=T0)
    assert exc.value.field == field
    assert not Coupon.objects.filter(batch=batch, status="issued").exists()


def test_issue_over_the_api_is_hq_only(world: World, hotel: Merchant) -> None:
    join(world, "a1_owner")
    join(world, "a2_owner")
    batch = coupon_batch_import(
        actor=SYSTEM,
        merchant=hotel,
        brand=world.brands["mass"],
        data=BATCH,
        csv_text=csv_of(*(f"A-{i:06d}" for i in range(3))),
    )
    url = f"/api/v1/partners/coupon-batches/{batch.pk}/issue"
    dealer = Client()
    dealer.force_login(world.staff["dealer_a1"].user)
    assert dealer.post(url, {"series": ["星河 S7"]}, content_type="application/json").status_code == 403
    hq = Client()
    hq.force_login(world.staff["hq_admin"].user)
    bad = hq.post(url, {"dealer_codes": ["NOPE"]}, content_type="application/json")
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "dealer_codes"
    ok = hq.post(url, {"series": ["星河 S7"], "dealer_codes": ["A1"]}, content_type="application/json")
    assert ok.status_code == 200 and ok.json() == {"batch_id": batch.pk, "issued": 1, "available": 2}
    assert hq.post(url, {"series": ["星河 S7"]}, content_type="application/json").json()["issued"] == 1  # tops up
    assert (
        hq.post("/api/v1/partners/coupon-batches/999999/issue", {}, content_type="application/json").status_code == 404
    )

"""Saved member segments: named filters with a live count, reused to issue coupon batches (service,
console, API `segment_id`), audited, and scoped — a dealer's segment never reaches past its dealer."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.events import publish
from hufen.common.models import AuditEvent, DomainEvent
from hufen.membership.models import Member
from hufen.membership.services import member_join
from hufen.partners.coupons import coupon_batch_generate, coupons_issue_to_saved_segment
from hufen.partners.models import Coupon, CouponBatch, Merchant, SavedSegment
from hufen.partners.segments import Segment, segment_archive, segment_count, segment_get, segment_save
from hufen.partners.tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db
BATCH = {
    "title": "无人机体验券",
    "value_fen": 20_000,
    "valid_from": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    "valid_until": dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
}


@pytest.fixture
def members(world: World) -> dict[str, Member]:
    return {
        p: member_join(actor=SYSTEM, person=world.persons[p], brand=world.brands["mass"], channel="api")
        for p in ("a1_owner", "a1_other", "a2_owner")
    }


@pytest.fixture
def batch(world: World) -> CouponBatch:
    drone: Merchant = MerchantFactory.create(
        kind="cross_industry", name="大疆体验店", scenario="entertainment", brands=[world.brands["mass"]]
    )
    return coupon_batch_generate(actor=SYSTEM, merchant=drone, brand=world.brands["mass"], data=BATCH, count=10)


def test_hq_saves_a_segment_with_a_live_count_and_reuses_it(
    world: World, members: dict[str, Member], batch: CouponBatch
) -> None:
    hq = world.actor("hq_admin")
    mass = world.brands["mass"]
    saved, count = segment_save(actor=hq, brand=mass, name="上海车主", segment=Segment(cities=("上海市",)))
    assert count == 1
    assert AuditEvent.objects.filter(action="segment.save", object_id=str(saved.pk)).exists()
    assert DomainEvent.objects.filter(name="segment_saved").count() == 1
    with pytest.raises(FieldError) as dup:
        segment_save(actor=hq, brand=mass, name="上海车主", segment=Segment())
    assert dup.value.field == "name"
    with pytest.raises(FieldError) as bad:
        segment_save(actor=hq, brand=mass, name="错误车系", segment=Segment(series=("不存在",)))
    assert bad.value.field == "series" and not SavedSegment.objects.filter(name="错误车系").exists()
    # The count is live: a new member in Shanghai joins the segment.
    world.persons["a1_other"].city = "上海市"
    world.persons["a1_other"].save(update_fields=["city"])
    assert segment_count(actor=hq, saved=saved) == 2
    assert coupons_issue_to_saved_segment(actor=hq, batch=batch, segment_id=saved.pk) == 2
    issued = set(Coupon.objects.filter(batch=batch, status="issued").values_list("member_id", flat=True))
    assert issued == {members["a2_owner"].pk, members["a1_other"].pk}
    entry = AuditEvent.objects.get(action="coupon_batch.issued_to_segment")
    assert entry.summary["segment_id"] == saved.pk and entry.summary["issued"] == 2
    segment_archive(actor=hq, segment_id=saved.pk)
    with pytest.raises(NotFound):
        segment_get(actor=hq, segment_id=saved.pk)


def test_member_since_and_recent_activity(world: World, members: dict[str, Member]) -> None:
    hq = world.actor("hq_admin")
    mass = world.brands["mass"]
    Member.objects.filter(pk=members["a1_owner"].pk).update(joined_at=dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
    _, count = segment_save(actor=hq, brand=mass, name="老会员", segment=Segment(member_since=dt.date(2025, 1, 1)))
    assert count == 1
    # Active: a fact the owner caused (not the platform's own jobs) in the last 30 days. Joining
    # was one; move those into the past so only the facts below count.
    DomainEvent.objects.update(ts=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    publish("coupon_issued", person_id=world.persons["a1_other"].pk)  # system channel: not activity
    publish("offer_redeemed", person_id=world.persons["a2_owner"].pk, channel="merchant")
    publish(
        "offer_redeemed",
        person_id=world.persons["a1_owner"].pk,
        channel="merchant",
        ts=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    )
    _, count = segment_save(actor=hq, brand=mass, name="近30天活跃", segment=Segment(active_within_days=30))
    assert count == 1
    with pytest.raises(FieldError) as bad:
        segment_save(actor=hq, brand=mass, name="坏天数", segment=Segment(active_within_days=0))
    assert bad.value.field == "active_within_days"


def test_a_dealer_segment_stays_inside_the_dealer_scope(
    world: World, members: dict[str, Member], batch: CouponBatch
) -> None:
    dealer = world.actor("dealer_a1")
    mass = world.brands["mass"]
    # A dealer cannot name another dealer's code ...
    with pytest.raises(FieldError) as outside:
        segment_save(actor=dealer, brand=mass, name="A2 车主", segment=Segment(dealer_codes=("A2",)))
    assert outside.value.field == "dealer_codes"
    # ... and "everyone" means everyone it can see: A1's two mass members, not A2's.
    mine, count = segment_save(actor=dealer, brand=mass, name="A1 全部车主", segment=Segment())
    assert count == 2 and mine.owner_dealer_id == world.dealers["A1"].pk
    hq_segment, hq_count = segment_save(actor=world.actor("hq_admin"), brand=mass, name="全部", segment=Segment())
    assert hq_count == 3
    # Other dealers and butlers do not see it; the dealer does not see HQ's.
    with pytest.raises(NotFound):
        segment_get(actor=world.actor("dealer_b1"), segment_id=mine.pk)
    with pytest.raises(NotFound):
        segment_get(actor=dealer, segment_id=hq_segment.pk)
    with pytest.raises(PermissionDenied):
        segment_save(actor=world.actor("butler_a1"), brand=mass, name="网格", segment=Segment())
    assert segment_get(actor=world.actor("region_east"), segment_id=mine.pk) == mine
    # Issuing stays with HQ; HQ issuing to the dealer's segment reaches only the dealer's members.
    with pytest.raises(PermissionDenied):
        coupons_issue_to_saved_segment(actor=dealer, batch=batch, segment_id=mine.pk)
    assert coupons_issue_to_saved_segment(actor=world.actor("hq_admin"), batch=batch, segment_id=mine.pk) == 2
    assert not Coupon.objects.filter(batch=batch, member_id=members["a2_owner"].pk).exists()


def test_segment_of_another_brand_is_refused(world: World, members: dict[str, Member], batch: CouponBatch) -> None:
    premium, _ = segment_save(
        actor=world.actor("hq_admin"), brand=world.brands["premium"], name="极境", segment=Segment()
    )
    with pytest.raises(FieldError) as exc:
        coupons_issue_to_saved_segment(actor=world.actor("hq_admin"), batch=batch, segment_id=premium.pk)
    assert exc.value.field == "segment_id"
    assert not Coupon.objects.filter(batch=batch, status="issued").exists()


def test_api_saves_lists_and_issues_by_segment_id(world: World, members: dict[str, Member], batch: CouponBatch) -> None:
    hq = Client()
    hq.force_login(world.staff["hq_admin"].user)
    created = hq.post(
        "/api/v1/partners/segments",
        {"brand": "mass", "name": "杭州以外", "cities": ["上海市"]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["count"] == 1 and body["filters"]["cities"] == ["上海市"]
    listed = hq.get("/api/v1/partners/segments").json()["items"]
    assert [(s["name"], s["count"]) for s in listed] == [("杭州以外", 1)]
    both = hq.post(
        f"/api/v1/partners/coupon-batches/{batch.pk}/issue",
        {"segment_id": body["id"], "min_tier_rank": 1},
        content_type="application/json",
    )
    assert both.status_code == 422 and both.json()["error"]["details"]["field"] == "segment_id"
    issued = hq.post(
        f"/api/v1/partners/coupon-batches/{batch.pk}/issue", {"segment_id": body["id"]}, content_type="application/json"
    )
    assert issued.json() == {"batch_id": batch.pk, "issued": 1, "available": 9}
    dealer = Client()
    dealer.force_login(world.staff["dealer_a1"].user)
    assert dealer.get("/api/v1/partners/segments").json()["items"] == []
    hidden = dealer.post(
        f"/api/v1/partners/coupon-batches/{batch.pk}/issue", {"segment_id": body["id"]}, content_type="application/json"
    )
    assert hidden.status_code == 403


def test_console_segments_page_and_issue_form(world: World, members: dict[str, Member], batch: CouponBatch) -> None:
    hq = Client()
    hq.force_login(world.staff["hq_admin"].user)
    response = hq.post(
        "/console/partners/segments/",
        {"action": "save", "name": "上海车主", "brand": "mass", "cities": "上海市", "min_tier_rank": "0"},
    )
    assert response.status_code == 302
    page = hq.get("/console/partners/segments/").content.decode()
    assert "上海车主" in page and 'data-testid="segment-count">1<' in page
    bad = hq.post(
        "/console/partners/segments/", {"action": "save", "name": "错", "brand": "mass", "series": "无此车系"}
    )
    assert bad.status_code == 422 and 'data-field="series"' in bad.content.decode()
    saved = SavedSegment.objects.get(name="上海车主")
    merchant_url = f"/console/partners/merchants/{batch.merchant_id}/"
    assert "上海车主" in hq.get(merchant_url).content.decode()
    issued = hq.post(merchant_url, {"action": "issue", "batch": batch.pk, "segment_id": saved.pk})
    assert issued.status_code == 302
    assert Coupon.objects.get(batch=batch, status="issued").member_id == members["a2_owner"].pk
    butler = Client()
    butler.force_login(world.staff["butler_a1"].user)
    assert butler.get("/console/partners/segments/").status_code == 403

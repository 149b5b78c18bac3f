"""Coupons on Member Day: HQ attaches a batch to a Member Day (or every Member Day), the reaction to
`memberday_checked_in` issues one coupon per member and occurrence, within stock and tier, visible
in the portal at once; replays and concurrent jobs issue once."""

from __future__ import annotations

import datetime as dt
from functools import partial

import pytest
from django.test import Client

from conftest import World
from hufen.common import scheduler
from hufen.common.actors import SYSTEM
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.models import AuditEvent, DomainEvent
from hufen.memberday.checkin import memberday_check_in
from hufen.memberday.tests.helpers import NOON, join, member_actor, schedule
from hufen.membership.models import Member, TierDefinition
from hufen.partners.coupons import coupon_batch_generate
from hufen.partners.memberday_coupons import (
    LOOKBACK,
    memberday_coupon_attach,
    memberday_coupon_detach,
    memberday_coupons_issue,
)
from hufen.partners.models import Coupon, CouponBatch, MemberDayCouponGrant, Merchant, ReactionCursor
from hufen.partners.tasks import memberday_coupons_task
from hufen.partners.tests.factories import MerchantFactory
from hufen.portal.tests.helpers import signed_in_client
from hufen.testing.concurrency import race, require_postgres

pytestmark = pytest.mark.django_db
BATCH = {
    "title": "全季酒店会员日券",
    "value_fen": 5_000,
    "valid_from": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    "valid_until": dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
}


@pytest.fixture
def hotel(world: World) -> Merchant:
    m: Merchant = MerchantFactory.create(
        kind="cross_industry",
        name="全季酒店",
        scenario="travel",
        brands=[world.brands["mass"], world.brands["premium"]],
    )
    return m


def batch_of(world: World, hotel: Merchant, count: int = 10, brand: str = "mass") -> CouponBatch:
    return coupon_batch_generate(actor=SYSTEM, merchant=hotel, brand=world.brands[brand], data=BATCH, count=count)


def check_in(member: Member) -> None:
    memberday_check_in(actor=member_actor(member), member_id=member.pk, now=NOON)


def test_hq_attaches_a_batch_and_bad_attachments_are_refused(world: World, hotel: Merchant) -> None:
    (occurrence,) = schedule(world)
    (premium_day,) = schedule(world, "premium")
    batch = batch_of(world, hotel)
    with pytest.raises(PermissionDenied):
        memberday_coupon_attach(actor=world.actor("dealer_a1"), batch=batch, occurrence_id=occurrence.pk)
    with pytest.raises(FieldError) as other_brand:
        memberday_coupon_attach(actor=world.actor("hq_admin"), batch=batch, occurrence_id=premium_day.pk)
    assert other_brand.value.field == "occurrence"
    with pytest.raises(FieldError, match="999999"):
        memberday_coupon_attach(actor=world.actor("hq_admin"), batch=batch, occurrence_id=999_999)
    with pytest.raises(FieldError) as tier:
        memberday_coupon_attach(actor=world.actor("hq_admin"), batch=batch, occurrence_id=None, min_tier_rank=-1)
    assert tier.value.field == "min_tier_rank"
    expired = coupon_batch_generate(
        actor=SYSTEM,
        merchant=hotel,
        brand=world.brands["mass"],
        data={**BATCH, "valid_until": dt.datetime(2026, 6, 1, tzinfo=dt.UTC)},
        count=2,
    )
    with pytest.raises(FieldError, match="不在有效期内"):
        memberday_coupon_attach(actor=world.actor("hq_admin"), batch=expired, occurrence_id=occurrence.pk)
    link = memberday_coupon_attach(actor=world.actor("hq_admin"), batch=batch, occurrence_id=occurrence.pk)
    with pytest.raises(FieldError, match="已关联"):
        memberday_coupon_attach(actor=world.actor("hq_admin"), batch=batch, occurrence_id=occurrence.pk)
    assert AuditEvent.objects.filter(action="memberday_coupon.attach", object_id=str(link.pk)).exists()
    assert DomainEvent.objects.filter(name="memberday_coupon_attached").count() == 1


def test_a_member_who_checks_in_gets_one_coupon_and_sees_it_in_the_portal(world: World, hotel: Merchant) -> None:
    # Given a batch attached to the Member Day and a member who checks in
    (occurrence,) = schedule(world)
    batch = batch_of(world, hotel)
    memberday_coupon_attach(actor=world.actor("hq_admin"), batch=batch, occurrence_id=occurrence.pk)
    member = join(world, "a2_owner")
    check_in(member)
    # When the reaction runs (twice, and once more from the very first event)
    first = memberday_coupons_issue()
    again = memberday_coupons_issue()
    ReactionCursor.objects.update(position=0, pending_at=None)
    replay = memberday_coupons_issue()
    # Then exactly one coupon was issued, via member_day, with its event
    assert first.outcomes == {"issued": 1}
    assert again.outcomes == {} and again.already_decided == 1
    assert replay.outcomes == {} and replay.already_decided == 1
    coupon = Coupon.objects.get(batch=batch, person_id=member.person_id)
    assert (coupon.status, coupon.issued_via, coupon.member_id) == ("issued", "member_day", member.pk)
    issued = DomainEvent.objects.get(name="coupon_issued")
    assert issued.person_id == member.person_id and issued.properties["via"] == "member_day"
    grant = MemberDayCouponGrant.objects.get()
    assert (grant.outcome, grant.coupon_id, grant.occurrence_id) == ("issued", coupon.pk, occurrence.pk)
    # And the owner sees the code at once in the portal
    client, _ = signed_in_client(world, "a2_owner", "mass")
    page = client.get("/m/perks/mine/").content.decode()
    assert coupon.code in page and batch.title in page


def test_tier_target_stock_and_members_of_other_brands(world: World, hotel: Merchant) -> None:
    (occurrence,) = schedule(world)
    schedule(world, "premium")
    one_left = batch_of(world, hotel, count=1)
    gold_only = batch_of(world, hotel, count=5)
    memberday_coupon_attach(actor=world.actor("hq_admin"), batch=one_left, occurrence_id=occurrence.pk)
    first, second = join(world, "a1_owner"), join(world, "a2_owner")
    gold = TierDefinition.objects.get(program_id=first.program_id, code="gold")
    memberday_coupon_attach(actor=world.actor("hq_admin"), batch=gold_only, occurrence_id=None, min_tier_rank=gold.rank)
    Member.objects.filter(pk=second.pk).update(tier=gold)
    premium = join(world, "b1_owner", "premium")
    for member in (first, second, premium):
        check_in(member)
    result = memberday_coupons_issue()
    # One coupon left: the first check-in gets it, the second is out of stock; only gold gets gold_only.
    assert result.outcomes == {"issued": 2, "out_of_stock": 1, "below_tier": 1}
    assert Coupon.objects.get(batch=one_left, status="issued").member_id == first.pk
    assert list(Coupon.objects.filter(batch=gold_only, status="issued").values_list("member_id", flat=True)) == [
        second.pk
    ]
    assert not Coupon.objects.filter(person_id=premium.person_id).exists()
    assert set(MemberDayCouponGrant.objects.values_list("outcome", flat=True)) == {
        "issued",
        "out_of_stock",
        "below_tier",
    }


def test_a_recurring_attachment_issues_on_every_member_day_and_detach_stops_it(world: World, hotel: Merchant) -> None:
    nov, dec = schedule(world, months=2)
    batch = batch_of(world, hotel)
    link = memberday_coupon_attach(actor=world.actor("hq_admin"), batch=batch, occurrence_id=None)
    member = join(world, "a2_owner")
    check_in(member)
    memberday_check_in(actor=member_actor(member), member_id=member.pk, now=NOON + dt.timedelta(days=31))
    assert memberday_coupons_issue().outcomes == {"issued": 2}
    assert set(MemberDayCouponGrant.objects.values_list("occurrence_id", flat=True)) == {nov.pk, dec.pk}
    memberday_coupon_detach(actor=world.actor("hq_admin"), link_id=link.pk)
    with pytest.raises(NotFound):
        memberday_coupon_detach(actor=world.actor("hq_admin"), link_id=link.pk)
    other = join(world, "a1_owner")
    check_in(other)
    assert memberday_coupons_issue().outcomes == {}
    assert not Coupon.objects.filter(member_id=other.pk).exists()


def test_a_check_in_before_the_attachment_earns_nothing(world: World, hotel: Merchant) -> None:
    (occurrence,) = schedule(world)
    batch = batch_of(world, hotel)
    link = memberday_coupon_attach(actor=world.actor("hq_admin"), batch=batch, occurrence_id=occurrence.pk)
    type(link).objects.filter(pk=link.pk).update(created_at=NOON + dt.timedelta(hours=1))
    early, late = join(world, "a1_owner"), join(world, "a2_owner")
    check_in(early)
    memberday_check_in(actor=member_actor(late), member_id=late.pk, now=NOON + dt.timedelta(hours=2))
    assert memberday_coupons_issue().outcomes == {"issued": 1}
    assert Coupon.objects.get(batch=batch, status="issued").member_id == late.pk


def test_the_cursor_moves_past_events_only_after_the_look_back(world: World, hotel: Merchant) -> None:
    (occurrence,) = schedule(world)
    memberday_coupon_attach(actor=world.actor("hq_admin"), batch=batch_of(world, hotel), occurrence_id=occurrence.pk)
    check_in(join(world, "a2_owner"))
    t0 = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)
    assert memberday_coupons_issue(now=t0).outcomes == {"issued": 1}
    cursor = ReactionCursor.objects.get()
    highest = DomainEvent.objects.filter(name="memberday_checked_in").latest("id").pk
    assert (cursor.position, cursor.pending_position) == (0, highest)
    # Within the look-back the same events are read again (and found decided) ...
    assert memberday_coupons_issue(now=t0 + LOOKBACK / 2).already_decided == 1
    # ... after it the cursor moves past them and they are not read again.
    later = memberday_coupons_issue(now=t0 + LOOKBACK)
    assert later.position == highest and later.events == 0


def test_the_job_is_registered_with_the_scheduler(world: World, hotel: Merchant) -> None:
    job = {j.name: j for j in scheduler.jobs()}["partners.memberday_coupons"]
    assert job.action is memberday_coupons_task and job.every == dt.timedelta(minutes=1)
    (occurrence,) = schedule(world)
    memberday_coupon_attach(actor=world.actor("hq_admin"), batch=batch_of(world, hotel), occurrence_id=occurrence.pk)
    check_in(join(world, "a2_owner"))
    with pytest.raises(PermissionDenied):
        memberday_coupons_issue(actor=world.actor("dealer_a1"))
    assert memberday_coupons_task.call()["outcomes"] == {"issued": 1}


def test_console_attach_form_is_hq_only(world: World, hotel: Merchant) -> None:
    (occurrence,) = schedule(world)
    batch = batch_of(world, hotel)
    hq = Client()
    hq.force_login(world.staff["hq_admin"].user)
    url = f"/console/partners/merchants/{hotel.pk}/"
    page = hq.get(url).content.decode()
    assert 'data-testid="memberday-coupon-form"' in page and occurrence.title in page
    response = hq.post(
        url, {"action": "memberday_attach", "batch": batch.pk, "occurrence": occurrence.pk, "min_tier_rank": "0"}
    )
    assert response.status_code == 302
    page = hq.get(url).content.decode()
    assert 'data-testid="memberday-coupon-link"' in page
    bad = hq.post(url, {"action": "memberday_attach", "batch": batch.pk, "occurrence": occurrence.pk})
    assert bad.status_code == 422
    dealer = Client()
    dealer.force_login(world.staff["dealer_a1"].user)
    refused = dealer.post(url, {"action": "memberday_attach", "batch": batch.pk, "occurrence": ""})
    assert refused.status_code == 404  # a dealer does not even see the cross-industry partner
    assert batch.memberday_links.count() == 1


def test_api_attaches_a_batch_to_member_day(world: World, hotel: Merchant) -> None:
    (occurrence,) = schedule(world)
    batch = batch_of(world, hotel)
    url = f"/api/v1/partners/coupon-batches/{batch.pk}/member-day"
    dealer = Client()
    dealer.force_login(world.staff["dealer_a1"].user)
    assert dealer.post(url, {"occurrence_id": occurrence.pk}, content_type="application/json").status_code == 403
    hq = Client()
    hq.force_login(world.staff["hq_admin"].user)
    created = hq.post(url, {"occurrence_id": occurrence.pk, "min_tier_rank": 1}, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json() == {
        "id": created.json()["id"],
        "batch_id": batch.pk,
        "occurrence_id": occurrence.pk,
        "min_tier_rank": 1,
        "active": True,
    }
    again = hq.post(url, {"occurrence_id": occurrence.pk}, content_type="application/json")
    assert again.status_code == 422 and again.json()["error"]["details"]["field"] == "occurrence"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_jobs_issue_one_coupon_per_member_and_occurrence(world: World, hotel: Merchant) -> None:
    require_postgres()
    (occurrence,) = schedule(world)
    batch = batch_of(world, hotel, count=20)
    memberday_coupon_attach(actor=world.actor("hq_admin"), batch=batch, occurrence_id=occurrence.pk)
    members = [join(world, p) for p in ("a1_owner", "a1_other", "a2_owner")]
    for member in members:
        check_in(member)
    results = race([partial(memberday_coupons_issue) for _ in range(6)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Coupon.objects.filter(batch=batch, status="issued").count() == 3
    holders = set(Coupon.objects.filter(batch=batch, status="issued").values_list("member_id", flat=True))
    assert holders == {m.pk for m in members}
    assert MemberDayCouponGrant.objects.count() == 3
    assert DomainEvent.objects.filter(name="coupon_issued").count() == 3

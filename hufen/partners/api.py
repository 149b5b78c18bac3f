"""Partner endpoints at /api/v1/partners/: a partner confirms coupon redemptions and reads its
monthly settlement with its own key; HQ, regions and dealers read merchants and value reports."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.errors import AuthenticationError
from ninja.responses import Status
from ninja.security import HttpBearer

from hufen.api.auth import API_AUTH, actor_of
from hufen.api.errors import ApiError, with_errors
from hufen.api.idempotency import idempotency_key, run_idempotent
from hufen.api.pagination import PageParams, paginate
from hufen.common.actors import Actor
from hufen.common.errors import FieldError, NotFound
from hufen.org.models import Brand
from hufen.partners.coupons import (
    Segment,
    actor_for_partner_key,
    coupon_batch_generate,
    coupon_batch_import,
    coupon_redeem_confirm,
    coupon_settlement,
    coupons_issue_to_saved_segment,
    coupons_issue_to_segment,
    partner_key_authenticate,
    partner_of,
)
from hufen.partners.memberday_coupons import memberday_coupon_attach
from hufen.partners.models import CouponBatch, Merchant, Offer, SavedSegment
from hufen.partners.offers import offer_create
from hufen.partners.reports import brand_monthly_value, value_report
from hufen.partners.segments import filters_of, saved_segment_members, segment_save, segments_visible_to
from hufen.partners.selectors import merchant_get, merchants_visible_to
from hufen.partners.services import merchant_review, merchant_set_status

router = Router(tags=["partners"])


class PartnerKeyAuth(HttpBearer):
    """`Authorization: Bearer hp_...`: a partner's own key. Other bearer tokens fall through to the
    API's usual schemes; a wrong `hp_` token is a 401."""

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get(self.header, "")
        if not header.lower().startswith("bearer hp_"):
            return None
        actor = super().__call__(request)
        if actor is None:
            raise AuthenticationError()
        return actor

    def authenticate(self, request: HttpRequest, token: str) -> Actor | None:
        key = partner_key_authenticate(token.strip())
        if key is None:
            return None
        actor = actor_for_partner_key(key)
        request.actor = actor  # type: ignore[attr-defined]
        return actor


PARTNER_AUTH = [PartnerKeyAuth()]
PARTNER_OR_STAFF = [PartnerKeyAuth(), *API_AUTH]
MONTH = Field(..., pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM in the brand's time zone")


class RedeemIn(Schema):
    code: str = Field(..., min_length=6, max_length=32)


class CouponOut(Schema):
    code: str
    status: str
    batch: str
    value_fen: int
    redeemed_at: dt.datetime | None


@router.post(
    "/coupons/redeem",
    response=with_errors({200: CouponOut}, 409),
    summary="Confirm a coupon redemption (partner key; Idempotency-Key required)",
    auth=PARTNER_AUTH,
)
def coupons_redeem(request: HttpRequest, payload: RedeemIn) -> CouponOut:
    key = idempotency_key(request)
    if key is None:
        raise ApiError(
            400, "idempotency_key_required", "Send an Idempotency-Key header: a retry must not redeem twice."
        )
    coupon = coupon_redeem_confirm(actor=actor_of(request), code=payload.code, idempotency_key=key)
    return CouponOut(
        code=coupon.code,
        status=coupon.status,
        batch=coupon.batch.title,
        value_fen=coupon.batch.value_fen,
        redeemed_at=coupon.redeemed_at,
    )


class SettlementLineOut(Schema):
    batch_id: int
    title: str
    value_fen: int
    redeemed: int
    total_fen: int


class SettlementOut(Schema):
    merchant_id: int
    month: str
    redeemed: int
    total_fen: int
    lines: list[SettlementLineOut]


class SettlementQuery(Schema):
    month: str = MONTH
    merchant_id: int | None = Field(None, ge=1, le=2**63 - 1, description="HQ only; a partner key reads its own")


@router.get(
    "/coupons/settlement",
    response=with_errors({200: SettlementOut}),
    summary="Monthly coupon settlement",
    auth=PARTNER_OR_STAFF,
)
def coupons_settlement(request: HttpRequest, q: Query[SettlementQuery]) -> SettlementOut:
    actor = actor_of(request)
    if q.merchant_id is None:
        merchant = partner_of(actor)
    else:
        found = Merchant.objects.filter(pk=q.merchant_id).first()
        if found is None:
            raise NotFound(f"merchant {q.merchant_id} does not exist")
        merchant = found
    s = coupon_settlement(actor=actor, merchant=merchant, month=q.month)
    return SettlementOut(
        merchant_id=s.merchant_id,
        month=s.month,
        redeemed=s.redeemed,
        total_fen=s.total_fen,
        lines=[SettlementLineOut(**line.__dict__) for line in s.lines],
    )


class MerchantOut(Schema):
    id: int
    kind: str
    name: str
    credit_code: str
    scenario: str
    city: str
    district: str
    status: str
    latitude: float
    longitude: float

    @staticmethod
    def of(m: Merchant) -> MerchantOut:
        return MerchantOut(
            id=m.pk,
            kind=m.kind,
            name=m.name,
            credit_code=m.credit_code,
            scenario=m.scenario,
            city=m.city,
            district=m.district,
            status=m.status,
            latitude=float(m.latitude),
            longitude=float(m.longitude),
        )


class MerchantPageOut(Schema):
    items: list[MerchantOut]
    next_cursor: str | None


@router.get("/merchants", response=with_errors({200: MerchantPageOut}), summary="Partner merchants in your scope")
def merchants_list(request: HttpRequest, params: Query[PageParams]) -> MerchantPageOut:
    page = paginate(merchants_visible_to(actor_of(request)), params=params, listing="partners.merchants")
    return MerchantPageOut(items=[MerchantOut.of(m) for m in page.items], next_cursor=page.next_cursor)


@router.get("/merchants/{int:merchant_id}", response=with_errors({200: MerchantOut}), summary="One partner merchant")
def merchants_get(request: HttpRequest, merchant_id: int) -> MerchantOut:
    if merchant_id > 2**63 - 1:
        raise NotFound(f"merchant {merchant_id} does not exist")
    return MerchantOut.of(merchant_get(actor=actor_of(request), merchant_id=merchant_id))


class ValueRowOut(Schema):
    key: str
    merchant_id: int | None
    visits: int
    unique_owners: int
    repeat_rate: float
    perk_value_fen: int
    coupons_redeemed: int
    coupon_value_fen: int
    value_fen: int


class ValueQuery(Schema):
    month: str = MONTH
    by: str = Field("city", pattern="^(merchant|city|scenario)$")
    brand: str | None = Field(None, max_length=32)


class ValueOut(Schema):
    month: str
    by: str
    brand: str | None
    brand_value_fen: int | None = Field(None, description="The brand's monthly value created for owners")
    rows: list[ValueRowOut]


@router.get("/value", response=with_errors({200: ValueOut}), summary="Value created for owners")
def value(request: HttpRequest, q: Query[ValueQuery]) -> ValueOut:
    actor = actor_of(request)
    brand = None
    if q.brand:
        brand = Brand.objects.filter(code=q.brand).first()
        if brand is None:
            raise NotFound(f"brand {q.brand!r} does not exist")
    rows = value_report(actor=actor, month=q.month, by=q.by, brand=brand)
    total = brand_monthly_value(actor=actor, brand=brand, month=q.month).value_fen if brand else None
    return ValueOut(
        month=q.month,
        by=q.by,
        brand=q.brand,
        brand_value_fen=total,
        rows=[
            ValueRowOut(
                key=r.key,
                merchant_id=r.merchant_id,
                visits=r.visits,
                unique_owners=r.unique_owners,
                repeat_rate=r.repeat_rate,
                perk_value_fen=r.perk_value_fen,
                coupons_redeemed=r.coupons_redeemed,
                coupon_value_fen=r.coupon_value_fen,
                value_fen=r.value_fen,
            )
            for r in rows
        ],
    )


# --- HQ and dealers: review, status, offers, coupon batches ---------------------------------------


class ReviewIn(Schema):
    approve: bool
    reason: str = Field("", max_length=300)


@router.post(
    "/merchants/{int:merchant_id}/review", response=with_errors({200: MerchantOut}), summary="Review an application"
)
def merchants_review(request: HttpRequest, merchant_id: int, payload: ReviewIn) -> MerchantOut:
    actor = actor_of(request)
    merchant = merchant_get(actor=actor, merchant_id=min(merchant_id, 2**63 - 1))
    return MerchantOut.of(
        merchant_review(actor=actor, merchant=merchant, approve=payload.approve, reason=payload.reason)
    )


class StatusIn(Schema):
    status: str = Field(..., pattern="^(active|suspended)$")
    reason: str = Field(..., min_length=1, max_length=300)


@router.post(
    "/merchants/{int:merchant_id}/status", response=with_errors({200: MerchantOut}), summary="Suspend or reinstate"
)
def merchants_status(request: HttpRequest, merchant_id: int, payload: StatusIn) -> MerchantOut:
    actor = actor_of(request)
    merchant = merchant_get(actor=actor, merchant_id=min(merchant_id, 2**63 - 1))
    return MerchantOut.of(
        merchant_set_status(actor=actor, merchant=merchant, status=payload.status, reason=payload.reason)
    )


class OfferIn(Schema):
    title: str = Field(..., max_length=80)
    kind: str = Field(..., description="percent | fixed | free_item")
    percent_off: int | None = None
    amount_fen: int | None = None
    min_bill_fen: int | None = None
    max_discount_fen: int | None = None
    item_name: str = ""
    item_value_fen: int | None = None
    min_tier_rank: int | None = None
    brand_id: int | None = None
    series: str = ""
    first_visit_only: bool = False
    per_owner_per_day: int | None = None
    per_owner_per_month: int | None = None
    budget_count: int | None = None
    budget_fen: int | None = None
    valid_from: dt.datetime
    valid_until: dt.datetime


class OfferOut(Schema):
    id: int
    merchant_id: int
    title: str
    kind: str
    percent_off: int | None
    amount_fen: int | None
    item_name: str
    item_value_fen: int | None
    min_tier_rank: int | None
    series: str
    first_visit_only: bool
    per_owner_per_day: int | None
    per_owner_per_month: int | None
    budget_count: int | None
    budget_fen: int | None
    used_count: int
    used_fen: int
    valid_from: dt.datetime
    valid_until: dt.datetime

    @staticmethod
    def of(o: Offer) -> OfferOut:
        return OfferOut(**{f: getattr(o, f) for f in OfferOut.model_fields if f != "id"}, id=o.pk)


class OfferListOut(Schema):
    items: list[OfferOut]


@router.get(
    "/merchants/{int:merchant_id}/offers", response=with_errors({200: OfferListOut}), summary="A merchant's offers"
)
def offers_list(request: HttpRequest, merchant_id: int) -> OfferListOut:
    merchant = merchant_get(actor=actor_of(request), merchant_id=min(merchant_id, 2**63 - 1))
    return OfferListOut(items=[OfferOut.of(o) for o in merchant.offers.order_by("id")])


@router.post(
    "/merchants/{int:merchant_id}/offers",
    response=with_errors({201: OfferOut}, 409),
    summary="Create an offer (Idempotency-Key makes a retry safe)",
)
def offers_create(request: HttpRequest, response: HttpResponse, merchant_id: int, payload: OfferIn) -> Status[Any]:
    actor = actor_of(request)
    merchant = merchant_get(actor=actor, merchant_id=min(merchant_id, 2**63 - 1))

    def create() -> tuple[int, dict[str, Any]]:
        offer = offer_create(actor=actor, merchant=merchant, data=payload.model_dump())
        return 201, OfferOut.of(offer).model_dump(mode="json")

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)


class BatchIn(Schema):
    brand: str = Field(..., max_length=32)
    title: str = Field(..., max_length=80)
    value_fen: int
    points_price: int | None = None
    valid_from: dt.datetime
    valid_until: dt.datetime
    csv: str | None = Field(None, description="CSV text with a `code` column; or send `count` to generate")
    count: int | None = None


class BatchOut(Schema):
    id: int
    merchant_id: int
    title: str
    source: str
    value_fen: int
    codes: int


@router.post(
    "/merchants/{int:merchant_id}/coupon-batches",
    response=with_errors({201: BatchOut}, 409),
    summary="Import (CSV, all or nothing) or generate a coupon batch",
)
def coupon_batches_create(
    request: HttpRequest, response: HttpResponse, merchant_id: int, payload: BatchIn
) -> Status[Any]:
    actor = actor_of(request)
    merchant = merchant_get(actor=actor, merchant_id=min(merchant_id, 2**63 - 1))
    brand = Brand.objects.filter(code=payload.brand).first()
    if brand is None:
        raise NotFound(f"brand {payload.brand!r} does not exist")
    if (payload.csv is None) == (payload.count is None):
        raise ApiError(422, "invalid", "Send exactly one of `csv` and `count`.")
    data = payload.model_dump(include={"title", "value_fen", "points_price", "valid_from", "valid_until"})

    def create() -> tuple[int, dict[str, Any]]:
        if payload.csv is not None:
            batch = coupon_batch_import(actor=actor, merchant=merchant, brand=brand, data=data, csv_text=payload.csv)
        else:
            batch = coupon_batch_generate(
                actor=actor, merchant=merchant, brand=brand, data=data, count=payload.count or 0
            )
        out = BatchOut(
            id=batch.pk,
            merchant_id=merchant.pk,
            title=batch.title,
            source=batch.source,
            value_fen=batch.value_fen,
            codes=batch.coupons.count(),
        )
        return 201, out.model_dump(mode="json")

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)


class SegmentIn(Schema):
    min_tier_rank: int = Field(0, ge=0, le=100, description="Members at or above this tier rank (0 = every tier).")
    cities: list[str] = Field(default_factory=list, max_length=200, description='Person city, e.g. "杭州市".')
    series: list[str] = Field(default_factory=list, max_length=50, description="Currently owns one of these series.")
    dealer_codes: list[str] = Field(default_factory=list, max_length=500, description="Car delivered by these dealers.")
    member_since: dt.date | None = Field(None, description="Joined on or before this day (brand time zone).")
    active_within_days: int | None = Field(None, ge=1, le=366, description="Did something in the last N days.")
    segment_id: int | None = Field(
        None, ge=1, le=2**63 - 1, description="A saved segment instead of the filters above (they must be empty)."
    )

    def filters(self) -> Segment:
        return Segment(
            min_tier_rank=self.min_tier_rank,
            cities=tuple(self.cities),
            series=tuple(self.series),
            dealer_codes=tuple(self.dealer_codes),
            member_since=self.member_since,
            active_within_days=self.active_within_days,
        )


class IssuedOut(Schema):
    batch_id: int
    issued: int
    available: int


@router.post(
    "/coupon-batches/{int:batch_id}/issue",
    response=with_errors({200: IssuedOut}),
    summary="Issue a batch's coupons to a segment of members, once each (HQ; a rerun only tops up)",
)
def coupon_batch_issue(request: HttpRequest, batch_id: int, payload: SegmentIn) -> IssuedOut:
    actor = actor_of(request)
    batch = CouponBatch.objects.filter(pk=min(batch_id, 2**63 - 1)).first()
    if batch is None:
        raise NotFound(f"coupon batch {batch_id} does not exist")
    if payload.segment_id is not None:
        if payload.filters() != Segment():
            raise FieldError("segment_id", _("give either a saved segment or filters, not both"))
        issued = coupons_issue_to_saved_segment(actor=actor, batch=batch, segment_id=payload.segment_id)
    else:
        issued = coupons_issue_to_segment(actor=actor, batch=batch, segment=payload.filters())
    return IssuedOut(batch_id=batch.pk, issued=issued, available=batch.coupons.filter(status="available").count())


class SavedSegmentIn(SegmentIn):
    brand: str = Field(..., max_length=40, description="Brand code")
    name: str = Field(..., max_length=60)


class SavedSegmentOut(Schema):
    id: int
    brand: str
    name: str
    filters: dict[str, Any]
    count: int = Field(..., description="Members in the segment now, within your scope")
    created_by: str


def _segment_out(saved: SavedSegment, count: int) -> SavedSegmentOut:
    return SavedSegmentOut(
        id=saved.pk,
        brand=saved.brand.code,
        name=saved.name,
        filters=filters_of(saved).describe(),
        count=count,
        created_by=saved.created_by,
    )


class SavedSegmentListOut(Schema):
    items: list[SavedSegmentOut]


@router.get("/segments", response=with_errors({200: SavedSegmentListOut}), summary="Saved member segments in scope")
def segments_list(request: HttpRequest) -> SavedSegmentListOut:
    actor = actor_of(request)
    items = [
        _segment_out(s, saved_segment_members(actor=actor, saved=s).count()) for s in segments_visible_to(actor)[:200]
    ]
    return SavedSegmentListOut(items=items)


@router.post(
    "/segments",
    response=with_errors({201: SavedSegmentOut}),
    summary="Save a named member segment (HQ, regions and dealers, within their scope) with its live count",
)
def segments_create(request: HttpRequest, payload: SavedSegmentIn) -> Status[SavedSegmentOut]:
    actor = actor_of(request)
    if payload.segment_id is not None:
        raise FieldError("segment_id", _("a new segment is given by its filters"))
    brand = Brand.objects.filter(code=payload.brand).first()
    if brand is None:
        raise FieldError("brand", _("unknown brand %(code)s") % {"code": payload.brand})
    saved, count = segment_save(actor=actor, brand=brand, name=payload.name, segment=payload.filters())
    return Status(201, _segment_out(saved, count))


class MemberDayCouponIn(Schema):
    occurrence_id: int | None = Field(None, ge=1, le=2**63 - 1, description="A Member Day; empty = every Member Day.")
    min_tier_rank: int = Field(0, ge=0, le=100, description="Members at or above this tier rank.")


class MemberDayCouponOut(Schema):
    id: int
    batch_id: int
    occurrence_id: int | None
    min_tier_rank: int
    active: bool


@router.post(
    "/coupon-batches/{int:batch_id}/member-day",
    response=with_errors({201: MemberDayCouponOut}),
    summary="Give one coupon of the batch to each member who checks in on Member Day (HQ)",
)
def coupon_batch_member_day(
    request: HttpRequest, batch_id: int, payload: MemberDayCouponIn
) -> Status[MemberDayCouponOut]:
    actor = actor_of(request)
    batch = CouponBatch.objects.filter(pk=min(batch_id, 2**63 - 1)).first()
    if batch is None:
        raise NotFound(f"coupon batch {batch_id} does not exist")
    link = memberday_coupon_attach(
        actor=actor, batch=batch, occurrence_id=payload.occurrence_id, min_tier_rank=payload.min_tier_rank
    )
    out = MemberDayCouponOut(
        id=link.pk,
        batch_id=link.batch_id,
        occurrence_id=link.occurrence_id,
        min_tier_rank=link.min_tier_rank,
        active=link.active,
    )
    return Status(201, out)

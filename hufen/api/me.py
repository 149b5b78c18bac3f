"""The member self-service API at /api/v1/me/: the signed-in owner's card, points, benefits and
Member Day, for the brand app and mini-program.

Every endpoint here authenticates with a member token (`hm_...`, see hufen/api/me_auth.py) and reads
through the portal's selectors, which start from the token's member and check it against the actor's
own scope (Scope.SELF): there is no member id to change in a URL, and a redemption or benefit id of
another member or program is simply not found. Redeeming calls the same service as the portal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from hufen.api.auth import actor_of
from hufen.api.errors import ApiError, with_errors
from hufen.api.idempotency import caller_scope, idempotency_key, run_idempotent
from hufen.api.me_auth import MEMBER_AUTH, member_of
from hufen.api.pagination import HistoryPageParams, paginate
from hufen.common.actors import Actor
from hufen.common.errors import NotFound
from hufen.memberday.api import OccurrenceOut, OfferOut, TaskStateOut
from hufen.memberday.selectors import member_day_view
from hufen.membership.benefits import benefit_redeem, redemption_cancel
from hufen.membership.errors import IdempotencyConflict
from hufen.membership.models import PointsEntry, Redemption
from hufen.portal.selectors import (
    CatalogueRow,
    benefit_catalogue,
    catalogue_item,
    member_card,
    my_redemption,
    my_redemptions,
    own_member,
    points_entries,
    reason_label,
)

router = Router(tags=["me"], auth=MEMBER_AUTH)

MAX_ID = 2**63 - 1


class MeVehicleOut(Schema):
    vehicle_id: int
    brand: str
    series: str
    model: str
    plate: str = Field(description="Empty until the car is registered.")
    colour: str


class MeCardOut(Schema):
    member_id: int
    number: str
    name: str = Field(description="Masked, e.g. 陈*.")
    brand: str
    program: str
    tier: str
    tier_name: str
    next_tier_name: str = Field(description="Empty at the top tier.")
    balance: int
    status: str
    joined_at: dt.datetime
    vehicles: list[MeVehicleOut]


class MeEntryOut(Schema):
    id: int
    kind: str
    amount: int = Field(description="Signed: positive adds points, negative takes them.")
    reason: str
    reason_label: str
    balance_after: int
    created_at: dt.datetime

    @staticmethod
    def of(e: PointsEntry) -> MeEntryOut:
        return MeEntryOut(
            id=e.pk,
            kind=e.kind,
            amount=e.amount,
            reason=e.reason,
            reason_label=reason_label(e.reason),
            balance_after=e.balance_after,
            created_at=e.created_at,
        )


class MeEntryPageOut(Schema):
    items: list[MeEntryOut]
    next_cursor: str | None


class MeBenefitOut(Schema):
    id: int
    code: str
    name: str
    description: str
    points_price: int
    cash_price_fen: int
    stock: int
    valid_until: dt.datetime | None
    locked: bool = Field(description="The member's tier is below the item's.")
    needs_tier: str
    available: bool = Field(description="In stock and open for redemption.")
    affordable: bool
    limit_left: int | None = Field(description="Redemptions left for this member; null: no limit.")

    @staticmethod
    def of(row: CatalogueRow) -> MeBenefitOut:
        item = row.item
        return MeBenefitOut(
            id=item.pk,
            code=item.code,
            name=item.name,
            description=item.description,
            points_price=item.points_price,
            cash_price_fen=item.cash_price_fen,
            stock=item.stock,
            valid_until=item.valid_until,
            locked=row.locked,
            needs_tier=row.needs_tier,
            available=row.available,
            affordable=row.affordable,
            limit_left=row.limit_left,
        )


class MeBenefitListOut(Schema):
    balance: int
    items: list[MeBenefitOut]


class MeRedeemIn(Schema):
    quantity: int = Field(1, ge=1, le=10)


class MeRedemptionOut(Schema):
    id: int
    item_id: int
    item: str
    item_name: str
    quantity: int
    points: int
    cash_fen: int
    status: str
    created_at: dt.datetime

    @staticmethod
    def of(r: Redemption) -> MeRedemptionOut:
        return MeRedemptionOut(
            id=r.pk,
            item_id=r.item_id,
            item=r.item.code,
            item_name=r.item.name,
            quantity=r.quantity,
            points=r.points,
            cash_fen=r.cash_fen,
            status=r.status,
            created_at=r.created_at,
        )


class MeRedemptionPageOut(Schema):
    items: list[MeRedemptionOut]
    next_cursor: str | None


class MeMemberDayStatusOut(Schema):
    occurrence: OccurrenceOut | None = Field(description="Today's Member Day, else the next; null if none is set.")
    is_today: bool
    seconds_to_start: int
    checked_in: bool
    tasks: list[TaskStateOut]
    offers: list[OfferOut]


def _id(value: int, what: str) -> int:
    if value > MAX_ID:
        raise NotFound(f"{what} {value} does not exist")
    return value


def _redeem_key(request: HttpRequest, actor: Actor) -> str:
    key = idempotency_key(request)
    if key is None:
        raise ApiError(400, "bad_request", "Redeeming requires an Idempotency-Key header.")
    scoped = f"{caller_scope(actor)}:{key}"
    return scoped if len(scoped) <= 160 else f"sha256:{hashlib.sha256(scoped.encode()).hexdigest()}"


@router.get("/card", response=with_errors({200: MeCardOut}), summary="My membership card")
def card(request: HttpRequest) -> MeCardOut:
    member = member_of(request)
    c = member_card(actor=actor_of(request), member=member)
    return MeCardOut(
        member_id=member.pk,
        number=c.number,
        name=c.masked_name,
        brand=member.program.brand.code,
        program=c.program_name,
        tier=c.tier_code,
        tier_name=c.tier_name,
        next_tier_name=c.next_tier_name,
        balance=c.balance,
        status=c.status,
        joined_at=c.joined_at,
        vehicles=[
            MeVehicleOut(
                vehicle_id=v.vehicle_id, brand=v.brand, series=v.series, model=v.model, plate=v.plate, colour=v.colour
            )
            for v in c.vehicles
        ],
    )


@router.get(
    "/points",
    response=with_errors({200: MeEntryPageOut}),
    summary="My points history",
    description=(
        "The member's points entries, newest first as the app shows them (`order=oldest` reverses it). "
        "Entries added while the app pages through never shift or repeat a page: they come before the "
        "first page, so pull to refresh."
    ),
)
def points(request: HttpRequest, params: Query[HistoryPageParams]) -> MeEntryPageOut:
    member = member_of(request)
    qs = points_entries(actor=actor_of(request), member=member)
    page = paginate(qs, params=params, listing=f"me.points.{member.pk}", order=params.order)
    return MeEntryPageOut(items=[MeEntryOut.of(e) for e in page.items], next_cursor=page.next_cursor)


@router.get("/benefits", response=with_errors({200: MeBenefitListOut}), summary="Benefits I can redeem")
def benefits(request: HttpRequest) -> MeBenefitListOut:
    actor, member = actor_of(request), member_of(request)
    rows = benefit_catalogue(actor=actor, member=member)
    balance = own_member(actor=actor, member=member).account.balance
    return MeBenefitListOut(balance=balance, items=[MeBenefitOut.of(r) for r in rows])


@router.post(
    "/benefits/{int:item_id}/redeem",
    response=with_errors({201: MeRedemptionOut}, 409),
    summary="Redeem a benefit with my points (Idempotency-Key required)",
)
def redeem(request: HttpRequest, response: HttpResponse, item_id: int, payload: MeRedeemIn) -> Status[Any]:
    actor, member = actor_of(request), member_of(request)
    key = _redeem_key(request, actor)
    row = catalogue_item(actor=actor, member=member, item_id=_id(item_id, "benefit"))

    def create() -> tuple[int, dict[str, Any]]:
        try:
            r = benefit_redeem(
                actor=actor, member=member, item=row.item, quantity=payload.quantity, idempotency_key=key
            )
        except IdempotencyConflict as exc:
            raise ApiError(409, "idempotency_conflict", exc.message) from exc
        return 201, MeRedemptionOut.of(r).model_dump(mode="json")

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)


@router.get(
    "/redemptions",
    response=with_errors({200: MeRedemptionPageOut}),
    summary="My redemptions",
    description="The member's redemptions, newest first (`order=oldest` reverses it), paged like `/me/points`.",
)
def redemptions(request: HttpRequest, params: Query[HistoryPageParams]) -> MeRedemptionPageOut:
    member = member_of(request)
    qs = my_redemptions(actor=actor_of(request), member=member)
    page = paginate(qs, params=params, listing=f"me.redemptions.{member.pk}", order=params.order)
    return MeRedemptionPageOut(items=[MeRedemptionOut.of(r) for r in page.items], next_cursor=page.next_cursor)


@router.post(
    "/redemptions/{int:redemption_id}/cancel",
    response=with_errors({200: MeRedemptionOut}),
    summary="Cancel my reserved redemption (points and stock come back)",
)
def cancel(request: HttpRequest, redemption_id: int) -> MeRedemptionOut:
    actor, member = actor_of(request), member_of(request)
    redemption = my_redemption(actor=actor, member=member, redemption_id=_id(redemption_id, "redemption"))
    cancelled = redemption_cancel(actor=actor, redemption=redemption, reason="cancelled by the member in the app")
    return MeRedemptionOut.of(my_redemption(actor=actor, member=member, redemption_id=cancelled.pk))


@router.get(
    "/memberday", response=with_errors({200: MeMemberDayStatusOut}), summary="My Member Day and check-in status"
)
def memberday(request: HttpRequest) -> MeMemberDayStatusOut:
    member = own_member(actor=actor_of(request), member=member_of(request))
    view = member_day_view(member=member)
    return MeMemberDayStatusOut(
        occurrence=OccurrenceOut.of(view.occurrence) if view.occurrence else None,
        is_today=view.is_today,
        seconds_to_start=view.seconds_to_start,
        checked_in=view.checked_in,
        tasks=[TaskStateOut(kind=t.kind, title=t.title, points=t.points, done=t.done) for t in view.tasks],
        offers=[OfferOut.of(o) for o in view.offers],
    )

"""Membership endpoints at /api/v1/membership/: members, ledger, points, benefits and redemptions.

Thin: each endpoint checks the permission, reads through the scoped selectors (a member is visible
exactly when its person is) and calls one service. Writes honour `Idempotency-Key`; redeem, award and
spend require it, because a retried ledger write must never count twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from hufen.api.auth import actor_of
from hufen.api.errors import ApiError, with_errors
from hufen.api.idempotency import caller_scope, idempotency_key, run_idempotent
from hufen.api.pagination import PageParams, paginate
from hufen.api.types import Text
from hufen.common.actors import Actor
from hufen.common.errors import NotFound
from hufen.common.pii import mask_name
from hufen.membership import benefits as benefit_services
from hufen.membership import ledger, selectors
from hufen.membership.catalogue import benefit_add, benefit_update
from hufen.membership.errors import IdempotencyConflict
from hufen.membership.models import BenefitItem, Member, PointsEntry, Program, Redemption
from hufen.membership.programs import program_for_brand
from hufen.membership.rules import require_manage
from hufen.membership.services import member_join
from hufen.org.models import Brand
from hufen.people.models import Person

router = Router(tags=["membership"])

MAX_ID = 2**63 - 1


class MemberOut(Schema):
    id: int
    number: str
    brand: str
    person_id: int
    person_name: str = Field(description="Masked, e.g. 王*伟.")
    status: str
    tier: str
    tier_name: str
    balance: int
    channel: str
    joined_at: dt.datetime

    @staticmethod
    def of(m: Member) -> MemberOut:
        return MemberOut(
            id=m.pk,
            number=m.number,
            brand=m.program.brand.code,
            person_id=m.person_id,
            person_name=mask_name(m.person.name),
            status=m.status,
            tier=m.tier.code,
            tier_name=m.tier.name,
            balance=m.account.balance,
            channel=m.channel,
            joined_at=m.joined_at,
        )


class MemberPageOut(Schema):
    items: list[MemberOut]
    next_cursor: str | None


class MemberFilters(PageParams):
    brand: Text = Field("", max_length=32)
    status: Literal["", "active", "frozen", "closed"] = ""


class JoinIn(Schema):
    person_id: int = Field(ge=1, le=MAX_ID)
    brand: Text = Field(max_length=32)
    channel: Literal["api", "h5", "dealer", "console", "app", "wechat"] = "api"


class EntryOut(Schema):
    id: int
    kind: str
    amount: int
    reason: str
    ref_type: str
    ref_id: str
    balance_after: int
    reverses_id: int | None
    created_at: dt.datetime

    @staticmethod
    def of(e: PointsEntry) -> EntryOut:
        return EntryOut(
            id=e.pk,
            kind=e.kind,
            amount=e.amount,
            reason=e.reason,
            ref_type=e.ref_type,
            ref_id=e.ref_id,
            balance_after=e.balance_after,
            reverses_id=e.reverses_id,
            created_at=e.created_at,
        )


class EntryPageOut(Schema):
    items: list[EntryOut]
    next_cursor: str | None


class PointsIn(Schema):
    amount: int = Field(description="Whole points, positive.")
    reason: Text = Field(max_length=40, description="A reason code of the catalogue, e.g. goodwill.")
    ref_type: Text = Field("", max_length=40)
    ref_id: Text = Field("", max_length=64)


class ReverseIn(Schema):
    reason: Literal["correction"] = "correction"


class BenefitOut(Schema):
    id: int
    brand: str
    code: str
    name: str
    description: str
    points_price: int
    cash_price_fen: int
    stock: int
    per_member_limit: int | None
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None
    min_tier: str | None

    @staticmethod
    def of(b: BenefitItem) -> BenefitOut:
        return BenefitOut(
            id=b.pk,
            brand=b.program.brand.code,
            code=b.code,
            name=b.name,
            description=b.description,
            points_price=b.points_price,
            cash_price_fen=b.cash_price_fen,
            stock=b.stock,
            per_member_limit=b.per_member_limit,
            valid_from=b.valid_from,
            valid_until=b.valid_until,
            min_tier=b.min_tier.code if b.min_tier else None,
        )


class BenefitPageOut(Schema):
    items: list[BenefitOut]
    next_cursor: str | None


class BenefitFilters(PageParams):
    brand: Text = Field("", max_length=32)


def program_of(brand_code: str) -> Program:
    brand = Brand.objects.filter(code=brand_code).first()
    if brand is None:
        raise NotFound(f"brand {brand_code!r} does not exist")
    return program_for_brand(brand)


class RedeemIn(Schema):
    item_id: int = Field(ge=1, le=MAX_ID)
    quantity: int = Field(1, ge=1, le=100)


class RedemptionOut(Schema):
    id: int
    member_id: int
    item: str
    quantity: int
    points: int
    cash_fen: int
    status: str
    spend_entry_id: int
    created_at: dt.datetime

    @staticmethod
    def of(r: Redemption) -> RedemptionOut:
        return RedemptionOut(
            id=r.pk,
            member_id=r.member_id,
            item=r.item.code,
            quantity=r.quantity,
            points=r.points,
            cash_fen=r.cash_fen,
            status=r.status,
            spend_entry_id=r.spend_entry_id,
            created_at=r.created_at,
        )


def _required_key(request: HttpRequest, actor: Actor) -> str:
    key = idempotency_key(request)
    if key is None:
        raise ApiError(400, "bad_request", "This write requires an Idempotency-Key header.")
    # Keys are per caller, like the API's own idempotency records; long ones are hashed to fit.
    scoped = f"{caller_scope(actor)}:{key}"
    return scoped if len(scoped) <= 160 else f"sha256:{hashlib.sha256(scoped.encode()).hexdigest()}"


def _conflict(exc: IdempotencyConflict) -> ApiError:
    return ApiError(409, "idempotency_conflict", exc.message, {"key": exc.key.rsplit(":", 1)[-1]})


# --- members --------------------------------------------------------------------------------------


@router.get("/members", response=with_errors({200: MemberPageOut}), summary="Members in your scope")
def members_list(request: HttpRequest, filters: Query[MemberFilters]) -> MemberPageOut:
    qs = selectors.member_list(actor=actor_of(request), brand_code=filters.brand, status=filters.status)
    page = paginate(qs, params=filters, listing="membership.members")
    return MemberPageOut(items=[MemberOut.of(m) for m in page.items], next_cursor=page.next_cursor)


@router.get("/members/{int:member_id}", response=with_errors({200: MemberOut}), summary="A member")
def members_get(request: HttpRequest, member_id: int) -> MemberOut:
    if member_id > MAX_ID:
        raise NotFound(f"member {member_id} does not exist")
    return MemberOut.of(selectors.member_get(actor=actor_of(request), member_id=member_id))


@router.post("/members", response=with_errors({200: MemberOut, 201: MemberOut}, 409), summary="Enrol a person")
def members_join(request: HttpRequest, response: HttpResponse, payload: JoinIn) -> Status[dict[str, Any]]:
    actor = actor_of(request)
    selectors.require(actor, "membership.join")
    person = Person.objects.visible_to(actor).filter(pk=payload.person_id).first()
    if person is None:
        raise NotFound(f"person {payload.person_id} does not exist or is outside your data scope")
    brand = Brand.objects.filter(code=payload.brand).first()
    if brand is None:
        raise NotFound(f"brand {payload.brand!r} does not exist")

    def create() -> tuple[int, dict[str, Any]]:
        existed = Member.objects.filter(program__brand=brand, person=person).exists()
        member = member_join(actor=actor, person=person, brand=brand, channel=payload.channel)
        out = MemberOut.of(selectors.member_get(actor=actor, member_id=member.pk))
        return (200 if existed else 201), out.model_dump(mode="json")

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)


# --- ledger ---------------------------------------------------------------------------------------


@router.get("/members/{int:member_id}/entries", response=with_errors({200: EntryPageOut}), summary="Ledger entries")
def entries_list(request: HttpRequest, member_id: int, params: Query[PageParams]) -> EntryPageOut:
    if member_id > MAX_ID:
        raise NotFound(f"member {member_id} does not exist")
    qs = selectors.member_entries(actor=actor_of(request), member_id=member_id)
    page = paginate(qs, params=params, listing=f"membership.entries.{member_id}")
    return EntryPageOut(items=[EntryOut.of(e) for e in page.items], next_cursor=page.next_cursor)


def _points_write(
    request: HttpRequest, response: HttpResponse, member_id: int, payload: PointsIn, kind: str
) -> Status[dict[str, Any]]:
    actor = actor_of(request)
    selectors.require(actor, "points.adjust")
    key = _required_key(request, actor)
    if member_id > MAX_ID:
        raise NotFound(f"member {member_id} does not exist")
    member = selectors.member_get(actor=actor, member_id=member_id)
    write = ledger.points_award if kind == "award" else ledger.points_spend

    def create() -> tuple[int, dict[str, Any]]:
        try:
            entry = write(
                actor=actor,
                member=member,
                amount=payload.amount,
                reason=payload.reason,
                idempotency_key=key,
                ref_type=payload.ref_type,
                ref_id=payload.ref_id,
            )
        except IdempotencyConflict as exc:
            raise _conflict(exc) from exc
        return 201, EntryOut.of(entry).model_dump(mode="json")

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)


@router.post("/members/{int:member_id}/award", response=with_errors({201: EntryOut}, 409), summary="Award points")
def points_award(request: HttpRequest, response: HttpResponse, member_id: int, payload: PointsIn) -> Status[Any]:
    return _points_write(request, response, member_id, payload, "award")


@router.post("/members/{int:member_id}/spend", response=with_errors({201: EntryOut}, 409), summary="Spend points")
def points_spend(request: HttpRequest, response: HttpResponse, member_id: int, payload: PointsIn) -> Status[Any]:
    return _points_write(request, response, member_id, payload, "spend")


@router.post("/entries/{int:entry_id}/reverse", response=with_errors({201: EntryOut}, 409), summary="Reverse an entry")
def points_reverse(request: HttpRequest, response: HttpResponse, entry_id: int, payload: ReverseIn) -> Status[Any]:
    actor = actor_of(request)
    selectors.require(actor, "points.adjust")
    if entry_id > MAX_ID:
        raise NotFound(f"entry {entry_id} does not exist")
    entry = selectors.entry_get(actor=actor, entry_id=entry_id)

    def create() -> tuple[int, dict[str, Any]]:
        mirror = ledger.points_reverse(actor=actor, entry=entry, reason=payload.reason)
        return 201, EntryOut.of(mirror).model_dump(mode="json")

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)


# --- benefits ---------------------------------------------------------------------------------------


@router.get("/benefits", response=with_errors({200: BenefitPageOut}), summary="The benefits catalogue")
def benefits_list(request: HttpRequest, filters: Query[BenefitFilters]) -> BenefitPageOut:
    qs = selectors.benefit_list(actor=actor_of(request), brand_code=filters.brand)
    page = paginate(qs, params=filters, listing="membership.benefits")
    return BenefitPageOut(items=[BenefitOut.of(b) for b in page.items], next_cursor=page.next_cursor)


# --- benefit catalogue management ---------------------------------------------------------------------


class BenefitFields(Schema):
    name: Text | None = Field(None, max_length=80)
    description: Text | None = Field(None, max_length=2000)
    points_price: int | None = None
    cash_price_fen: int | None = None
    stock: int | None = Field(None, description="Items left; an update sets it.")
    per_member_limit: int | None = None
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    min_tier: Text | None = Field(None, max_length=20, description="Tier code, or empty for everyone.")
    active: bool | None = None


class BenefitIn(BenefitFields):
    brand: Text = Field(max_length=32)
    code: Text = Field(max_length=40)


@router.post("/benefits", response=with_errors({201: BenefitOut}, 409), summary="Add a benefit item")
def benefits_create(request: HttpRequest, response: HttpResponse, payload: BenefitIn) -> Status[Any]:
    actor = actor_of(request)
    require_manage(actor)
    program = program_of(payload.brand)

    def create() -> tuple[int, dict[str, Any]]:
        values = payload.model_dump(exclude={"brand", "code"})
        item = benefit_add(actor=actor, program=program, code=payload.code, values=values)
        return 201, BenefitOut.of(item).model_dump(mode="json")

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)


@router.patch("/benefits/{int:item_id}", response=with_errors({200: BenefitOut}), summary="Change a benefit item")
def benefits_update(request: HttpRequest, item_id: int, payload: BenefitFields) -> BenefitOut:
    actor = actor_of(request)
    require_manage(actor)
    if item_id > MAX_ID:
        raise NotFound(f"benefit {item_id} does not exist")
    item = BenefitItem.objects.filter(pk=item_id).first()
    if item is None:
        raise NotFound(f"benefit {item_id} does not exist")
    updated = benefit_update(actor=actor, item=item, values=payload.model_dump(exclude_unset=True))
    return BenefitOut.of(BenefitItem.objects.select_related("program__brand", "min_tier").get(pk=updated.pk))


@router.post(
    "/members/{int:member_id}/redemptions",
    response=with_errors({201: RedemptionOut}, 409),
    summary="Redeem a benefit (Idempotency-Key required)",
)
def redeem(request: HttpRequest, response: HttpResponse, member_id: int, payload: RedeemIn) -> Status[Any]:
    actor = actor_of(request)
    selectors.require(actor, "benefits.redeem")
    key = _required_key(request, actor)
    if member_id > MAX_ID:
        raise NotFound(f"member {member_id} does not exist")
    member = selectors.member_get(actor=actor, member_id=member_id)
    item = BenefitItem.objects.filter(pk=payload.item_id).first()
    if item is None:
        raise NotFound(f"benefit {payload.item_id} does not exist")

    def create() -> tuple[int, dict[str, Any]]:
        try:
            r = benefit_services.benefit_redeem(
                actor=actor, member=member, item=item, quantity=payload.quantity, idempotency_key=key
            )
        except IdempotencyConflict as exc:
            raise _conflict(exc) from exc
        return 201, RedemptionOut.of(r).model_dump(mode="json")

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)


@router.post("/redemptions/{int:redemption_id}/cancel", response=with_errors({200: RedemptionOut}), summary="Cancel")
def redemption_cancel(request: HttpRequest, redemption_id: int) -> RedemptionOut:
    actor = actor_of(request)
    selectors.require(actor, "benefits.redeem")
    if redemption_id > MAX_ID:
        raise NotFound(f"redemption {redemption_id} does not exist")
    redemption = selectors.redemption_get(actor=actor, redemption_id=redemption_id)
    return RedemptionOut.of(benefit_services.redemption_cancel(actor=actor, redemption=redemption))

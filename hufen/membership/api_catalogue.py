"""Catalogue management at /api/v1/membership/: tiers, earning rules and their decision log.

(Benefit items are created and changed in api.py, next to the catalogue listing they share a path with.)

Reads need `membership.view`; writes need `membership.manage` (HQ admins). Creates honour an optional
`Idempotency-Key`, and a code is a natural key: creating an existing code is a 422 naming `code`.
Updates are PATCH (send only the fields to change) and are idempotent by nature.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from hufen.api.auth import actor_of
from hufen.api.errors import with_errors
from hufen.api.idempotency import run_idempotent
from hufen.api.pagination import PageParams, paginate
from hufen.api.types import Text
from hufen.common.errors import NotFound
from hufen.membership import catalogue, rules, selectors
from hufen.membership.api import MAX_ID, program_of
from hufen.membership.models import EarningDecision, EarningRule, TierDefinition

router = Router(tags=["membership catalogue"])


def _check_id(kind: str, value: int) -> None:
    if value > MAX_ID:
        raise NotFound(f"{kind} {value} does not exist")


# --- tiers ---------------------------------------------------------------------------------------------


class TierOut(Schema):
    id: int
    brand: str
    code: str
    name: str
    rank: int
    threshold: int
    multiplier: str = Field(description="Decimal text, e.g. 1.25")
    benefits: list[str]

    @staticmethod
    def of(t: TierDefinition) -> TierOut:
        return TierOut(
            id=t.pk,
            brand=t.program.brand.code,
            code=t.code,
            name=t.name,
            rank=t.rank,
            threshold=t.threshold,
            multiplier=f"{t.multiplier:.2f}",
            benefits=list(t.benefits or []),
        )


class TierListOut(Schema):
    items: list[TierOut]


class BrandFilter(Schema):
    brand: Text = Field("", max_length=32)


class TierIn(Schema):
    brand: Text = Field(max_length=32)
    code: Text = Field(max_length=20)
    name: Text = Field(max_length=30)
    rank: int = Field(ge=0, le=20)
    threshold: int = Field(ge=0, le=2_000_000_000)
    multiplier: Decimal = Decimal("1.00")
    benefits: list[Text] = []


class TierPatch(Schema):
    name: Text | None = Field(None, max_length=30)
    threshold: int | None = Field(None, ge=0, le=2_000_000_000)
    multiplier: Decimal | None = None
    benefits: list[Text] | None = None


@router.get("/tiers", response=with_errors({200: TierListOut}), summary="Tiers of each program")
def tiers_list(request: HttpRequest, filters: Query[BrandFilter]) -> TierListOut:
    selectors.require(actor_of(request), "membership.view")
    qs = TierDefinition.objects.select_related("program__brand").order_by("program_id", "rank")
    if filters.brand:
        qs = qs.filter(program__brand__code=filters.brand)
    return TierListOut(items=[TierOut.of(t) for t in qs])


@router.post("/tiers", response=with_errors({201: TierOut}, 409), summary="Add a tier")
def tiers_create(request: HttpRequest, response: HttpResponse, payload: TierIn) -> Status[Any]:
    actor = actor_of(request)
    rules.require_manage(actor)
    program = program_of(payload.brand)

    def create() -> tuple[int, dict[str, Any]]:
        values = payload.model_dump(exclude={"brand"})
        tier = catalogue.tier_create(actor=actor, program=program, values=values)
        return 201, TierOut.of(tier).model_dump(mode="json")

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)


@router.patch("/tiers/{int:tier_id}", response=with_errors({200: TierOut}), summary="Change a tier")
def tiers_update(request: HttpRequest, tier_id: int, payload: TierPatch) -> TierOut:
    actor = actor_of(request)
    rules.require_manage(actor)
    _check_id("tier", tier_id)
    tier = TierDefinition.objects.select_related("program__brand").filter(pk=tier_id).first()
    if tier is None:
        raise NotFound(f"tier {tier_id} does not exist")
    values = payload.model_dump(exclude_unset=True)
    return TierOut.of(catalogue.tier_update(actor=actor, tier=tier, values=values))


# --- earning rules -------------------------------------------------------------------------------------


class RuleOut(Schema):
    id: int
    brand: str
    code: str
    name: str
    event: str
    points: int
    reason: str
    conditions: list[dict[str, Any]]
    daily_cap_count: int | None
    monthly_cap_count: int | None
    daily_cap_points: int | None
    monthly_cap_points: int | None
    apply_multiplier: bool
    valid_from: dt.datetime
    valid_until: dt.datetime | None
    active: bool
    updated_at: dt.datetime

    @staticmethod
    def of(r: EarningRule) -> RuleOut:
        return RuleOut(
            id=r.pk,
            brand=r.program.brand.code,
            code=r.code,
            name=r.name,
            event=r.event,
            points=r.points,
            reason=r.reason,
            conditions=list(r.conditions or []),
            daily_cap_count=r.daily_cap_count,
            monthly_cap_count=r.monthly_cap_count,
            daily_cap_points=r.daily_cap_points,
            monthly_cap_points=r.monthly_cap_points,
            apply_multiplier=r.apply_multiplier,
            valid_from=r.valid_from,
            valid_until=r.valid_until,
            active=r.active,
            updated_at=r.updated_at,
        )


class RulePageOut(Schema):
    items: list[RuleOut]
    next_cursor: str | None


class RuleFilters(PageParams):
    brand: Text = Field("", max_length=32)
    event: Text = Field("", max_length=80)


class RuleFields(Schema):
    name: Text | None = Field(None, max_length=80)
    event: Text | None = Field(None, max_length=80)
    points: int | None = Field(None, description="Base points before the tier multiplier.")
    reason: Text | None = Field(None, max_length=40, description="An award reason code, e.g. check_in.")
    conditions: list[dict[str, Any]] | None = Field(
        None, description='All must hold, e.g. [{"property": "brand", "op": "eq", "value": "mass"}]'
    )
    daily_cap_count: int | None = None
    monthly_cap_count: int | None = None
    daily_cap_points: int | None = None
    monthly_cap_points: int | None = None
    apply_multiplier: bool | None = None
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    active: bool | None = None


class RuleIn(RuleFields):
    brand: Text = Field(max_length=32)
    code: Text = Field(max_length=40)


class DecisionOut(Schema):
    id: int
    event_id: str
    event_ts: dt.datetime
    member_id: int | None
    outcome: Literal["awarded", "truncated", "capped", "conditions_not_met", "not_member", "member_inactive"]
    base_points: int
    multiplier: str
    points: int
    entry_id: int | None
    detail: str
    decided_at: dt.datetime

    @staticmethod
    def of(d: EarningDecision) -> DecisionOut:
        return DecisionOut(
            id=d.pk,
            event_id=d.event_id,
            event_ts=d.event_ts,
            member_id=d.member_id,
            outcome=d.outcome,  # type: ignore[arg-type]
            base_points=d.base_points,
            multiplier=f"{d.multiplier:.2f}",
            points=d.points,
            entry_id=d.entry_id,
            detail=d.detail,
            decided_at=d.decided_at,
        )


class DecisionPageOut(Schema):
    items: list[DecisionOut]
    next_cursor: str | None


def _rule(actor_request: HttpRequest, rule_id: int) -> EarningRule:
    _check_id("earning rule", rule_id)
    return rules.rule_get(actor=actor_of(actor_request), rule_id=rule_id)


@router.get("/rules", response=with_errors({200: RulePageOut}), summary="Earning rules")
def rules_list(request: HttpRequest, filters: Query[RuleFilters]) -> RulePageOut:
    selectors.require(actor_of(request), "membership.view")
    qs = EarningRule.objects.select_related("program__brand").order_by("id")
    if filters.brand:
        qs = qs.filter(program__brand__code=filters.brand)
    if filters.event:
        qs = qs.filter(event=filters.event)
    page = paginate(qs, params=filters, listing="membership.rules")
    return RulePageOut(items=[RuleOut.of(r) for r in page.items], next_cursor=page.next_cursor)


@router.post("/rules", response=with_errors({201: RuleOut}, 409), summary="Add an earning rule")
def rules_create(request: HttpRequest, response: HttpResponse, payload: RuleIn) -> Status[Any]:
    actor = actor_of(request)
    rules.require_manage(actor)
    program = program_of(payload.brand)

    def create() -> tuple[int, dict[str, Any]]:
        values = {k: v for k, v in payload.model_dump(exclude={"brand", "code"}).items() if v is not None}
        rule = rules.rule_create(actor=actor, program=program, code=payload.code, values=values)
        return 201, RuleOut.of(rule).model_dump(mode="json")

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)


@router.get("/rules/{int:rule_id}", response=with_errors({200: RuleOut}), summary="An earning rule")
def rules_get(request: HttpRequest, rule_id: int) -> RuleOut:
    return RuleOut.of(_rule(request, rule_id))


@router.patch("/rules/{int:rule_id}", response=with_errors({200: RuleOut}), summary="Change an earning rule")
def rules_update(request: HttpRequest, rule_id: int, payload: RuleFields) -> RuleOut:
    actor = actor_of(request)
    rules.require_manage(actor)
    rule = _rule(request, rule_id)
    updated = rules.rule_update(actor=actor, rule=rule, values=payload.model_dump(exclude_unset=True))
    return RuleOut.of(EarningRule.objects.select_related("program__brand").get(pk=updated.pk))


@router.get(
    "/rules/{int:rule_id}/decisions",
    response=with_errors({200: DecisionPageOut}),
    summary="What the earning job decided for a rule (members in your scope)",
)
def rules_decisions(request: HttpRequest, rule_id: int, params: Query[PageParams]) -> DecisionPageOut:
    actor = actor_of(request)
    rule = _rule(request, rule_id)
    qs = EarningDecision.objects.filter(rule=rule, member__in=selectors.members_visible_to(actor)).order_by("id")
    page = paginate(qs, params=params, listing=f"membership.decisions.{rule.pk}")
    return DecisionPageOut(items=[DecisionOut.of(d) for d in page.items], next_cursor=page.next_cursor)

"""`GET /api/v1/analytics/funnel|retention|active`: the same JSON as `hufen analytics ... --json`.

HQ sees every event; a region its dealers'; a dealer (staff or API client) its own dealer's events.
Butlers and merchant operators get 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from hufen.analytics import selectors as s
from hufen.api.auth import actor_of
from hufen.api.errors import with_errors
from hufen.common.errors import PermissionDenied
from hufen.common.pii import FieldError

router = Router(tags=["analytics"])
T = TypeVar("T")


class RangeIn(Schema):
    date_from: str = Field("", alias="from", description="First local day (Asia/Shanghai), YYYY-MM-DD.")
    date_to: str = Field("", alias="to", description="Last local day, YYYY-MM-DD (default today).")
    engine: str = Field("duckdb", description="`duckdb` (default) or `clickhouse`.")


class FunnelIn(RangeIn):
    steps: str = Field("", description="Comma-separated event names; `a|b` = either event.")
    funnel: str = Field("", description="A named funnel: `acquisition` or `retention`.")
    window: str = Field("30d", description="Conversion window: 30d, 12h, 2w, 90m, 3600s.")
    by: str = Field("", description="Breakdown: dealer, region, channel or a property name.")


class RetentionIn(RangeIn):
    start: str = "vehicle_delivered"
    return_event: str = Field("app_active", alias="return")
    period: str = Field("week", description="day, week or month")
    periods: int = Field(12, ge=1, le=60)


class ActiveIn(RangeIn):
    summary: bool = Field(False, description="Read the incremental daily summaries.")


class StepOut(Schema):
    name: str
    count: int
    conversion: float | None
    step_conversion: float | None
    median_seconds_from_previous: float | None


class BreakdownOut(Schema):
    value: str
    steps: list[StepOut]


class FunnelOut(Schema):
    steps: list[StepOut]
    by: str | None = None
    breakdown: list[BreakdownOut] | None = None
    window_seconds: int
    date_from: str = Field(alias="from")
    date_to: str = Field(alias="to")


class CohortOut(Schema):
    cohort: str
    size: int
    retained: list[int]
    rates: list[float | None]


class RetentionOut(Schema):
    start: str
    return_event: str = Field(alias="return")
    period: str
    periods: int
    cohorts: list[CohortOut]


class DayOut(Schema):
    day: str
    dau: int
    wau: int
    mau: int
    stickiness: float | None
    events: int


class MemberDayOut(Schema):
    day: str
    members: int
    active: int
    share: float | None


class ActiveOut(Schema):
    days: list[DayOut]
    event_counts: dict[str, int]
    member_days: list[MemberDayOut]


def _run(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except s.AnalyticsInputError as exc:
        raise FieldError(exc.argument, exc.reason) from None
    except s.AnalyticsForbidden as exc:
        raise PermissionDenied(str(exc)) from None


@router.get("/funnel", response=with_errors({200: FunnelOut}), by_alias=True, summary="An ordered funnel")
def analytics_funnel(request: HttpRequest, params: Query[FunnelIn]) -> dict[str, Any]:
    actor = actor_of(request)

    def run() -> dict[str, Any]:
        s.scope_for(actor)
        query = s.FunnelQuery(
            steps=s.parse_steps(params.steps, params.funnel or None),
            window_us=s.parse_window(params.window),
            rng=s.parse_range(params.date_from, params.date_to),
            by=s.parse_breakdown(params.by),
        )
        return s.funnel_for(actor, query, s.open_engine(params.engine))

    return _run(run)


@router.get("/retention", response=with_errors({200: RetentionOut}), by_alias=True, summary="Cohort retention")
def analytics_retention(request: HttpRequest, params: Query[RetentionIn]) -> dict[str, Any]:
    actor = actor_of(request)

    def run() -> dict[str, Any]:
        s.scope_for(actor)
        return s.retention_for(
            actor,
            start=s.parse_event(params.start, "start"),
            returning=s.parse_event(params.return_event, "return"),
            period=s.parse_period(params.period),
            periods=params.periods,
            rng=s.parse_range(params.date_from, params.date_to),
            engine=s.open_engine(params.engine),
        )

    return _run(run)


@router.get("/active", response=with_errors({200: ActiveOut}), by_alias=True, summary="DAU, WAU, MAU, Member Day")
def analytics_active(request: HttpRequest, params: Query[ActiveIn]) -> dict[str, Any]:
    actor = actor_of(request)

    def run() -> dict[str, Any]:
        s.scope_for(actor)
        rng = s.parse_range(params.date_from, params.date_to)
        return s.active_for(actor, rng=rng, engine=s.open_engine(params.engine), summary=params.summary)

    return _run(run)

"""Member Day endpoints at /api/v1/memberday/: the calendar, check-in, tasks, dealer sessions, figures.

Thin: parse, call one selector or service, shape the answer. Check-in and the other member writes
are idempotent by their natural key (one check-in per member and Member Day, one completion per
task); an `Idempotency-Key` header is honoured as for every create.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from hufen.api.auth import actor_of
from hufen.api.errors import ApiError, with_errors
from hufen.api.idempotency import Outcome, caller_scope, idempotency_key, request_hash, run_idempotent
from hufen.api.pagination import PageParams, paginate
from hufen.api.types import Text
from hufen.common.errors import NotFound
from hufen.memberday import dashboard, selectors
from hufen.memberday.checkin import KeyConflict, RequestKey, memberday_check_in, memberday_task_complete
from hufen.memberday.models import CheckIn, Occurrence, Offer, Session, SessionSignup, Task, TaskCompletion
from hufen.memberday.sessions import session_create, session_mark_attendance, session_sign_up
from hufen.membership import selectors as membership_selectors
from hufen.org.models import Dealer

router = Router(tags=["memberday"])

MAX_ID = 2**63 - 1


def _id(value: int, what: str) -> int:
    if value > MAX_ID:
        raise NotFound(f"{what} {value} does not exist")
    return value


class TaskOut(Schema):
    kind: str
    title: str
    points: int

    @staticmethod
    def of(t: Task) -> TaskOut:
        return TaskOut(kind=t.kind, title=t.title, points=t.points)


class OfferOut(Schema):
    id: int
    title: str
    body: str
    min_tier_rank: int
    benefit_code: str

    @staticmethod
    def of(o: Offer) -> OfferOut:
        return OfferOut(id=o.pk, title=o.title, body=o.body, min_tier_rank=o.min_tier_rank, benefit_code=o.benefit_code)


class OccurrenceOut(Schema):
    id: int
    brand: str
    day: dt.date = Field(description="The Member Day's date in the brand's time zone.")
    starts_at: dt.datetime
    ends_at: dt.datetime
    title: str
    theme: str
    checkin_points: int

    @staticmethod
    def of(o: Occurrence) -> OccurrenceOut:
        return OccurrenceOut(
            id=o.pk,
            brand=o.brand.code,
            day=o.day,
            starts_at=o.starts_at,
            ends_at=o.ends_at,
            title=o.title,
            theme=o.theme,
            checkin_points=o.checkin_points,
        )


class OccurrenceDetailOut(OccurrenceOut):
    tasks: list[TaskOut]
    offers: list[OfferOut]


class OccurrencePageOut(Schema):
    items: list[OccurrenceOut]
    next_cursor: str | None


class OccurrenceFilters(PageParams):
    brand: Text = Field("", max_length=32)


class CheckInIn(Schema):
    member_id: int = Field(ge=1, le=MAX_ID)
    channel: Literal["app", "h5", "wechat", "api", "dealer"] = "app"


class CheckInOut(Schema):
    id: int
    occurrence_id: int
    day: dt.date
    member_id: int
    points: int
    entry_id: int | None = Field(description="The ledger entry that paid the points; null while pending.")
    points_status: Literal["pending", "awarded", "skipped", "none"] = Field(
        description="pending: the points are on their way (paid within seconds, in a batch); awarded: "
        "in the ledger (entry_id); skipped: the member was no longer active; none: nothing to pay."
    )
    checked_in_at: dt.datetime
    created: bool = Field(description="False when the member had already checked in (the first check-in).")

    @staticmethod
    def of(c: CheckIn, occurrence: Occurrence, created: bool) -> CheckInOut:
        return CheckInOut(
            id=c.pk,
            occurrence_id=occurrence.pk,
            day=occurrence.day,
            member_id=c.member_id,
            points=c.points,
            entry_id=c.entry_id,
            points_status=c.points_status,  # type: ignore[arg-type]
            checked_in_at=c.checked_in_at,
            created=created,
        )


class TaskStateOut(Schema):
    kind: str
    title: str
    points: int
    done: bool


class MemberDayOut(Schema):
    member_id: int
    occurrence: OccurrenceOut | None
    is_today: bool
    seconds_to_start: int
    checked_in: bool
    checkin_points_status: str = Field(description='"pending", "awarded", "skipped", "none"; "" before checking in.')
    tasks: list[TaskStateOut]
    offers: list[OfferOut]


class TaskCompleteIn(Schema):
    member_id: int = Field(ge=1, le=MAX_ID)
    kind: Literal["post", "share", "attend"]
    ref: Text = Field("", max_length=120, description="What proves it: the post or share id.")


class TaskCompletionOut(Schema):
    id: int
    occurrence_id: int
    member_id: int
    kind: str
    points: int
    entry_id: int | None
    completed_at: dt.datetime
    created: bool

    @staticmethod
    def of(c: TaskCompletion, kind: str, created: bool) -> TaskCompletionOut:
        return TaskCompletionOut(
            id=c.pk,
            occurrence_id=c.occurrence_id,
            member_id=c.member_id,
            kind=kind,
            points=c.points,
            entry_id=c.entry_id,
            completed_at=c.completed_at,
            created=created,
        )


class SessionOut(Schema):
    id: int
    occurrence_id: int
    dealer: str
    dealer_name: str
    city: str
    title: str
    location: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    signed_up: int

    @staticmethod
    def of(s: Session) -> SessionOut:
        return SessionOut(
            id=s.pk,
            occurrence_id=s.occurrence_id,
            dealer=s.dealer.code,
            dealer_name=s.dealer.name,
            city=s.dealer.city,
            title=s.title,
            location=s.location,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            capacity=s.capacity,
            signed_up=s.signed_up,
        )


class SessionPageOut(Schema):
    items: list[SessionOut]
    next_cursor: str | None


class SessionIn(Schema):
    dealer: Text = Field(max_length=16, description="Dealer code; dealer managers only their own.")
    title: Text = Field(max_length=80)
    location: Text = Field("", max_length=120)
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int = Field(ge=1, le=10_000)


class MemberIn(Schema):
    member_id: int = Field(ge=1, le=MAX_ID)


class SignupOut(Schema):
    id: int
    session_id: int
    member_id: int
    signed_up_at: dt.datetime
    attended_at: dt.datetime | None

    @staticmethod
    def of(s: SessionSignup) -> SignupOut:
        return SignupOut(
            id=s.pk,
            session_id=s.session_id,
            member_id=s.member_id,
            signed_up_at=s.signed_up_at,
            attended_at=s.attended_at,
        )


class FiguresOut(Schema):
    occurrence_id: int
    day: str
    checkins: int
    active_members: int
    members: int
    share_active: float | None
    points_awarded: int
    points_pending: int = Field(description="Check-in points on their way (paid in batches within seconds).")
    sessions: int
    signups: int
    attendance: int


class DealerFigureOut(Schema):
    dealer: str
    name: str
    checkins: int
    attendance: int


class DashboardOut(Schema):
    figures: FiguresOut
    online_now: int = Field(description="Distinct members with a request in the last 5 minutes (cache).")
    per_minute: list[tuple[str, int]] = Field(description="[local HH:MM, check-ins] for minutes with check-ins.")
    series: list[tuple[str, int]] = Field(description="The same, every minute from the first check-in to now.")
    dealers: list[DealerFigureOut]
    as_of: str


class ReportRowOut(Schema):
    metric: str
    current: float | int | None
    previous: float | int | None
    change: float | None


class RegionRowOut(Schema):
    region: str
    checkins: int
    previous_checkins: int
    attendance: int
    previous_attendance: int


class ReportOut(Schema):
    occurrence: FiguresOut
    previous: FiguresOut | None
    rows: list[ReportRowOut]
    regions: list[RegionRowOut]


# --- the calendar ---------------------------------------------------------------------------------


@router.get("/occurrences", response=with_errors({200: OccurrencePageOut}), summary="Member Days")
def occurrences_list(request: HttpRequest, filters: Query[OccurrenceFilters]) -> OccurrencePageOut:
    qs = selectors.occurrence_list(actor=actor_of(request), brand_code=filters.brand)
    page = paginate(qs, params=filters, listing="memberday.occurrences")
    return OccurrencePageOut(items=[OccurrenceOut.of(o) for o in page.items], next_cursor=page.next_cursor)


@router.get(
    "/occurrences/{int:occurrence_id}", response=with_errors({200: OccurrenceDetailOut}), summary="A Member Day"
)
def occurrences_get(request: HttpRequest, occurrence_id: int) -> OccurrenceDetailOut:
    o = selectors.occurrence_get(actor=actor_of(request), occurrence_id=_id(occurrence_id, "Member Day"))
    return OccurrenceDetailOut(
        **OccurrenceOut.of(o).model_dump(),
        tasks=[TaskOut.of(t) for t in selectors.tasks_of(o)],
        offers=[OfferOut.of(x) for x in selectors.offers_for_rank(o, None)],
    )


# --- the member's day: check-in and tasks ----------------------------------------------------------


@router.post(
    "/check-ins",
    response=with_errors({200: CheckInOut, 201: CheckInOut}, 409),
    summary="Check a member in to today's Member Day (brand time)",
)
def check_in(request: HttpRequest, response: HttpResponse, payload: CheckInIn) -> Status[dict[str, Any]]:
    """Idempotent by its natural key (one check-in per member and Member Day): a retry is answered
    from the check-in itself; an `Idempotency-Key` is honoured (same key, same request: the first
    answer again; same key, another request: 409) without a separate lookup."""
    actor = actor_of(request)
    body = payload.model_dump(mode="json")
    key = idempotency_key(request)
    request_key = RequestKey(caller_scope(actor), key, request_hash(request, body)) if key is not None else None
    try:
        result = memberday_check_in(
            actor=actor, member_id=payload.member_id, channel=payload.channel, request_key=request_key
        )
    except KeyConflict as exc:
        raise ApiError(
            409, "idempotency_conflict", "Idempotency-Key was already used for a different request.", {"key": exc.key}
        ) from exc
    out = CheckInOut.of(result.checkin, result.checkin.occurrence, result.created)
    return Outcome(201 if result.created else 200, out.model_dump(mode="json"), result.replayed).to_status(response)


@router.get("/members/{int:member_id}/today", response=with_errors({200: MemberDayOut}), summary="A member's day")
def member_today(request: HttpRequest, member_id: int) -> MemberDayOut:
    actor = actor_of(request)
    member = membership_selectors.member_get(actor=actor, member_id=_id(member_id, "member"))
    view = selectors.member_day_view(member=member)
    return MemberDayOut(
        member_id=member.pk,
        occurrence=OccurrenceOut.of(view.occurrence) if view.occurrence else None,
        is_today=view.is_today,
        seconds_to_start=view.seconds_to_start,
        checked_in=view.checked_in,
        checkin_points_status=view.points_status,
        tasks=[TaskStateOut(kind=t.kind, title=t.title, points=t.points, done=t.done) for t in view.tasks],
        offers=[OfferOut.of(o) for o in view.offers],
    )


@router.post(
    "/task-completions",
    response=with_errors({200: TaskCompletionOut, 201: TaskCompletionOut}, 409),
    summary="Complete a member's task of today (post, share, attend)",
)
def task_complete(request: HttpRequest, response: HttpResponse, payload: TaskCompleteIn) -> Status[dict[str, Any]]:
    actor = actor_of(request)

    def create() -> tuple[int, dict[str, Any]]:
        r = memberday_task_complete(actor=actor, member_id=payload.member_id, kind=payload.kind, ref=payload.ref)
        return (201 if r.created else 200), TaskCompletionOut.of(r.completion, payload.kind, r.created).model_dump(
            mode="json"
        )

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)


# --- dealer sessions ------------------------------------------------------------------------------


@router.get(
    "/occurrences/{int:occurrence_id}/sessions",
    response=with_errors({200: SessionPageOut}),
    summary="Dealer sessions of a Member Day (your dealers)",
)
def sessions_list(request: HttpRequest, occurrence_id: int, params: Query[PageParams]) -> SessionPageOut:
    actor = actor_of(request)
    o = selectors.occurrence_get(actor=actor, occurrence_id=_id(occurrence_id, "Member Day"))
    page = paginate(selectors.session_list(actor=actor, occurrence=o), params=params, listing=f"memberday.s.{o.pk}")
    return SessionPageOut(items=[SessionOut.of(s) for s in page.items], next_cursor=page.next_cursor)


@router.post(
    "/occurrences/{int:occurrence_id}/sessions",
    response=with_errors({201: SessionOut}, 409),
    summary="Create a dealer session (HQ, or a dealer manager for its dealer)",
)
def sessions_create(
    request: HttpRequest, response: HttpResponse, occurrence_id: int, payload: SessionIn
) -> Status[dict[str, Any]]:
    actor = actor_of(request)
    o = selectors.occurrence_get(actor=actor, occurrence_id=_id(occurrence_id, "Member Day"))
    dealer = Dealer.objects.filter(code=payload.dealer).first()
    if dealer is None:
        raise NotFound(f"dealer {payload.dealer!r} does not exist")

    def create() -> tuple[int, dict[str, Any]]:
        s = session_create(
            actor=actor,
            occurrence=o,
            dealer=dealer,
            title=payload.title,
            location=payload.location,
            starts_at=payload.starts_at,
            ends_at=payload.ends_at,
            capacity=payload.capacity,
        )
        return 201, SessionOut.of(s).model_dump(mode="json")

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)


@router.post(
    "/sessions/{int:session_id}/signups",
    response=with_errors({200: SignupOut, 201: SignupOut}, 409),
    summary="Sign a member up for a session",
)
def sessions_sign_up(
    request: HttpRequest, response: HttpResponse, session_id: int, payload: MemberIn
) -> Status[dict[str, Any]]:
    actor = actor_of(request)
    session = selectors.session_get(actor=actor, session_id=_id(session_id, "session"))

    def create() -> tuple[int, dict[str, Any]]:
        r = session_sign_up(actor=actor, session=session, member_id=payload.member_id)
        return (201 if r.created else 200), SignupOut.of(r.signup).model_dump(mode="json")

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)


@router.post(
    "/sessions/{int:session_id}/attendance",
    response=with_errors({200: SignupOut}),
    summary="Mark a signed-up member present (the session's dealer staff)",
)
def sessions_attendance(request: HttpRequest, session_id: int, payload: MemberIn) -> SignupOut:
    actor = actor_of(request)
    session = selectors.session_get(actor=actor, session_id=_id(session_id, "session"))
    return SignupOut.of(session_mark_attendance(actor=actor, session=session, member_id=payload.member_id))


# --- figures --------------------------------------------------------------------------------------


@router.get(
    "/occurrences/{int:occurrence_id}/dashboard",
    response=with_errors({200: DashboardOut}),
    summary="Live figures of a Member Day (your scope)",
)
def occurrence_dashboard(request: HttpRequest, occurrence_id: int) -> dict[str, Any]:
    actor = actor_of(request)
    o = selectors.occurrence_get(actor=actor, occurrence_id=_id(occurrence_id, "Member Day"))
    return dashboard.live_dashboard(actor, o)


@router.get(
    "/occurrences/{int:occurrence_id}/report",
    response=with_errors({200: ReportOut}),
    summary="A Member Day against the previous one, overall and by region (your scope)",
)
def occurrence_report(request: HttpRequest, occurrence_id: int) -> dict[str, Any]:
    actor = actor_of(request)
    o = selectors.occurrence_get(actor=actor, occurrence_id=_id(occurrence_id, "Member Day"))
    return dashboard.report(actor, o)

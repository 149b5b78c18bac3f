"""Reads: occurrences, sessions (dealer-scoped), a member's view of the day, and scoped check-ins.

Figures for dashboards and reports are in dashboard.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils import timezone

from hufen.common.actors import Actor, Role, Scope
from hufen.common.errors import NotFound, PermissionDenied
from hufen.memberday.models import CheckIn, Occurrence, Offer, Session, SessionSignup, Task, TaskCompletion
from hufen.membership.models import Member
from hufen.people.models import Person
from hufen.people.querysets import dealer_queryset_for


def occurrences_visible_to(actor: Actor) -> QuerySet[Occurrence]:
    """Every console role and integration sees the campaign calendar; a brand-scoped client its brands."""
    qs = Occurrence.objects.select_related("brand")
    if actor.scope == Scope.NONE:
        return qs.none()
    if actor.scope == Scope.BRAND:
        return qs.filter(brand_id__in=actor.brand_ids)
    if actor.role == Role.MEMBER:
        return qs.filter(brand__membership_program__members__pk=actor.member_id) if actor.member_id else qs.none()
    return qs


def occurrence_list(*, actor: Actor, brand_code: str = "") -> QuerySet[Occurrence]:
    qs = occurrences_visible_to(actor)
    if brand_code:
        qs = qs.filter(brand__code=brand_code)
    return qs


def occurrence_get(*, actor: Actor, occurrence_id: int) -> Occurrence:
    occurrence = occurrences_visible_to(actor).filter(pk=occurrence_id).first()
    if occurrence is None:
        raise NotFound(f"Member Day {occurrence_id} does not exist")
    return occurrence


def previous_occurrence(occurrence: Occurrence) -> Occurrence | None:
    return Occurrence.objects.filter(brand_id=occurrence.brand_id, day__lt=occurrence.day).order_by("-day").first()


def sessions_visible_to(actor: Actor) -> QuerySet[Session]:
    """Staff see their dealers' sessions (HQ all, region its dealers, dealer staff their own);
    a member sees every session of their brand's Member Days, to choose one nearby."""
    qs = Session.objects.select_related("dealer", "dealer__region", "occurrence")
    if actor.role == Role.MEMBER:
        if not actor.member_id:
            return qs.none()
        return qs.filter(occurrence__brand__membership_program__members__pk=actor.member_id)
    if actor.scope == Scope.ALL:
        return qs
    return qs.filter(dealer_id__in=dealer_queryset_for(actor).values("id"))


def session_list(*, actor: Actor, occurrence: Occurrence) -> QuerySet[Session]:
    return sessions_visible_to(actor).filter(occurrence=occurrence)


def session_get(*, actor: Actor, session_id: int) -> Session:
    session = sessions_visible_to(actor).filter(pk=session_id).first()
    if session is None:
        raise NotFound(f"session {session_id} does not exist or is outside your data scope")
    return session


def session_signups(*, actor: Actor, session: Session) -> QuerySet[SessionSignup]:
    """The sign-up list, for the session's own dealer staff and HQ/region above it."""
    if actor.role == Role.MEMBER:
        raise PermissionDenied(f"{actor.label} may not see this session's sign-ups")
    session_get(actor=actor, session_id=session.pk)  # NotFound outside the actor's dealers
    return SessionSignup.objects.filter(session=session).select_related("member__person", "member__tier")


def checkins_visible_to(actor: Actor) -> QuerySet[CheckIn]:
    """Check-ins of the persons the actor may see (`Person.objects.visible_to`)."""
    if actor.scope == Scope.ALL:
        return CheckIn.objects.all()
    return CheckIn.objects.filter(person_id__in=Person.objects.visible_to_in_bulk(actor).values("id"))


def completions_visible_to(actor: Actor) -> QuerySet[TaskCompletion]:
    if actor.scope == Scope.ALL:
        return TaskCompletion.objects.all()
    return TaskCompletion.objects.filter(member__person_id__in=Person.objects.visible_to_in_bulk(actor).values("id"))


# --- a member's view of the day (portal and API) --------------------------------------------------


@dataclass(frozen=True)
class TaskState:
    kind: str
    title: str
    points: int
    done: bool


@dataclass
class MemberDayView:
    occurrence: Occurrence | None
    is_today: bool
    seconds_to_start: int
    checked_in: bool
    # The check-in's points: "pending" (on their way), "awarded", "skipped", "none"; "" if not checked in.
    points_status: str = ""
    tasks: list[TaskState] = field(default_factory=list)
    offers: list[Offer] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    my_sessions: dict[int, bool] = field(default_factory=dict)  # session id → attended


def current_or_next(*, brand_id: int, now: dt.datetime) -> Occurrence | None:
    return (
        Occurrence.objects.filter(brand_id=brand_id, ends_at__gt=now)
        .select_related("brand")
        .order_by("starts_at")
        .first()
    )


def member_day_view(*, member: Member, now: dt.datetime | None = None, city: str = "") -> MemberDayView:
    """Today's Member Day (or the next one) as the member sees it. Fixed query count."""
    now = now or timezone.now()
    occurrence = current_or_next(brand_id=member.program.brand_id, now=now)
    if occurrence is None:
        return MemberDayView(occurrence=None, is_today=False, seconds_to_start=0, checked_in=False)
    is_today = occurrence.starts_at <= now
    points_status = (
        CheckIn.objects.filter(occurrence=occurrence, member_id=member.pk)
        .values_list("points_status", flat=True)
        .first()
    )
    checked_in = points_status is not None
    done = set(
        TaskCompletion.objects.filter(occurrence=occurrence, member_id=member.pk).values_list("task_id", flat=True)
    )
    tasks = [TaskState("check_in", "会员日签到", occurrence.checkin_points, checked_in)] + [
        TaskState(t.kind, t.title, t.points, t.pk in done) for t in Task.objects.filter(occurrence=occurrence)
    ]
    rank = member.tier.rank
    offers = list(Offer.objects.filter(occurrence=occurrence, min_tier_rank__lte=rank))
    sessions = list(Session.objects.filter(occurrence=occurrence).select_related("dealer"))
    # Nearby first: sessions in the member's city, then by start time.
    sessions.sort(key=lambda s: (s.dealer.city != city, s.starts_at, s.pk))
    mine = dict(
        SessionSignup.objects.filter(session__occurrence=occurrence, member_id=member.pk).values_list(
            "session_id", "attended_at"
        )
    )
    return MemberDayView(
        occurrence=occurrence,
        is_today=is_today,
        seconds_to_start=max(0, int((occurrence.starts_at - now).total_seconds())),
        checked_in=checked_in,
        points_status=points_status or "",
        tasks=tasks,
        offers=offers,
        sessions=sessions,
        my_sessions={sid: at is not None for sid, at in mine.items()},
    )


def tasks_of(occurrence: Occurrence) -> QuerySet[Task]:
    return Task.objects.filter(occurrence=occurrence)


def offers_for_rank(occurrence: Occurrence, rank: int | None) -> QuerySet[Offer]:
    qs = Offer.objects.filter(occurrence=occurrence)
    return qs if rank is None else qs.filter(min_tier_rank__lte=rank)


def member_scope_q(actor: Actor) -> Q:
    return Q(person_id__in=Person.objects.visible_to_in_bulk(actor).values("id"))

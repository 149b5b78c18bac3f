"""Dealers' offline sessions on a Member Day: create/edit (own dealer only), sign-up, attendance."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from hufen.common.actors import Actor
from hufen.common.audit import audit, diff
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.events import publish
from hufen.memberday.access import can_edit_sessions_of, can_mark_attendance_at, require_act_for
from hufen.memberday.checkin import task_complete_for_attendance
from hufen.memberday.models import Occurrence, Session, SessionSignup
from hufen.membership.models import Member
from hufen.org.models import Dealer

MAX_CAPACITY = 10_000


@dataclass(frozen=True)
class SignupResult:
    signup: SessionSignup
    created: bool


def _check_fields(
    occurrence: Occurrence, *, title: str, location: str, starts_at: dt.datetime, ends_at: dt.datetime, capacity: int
) -> tuple[str, str]:
    title = (title or "").strip()
    location = (location or "").strip()
    if not title:
        raise FieldError("title", "is required")
    if len(title) > 80:
        raise FieldError("title", "must be at most 80 characters")
    if len(location) > 120:
        raise FieldError("location", "must be at most 120 characters")
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise FieldError("starts_at", "must carry a time zone")
    if not occurrence.starts_at <= starts_at < occurrence.ends_at:
        raise FieldError("starts_at", f"must be on the Member Day {occurrence.day.isoformat()} (brand time)")
    if ends_at <= starts_at:
        raise FieldError("ends_at", "must be after starts_at")
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not 1 <= capacity <= MAX_CAPACITY:
        raise FieldError("capacity", f"must be 1 to {MAX_CAPACITY}")
    return title, location


@transaction.atomic
def session_create(
    *,
    actor: Actor,
    occurrence: Occurrence,
    dealer: Dealer,
    title: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    capacity: int,
    location: str = "",
) -> Session:
    if not can_edit_sessions_of(actor, dealer):
        raise PermissionDenied(f"{actor.label} may not create sessions for dealer {dealer.code}")
    if not dealer.brands.filter(pk=occurrence.brand_id).exists():
        raise FieldError("dealer", f"dealer {dealer.code} does not sell the brand of this Member Day")
    title, location = _check_fields(
        occurrence, title=title, location=location, starts_at=starts_at, ends_at=ends_at, capacity=capacity
    )
    session = Session.objects.create(
        occurrence=occurrence,
        dealer=dealer,
        title=title,
        location=location,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=capacity,
        created_by=actor.label[:150],
    )
    audit(
        actor=actor,
        action="memberday.session_create",
        obj_type="memberday_session",
        obj_id=session.pk,
        summary={"dealer": dealer.code, "occurrence_id": occurrence.pk, "capacity": capacity},
    )
    publish(
        "memberday_session_created",
        dealer_id=dealer.pk,
        properties={"session_id": session.pk, "occurrence_id": occurrence.pk, "title": title},
    )
    return session


@transaction.atomic
def session_update(
    *,
    actor: Actor,
    session: Session,
    title: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    capacity: int,
    location: str = "",
) -> Session:
    session = Session.objects.select_for_update().select_related("occurrence", "dealer").get(pk=session.pk)
    if not can_edit_sessions_of(actor, session.dealer):
        raise PermissionDenied(f"{actor.label} may not edit sessions of dealer {session.dealer.code}")
    title, location = _check_fields(
        session.occurrence, title=title, location=location, starts_at=starts_at, ends_at=ends_at, capacity=capacity
    )
    if capacity < session.signed_up:
        raise FieldError("capacity", f"{session.signed_up} members already signed up")
    fields = ("title", "location", "starts_at", "ends_at", "capacity")
    before = {f: str(getattr(session, f)) for f in fields}
    session.title, session.location, session.starts_at, session.ends_at, session.capacity = (
        title,
        location,
        starts_at,
        ends_at,
        capacity,
    )
    session.save(update_fields=list(fields))
    after = {f: str(getattr(session, f)) for f in fields}
    audit(
        actor=actor,
        action="memberday.session_update",
        obj_type="memberday_session",
        obj_id=session.pk,
        summary=diff(before, after),
    )
    return session


@transaction.atomic
def session_sign_up(*, actor: Actor, session: Session, member_id: int, now: dt.datetime | None = None) -> SignupResult:
    """Sign the member up; idempotent per member. Full sessions refuse with a clear error."""
    now = now or timezone.now()
    member = Member.objects.select_related("program").filter(pk=member_id).first()
    if member is None:
        raise NotFound(f"member {member_id} does not exist or is outside your data scope")
    require_act_for(actor, member_id=member.pk, person_id=member.person_id)
    # The session row lock queues sign-ups, so `signed_up` never passes the capacity.
    session = Session.objects.select_for_update().select_related("occurrence").get(pk=session.pk)
    if member.program.brand_id != session.occurrence.brand_id:
        raise FieldError("member", "this session belongs to another brand's Member Day")
    existing = SessionSignup.objects.filter(session=session, member_id=member.pk).first()
    if existing is not None:
        return SignupResult(existing, created=False)
    if member.status != "active":
        raise FieldError("member", f"member {member.number} is {member.status}")
    if now >= session.ends_at:
        raise FieldError("session", "this session has ended")
    if session.signed_up >= session.capacity:
        raise FieldError("session", f"the session is full ({session.capacity} places)")
    try:
        with transaction.atomic():
            signup = SessionSignup.objects.create(session=session, member_id=member.pk, signed_up_at=now)
    except IntegrityError:
        return SignupResult(SessionSignup.objects.get(session=session, member_id=member.pk), created=False)
    session.signed_up += 1
    session.save(update_fields=["signed_up"])
    audit(
        actor=actor,
        action="memberday.sign_up",
        obj_type="memberday_signup",
        obj_id=signup.pk,
        summary={"session_id": session.pk, "member_id": member.pk},
    )
    publish(
        "memberday_session_signed_up",
        person_id=member.person_id,
        dealer_id=session.dealer_id,
        ts=now,
        properties={"session_id": session.pk, "occurrence_id": session.occurrence_id, "member_id": member.pk},
    )
    return SignupResult(signup, created=True)


@transaction.atomic
def session_mark_attendance(
    *, actor: Actor, session: Session, member_id: int, now: dt.datetime | None = None
) -> SessionSignup:
    """Dealer staff mark a signed-up member as present; it completes the `attend` task. Idempotent."""
    now = now or timezone.now()
    session = Session.objects.select_related("occurrence", "dealer").get(pk=session.pk)
    if not can_mark_attendance_at(actor, session.dealer):
        raise PermissionDenied(f"{actor.label} may not mark attendance at dealer {session.dealer.code}")
    signup = SessionSignup.objects.select_for_update().filter(session=session, member_id=member_id).first()
    if signup is None:
        raise FieldError("member_id", f"member {member_id} did not sign up for this session")
    if signup.attended_at is not None:
        return signup
    if now < session.starts_at - dt.timedelta(hours=1):
        raise FieldError("session", "attendance can be marked from one hour before the session starts")
    signup.attended_at = now
    signup.marked_by = actor.label[:150]
    signup.save(update_fields=["attended_at", "marked_by"])
    member = Member.objects.select_related("program__brand").get(pk=member_id)
    audit(
        actor=actor,
        action="memberday.attend",
        obj_type="memberday_signup",
        obj_id=signup.pk,
        summary={"session_id": session.pk, "member_id": member_id},
    )
    publish(
        "memberday_session_attended",
        person_id=member.person_id,
        dealer_id=session.dealer_id,
        ts=now,
        properties={"session_id": session.pk, "occurrence_id": session.occurrence_id, "member_id": member_id},
    )
    task_complete_for_attendance(
        actor=actor,
        member=member,
        occurrence=session.occurrence,
        dealer_id=session.dealer_id,
        session_id=session.pk,
        now=now,
    )
    return signup

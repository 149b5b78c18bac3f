"""The Member Day hot path: check-in, and task completion (the same shape, off the hot path).

`memberday_check_in` is what thousands of owners tap within minutes of midnight, so it is kept to a
fixed, small number of queries in one transaction:

1. the member with its program, brand and home dealer (one query, the dealer as a subquery);
2. the brand's occurrence whose UTC window contains `now` (one query on a unique index);
3. the points award through the ledger (`points_award`: account row lock, idempotency, lot, audit,
   event, tier check), keyed `memberday:<occurrence>:checkin` so that a concurrent double tap is
   one award: the second waits on the account lock and replays the first entry;
4. the check-in row under a savepoint: the unique (occurrence, member) constraint makes the loser
   of a race (or a later tap) return the first check-in instead of writing;
5. audit + `memberday_checked_in` event (ONE DATA); the live counter is bumped after commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from hufen.common.actors import Actor
from hufen.common.audit import audit
from hufen.common.errors import FieldError, NotFound
from hufen.common.events import publish
from hufen.memberday import live
from hufen.memberday.access import needs_scope_check, require_act_for
from hufen.memberday.models import CheckIn, Occurrence, Task, TaskCompletion
from hufen.memberday.services import local_day
from hufen.membership.errors import IdempotencyConflict
from hufen.membership.ledger import points_award
from hufen.membership.models import Member
from hufen.people.models import Ownership, Person

CHANNELS = frozenset({"app", "h5", "wechat", "api", "dealer"})


@dataclass(frozen=True)
class CheckInResult:
    checkin: CheckIn
    created: bool


@dataclass(frozen=True)
class TaskResult:
    completion: TaskCompletion
    created: bool


def home_dealer_subquery() -> Subquery:
    """The dealer that sold the member's current car of the program's brand (latest delivery)."""
    return Subquery(
        Ownership.objects.filter(
            person_id=OuterRef("person_id"),
            ended_at__isnull=True,
            vehicle__model__brand_id=OuterRef("program__brand_id"),
        )
        .order_by("-delivered_at", "-id")
        .values("dealer_id")[:1]
    )


def _member(actor: Actor, member_id: int, now: dt.datetime | None = None) -> Member:
    """The member, its brand, its home dealer, whether the actor may act for it and — when `now` is
    given — the id, date and points of its brand's Member Day containing `now`: one query."""
    qs = Member.objects.select_related("program__brand").annotate(home_dealer_id=home_dealer_subquery())
    if needs_scope_check(actor):
        qs = qs.annotate(in_scope=Exists(Person.objects.visible_to(actor).filter(pk=OuterRef("person_id"))))
    if now is not None:
        today = Occurrence.objects.filter(brand_id=OuterRef("program__brand_id"), starts_at__lte=now, ends_at__gt=now)
        qs = qs.annotate(
            day_id=Subquery(today.values("id")[:1]),
            day_date=Subquery(today.values("day")[:1]),
            day_points=Subquery(today.values("checkin_points")[:1]),
        )
    member = qs.filter(pk=member_id).first()
    if member is None:
        raise NotFound(f"member {member_id} does not exist or is outside your data scope")
    require_act_for(actor, member_id=member.pk, person_id=member.person_id, in_scope=getattr(member, "in_scope", None))
    if member.status != "active":
        raise FieldError("member", f"member {member.number} is {member.status}")
    return member


def occurrence_on_day(member: Member, now: dt.datetime) -> Occurrence:
    """The member's brand's Member Day containing `now`, or a clear error naming the next one.

    When `_member` already read it (annotations `day_*`), no query: the hot path's occurrence is a
    partial instance holding what a check-in needs (id, brand, date, points).
    """
    brand = member.program.brand
    if getattr(member, "day_id", None) is not None:
        return Occurrence(
            pk=member.day_id,  # type: ignore[attr-defined]
            brand_id=brand.pk,
            day=member.day_date,  # type: ignore[attr-defined]
            checkin_points=member.day_points,  # type: ignore[attr-defined]
        )
    occurrence = Occurrence.objects.filter(brand_id=brand.pk, starts_at__lte=now, ends_at__gt=now).first()
    if occurrence is not None:
        return occurrence
    today = local_day(brand, now)
    upcoming = Occurrence.objects.filter(brand_id=brand.pk, starts_at__gt=now).order_by("starts_at").first()
    nxt = f"; the next one is {upcoming.day.isoformat()}" if upcoming else "; none is scheduled"
    raise FieldError("day", f"{today.isoformat()} ({brand.time_zone}) is not a Member Day of {brand.name}{nxt}")


def _channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise FieldError("channel", f"must be one of {', '.join(sorted(CHANNELS))}")
    return channel


@transaction.atomic
def memberday_check_in(
    *, actor: Actor, member_id: int, channel: str = "app", now: dt.datetime | None = None
) -> CheckInResult:
    """Check the member in to today's Member Day (brand time); a repeat returns the first check-in."""
    now = now or timezone.now()
    channel = _channel(channel)
    member = _member(actor, member_id, now)
    occurrence = occurrence_on_day(member, now)
    try:
        entry_id: int | None = None
        if occurrence.checkin_points:
            entry = points_award(
                actor=actor,
                member=member,
                amount=occurrence.checkin_points,
                reason="check_in",
                idempotency_key=f"memberday:{occurrence.pk}:checkin",
                ref_type="memberday_occurrence",
                ref_id=str(occurrence.pk),
                now=now,
            )
            entry_id = entry.pk
    except IdempotencyConflict:
        # The points were changed after this member's first check-in: that check-in stands.
        return CheckInResult(
            CheckIn.objects.select_related("occurrence").get(occurrence=occurrence, member_id=member.pk), created=False
        )
    try:
        with transaction.atomic():
            checkin = CheckIn.objects.create(
                occurrence=occurrence,
                member_id=member.pk,
                person_id=member.person_id,
                dealer_id=getattr(member, "home_dealer_id", None),
                points=occurrence.checkin_points,
                entry_id=entry_id,
                channel=channel,
                actor_label=actor.label[:150],
                checked_in_at=now,
            )
    except IntegrityError:
        first = CheckIn.objects.select_related("occurrence").get(occurrence=occurrence, member_id=member.pk)
        # Whatever this call wrote (an award, if the first check-in paid nothing) is undone with it.
        transaction.set_rollback(True)
        return CheckInResult(first, created=False)
    audit(
        actor=actor,
        action="memberday.check_in",
        obj_type="memberday_checkin",
        obj_id=checkin.pk,
        summary={"occurrence_id": occurrence.pk, "member_id": member.pk, "points": checkin.points},
    )
    publish(
        "memberday_checked_in",
        person_id=member.person_id,
        dealer_id=checkin.dealer_id,
        channel=channel,
        ts=now,
        properties={
            "occurrence_id": occurrence.pk,
            "day": occurrence.day.isoformat(),
            "brand": member.program.brand.code,
            "member_id": member.pk,
            "points": checkin.points,
            "entry_id": entry_id,
        },
    )
    occurrence_id = occurrence.pk
    transaction.on_commit(lambda: live.record_checkin(occurrence_id))
    return CheckInResult(checkin, created=True)


@transaction.atomic
def memberday_task_complete(
    *, actor: Actor, member_id: int, kind: str, ref: str = "", now: dt.datetime | None = None
) -> TaskResult:
    """Complete today's task of `kind` for the member and award its points, once per occurrence."""
    now = now or timezone.now()
    ref = (ref or "").strip()
    if len(ref) > 120:
        raise FieldError("ref", "must be at most 120 characters")
    member = _member(actor, member_id)
    occurrence = occurrence_on_day(member, now)
    task = Task.objects.filter(occurrence=occurrence, kind=kind).first()
    if task is None:
        raise FieldError("kind", f"the Member Day of {occurrence.day.isoformat()} has no {kind!r} task")
    return _complete(actor=actor, member=member, task=task, ref=ref, now=now, dealer_id=None)


def task_complete_for_attendance(
    *, actor: Actor, member: Member, occurrence: Occurrence, dealer_id: int, session_id: int, now: dt.datetime
) -> TaskResult | None:
    """Attending a dealer session completes the occurrence's `attend` task (if it has one)."""
    task = Task.objects.filter(occurrence=occurrence, kind="attend").first()
    if task is None:
        return None
    return _complete(actor=actor, member=member, task=task, ref=f"session:{session_id}", now=now, dealer_id=dealer_id)


def _complete(
    *, actor: Actor, member: Member, task: Task, ref: str, now: dt.datetime, dealer_id: int | None
) -> TaskResult:
    existing = TaskCompletion.objects.filter(task=task, member_id=member.pk).first()
    if existing is not None:
        return TaskResult(existing, created=False)
    entry_id: int | None = None
    if task.points:
        try:
            entry_id = points_award(
                actor=actor,
                member=member,
                amount=task.points,
                reason="memberday_task",
                idempotency_key=f"memberday:{task.occurrence_id}:task:{task.kind}",
                ref_type="memberday_task",
                ref_id=str(task.pk),
                now=now,
            ).pk
        except IdempotencyConflict:
            # Paid at another amount before the task changed: that completion stands.
            return TaskResult(TaskCompletion.objects.get(task=task, member_id=member.pk), created=False)
    try:
        with transaction.atomic():
            completion = TaskCompletion.objects.create(
                task=task,
                occurrence_id=task.occurrence_id,
                member_id=member.pk,
                dealer_id=dealer_id if dealer_id is not None else getattr(member, "home_dealer_id", None),
                points=task.points,
                entry_id=entry_id,
                ref=ref,
                completed_at=now,
            )
    except IntegrityError:
        first = TaskCompletion.objects.get(task=task, member_id=member.pk)
        transaction.set_rollback(True)  # a concurrent first completion won: undo this call's award
        return TaskResult(first, created=False)
    audit(
        actor=actor,
        action="memberday.task_complete",
        obj_type="memberday_task_completion",
        obj_id=completion.pk,
        summary={"task": task.kind, "member_id": member.pk, "points": task.points},
    )
    publish(
        "memberday_task_completed",
        person_id=member.person_id,
        dealer_id=completion.dealer_id,
        ts=now,
        properties={
            "occurrence_id": task.occurrence_id,
            "task": task.kind,
            "member_id": member.pk,
            "points": task.points,
            "entry_id": entry_id,
            "ref": ref,
        },
    )
    return TaskResult(completion, created=True)

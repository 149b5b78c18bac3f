"""The Member Day hot path: check-in, and task completion (the same shape, off the hot path).

`memberday_check_in` is what thousands of owners tap within minutes of midnight. On PostgreSQL its
common outcomes — a first check-in, a repeat tap, a retry with the same Idempotency-Key — are ONE
prepared statement (hotwrite.py): read, check-in row (`points_status` "pending"), audit row,
`memberday_checked_in` event (the outbox of ONE DATA) and the key's record, one round trip, no
BEGIN/COMMIT. Everything else, and every other database, takes the general path in one short
transaction:

1. one read: the member with its program, brand and home dealer, the brand's Member Day containing
   `now`, the member's check-in of that day if there is one, and — when the caller sent an
   `Idempotency-Key` — what that key answered before (all as subqueries of one statement, compiled
   once per actor: hotread.py). A repeat tap or a retry is answered by this read alone;
2. the check-in row under a savepoint: the unique (occurrence, member) constraint makes the loser of
   a race return the first check-in instead of writing;
3. audit + event + the key's record; the live counter is bumped after commit.

The points are paid seconds later by the award drain (`awards.memberday_award_pending`), many
check-ins per ledger transaction through `membership.ledger_batch.points_award_batch`, keyed
`memberday:<occurrence>:checkin` per account, so a check-in is paid at most once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone

from hufen.common.actors import Actor
from hufen.common.audit import audit
from hufen.common.errors import FieldError, NotFound
from hufen.common.events import publish
from hufen.common.models import IdempotencyRecord
from hufen.memberday import hotwrite, live
from hufen.memberday.access import needs_scope_check, require_act_for
from hufen.memberday.models import CHECKIN_COLUMNS, CheckIn, Occurrence, Task, TaskCompletion
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
    replayed: bool = False  # answered from an earlier request with the same Idempotency-Key


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


def _member(
    actor: Actor, member_id: int, now: dt.datetime | None = None, *, extra: dict[str, Subquery] | None = None
) -> Member:
    """The member, its brand, its home dealer, whether the actor may act for it and — when `now` is
    given — the id, date and points of its brand's Member Day containing `now`: one query."""
    member = member_queryset(actor, member_id, now, extra=extra).first()
    return _checked(actor, member_id, member)


def _checked(actor: Actor, member_id: int, member: Member | None) -> Member:
    if member is None:
        raise NotFound(f"member {member_id} does not exist or is outside your data scope")
    require_act_for(actor, member_id=member.pk, person_id=member.person_id, in_scope=getattr(member, "in_scope", None))
    if member.status != "active":
        raise FieldError("member", f"member {member.number} is {member.status}")
    return member


def member_queryset(
    actor: Actor, member_id: int, now: dt.datetime | None = None, *, extra: dict[str, Subquery] | None = None
) -> QuerySet[Member]:
    """The query `_member` runs (the hot read compiles it once per actor, see hotread.py)."""
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
    if extra:
        qs = qs.annotate(**extra)
    return qs.filter(pk=member_id)


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


@dataclass(frozen=True)
class RequestKey:
    """An `Idempotency-Key` sent with a check-in: the caller's scope, the key, the request's digest."""

    scope: str
    key: str
    digest: str


def _checkin_read(actor: Actor, member_id: int, now: dt.datetime, request_key: RequestKey | None) -> Member:
    """`_member` plus, in the same statement, the member's check-in of today (if any) and what the
    `Idempotency-Key` answered before (if it was used): the repeat tap is answered by this one read.
    Its SQL is compiled once per actor and kept (hotread.py): building it costs more CPU than running it."""
    from hufen.memberday.hotread import compiled_read

    member = compiled_read(
        actor,
        member_id,
        now,
        (request_key.scope, request_key.key) if request_key else None,
        lambda m, n, key: checkin_queryset(actor, m, n, key),
    )
    return _checked(actor, member_id, member)


def checkin_queryset(actor: Actor, member_id: int, now: dt.datetime, key: tuple[str, str] | None) -> QuerySet[Member]:
    mine = CheckIn.objects.filter(
        member_id=OuterRef("pk"),
        occurrence__brand_id=OuterRef("program__brand_id"),
        occurrence__starts_at__lte=now,
        occurrence__ends_at__gt=now,
    )
    extra: dict[str, Subquery] = {f"ci_{f}": Subquery(mine.values(f)[:1]) for f in CHECKIN_COLUMNS}
    if key is not None:
        record = IdempotencyRecord.objects.filter(scope=key[0], key=key[1])
        extra["key_status"] = Subquery(record.values("status_code")[:1])
        extra["key_digest"] = Subquery(record.values("request_hash")[:1])
    return member_queryset(actor, member_id, now, extra=extra)


def _read_checkin(member: Member, occurrence: Occurrence) -> CheckIn | None:
    # The read's annotations (`ci_*`) are the member's attributes.
    return CheckIn.from_read(vars(member), occurrence=occurrence, member_id=member.pk, person_id=member.person_id)


def _remember_key(request_key: RequestKey | None, status: int, checkin: CheckIn) -> None:
    """Keep what the key answered, so that the same key with another request is a conflict."""
    if request_key is None:
        return
    record = IdempotencyRecord(
        scope=request_key.scope,
        key=request_key.key,
        request_hash=request_key.digest,
        status_code=status,
        response={"checkin_id": checkin.pk},
    )
    if status == 200:
        # Nothing was created: a concurrent retry may have stored the same answer; keep one.
        IdempotencyRecord.objects.bulk_create([record], ignore_conflicts=True)
        return
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError as exc:
        # The key was taken meanwhile by another request: this check-in is undone with the error.
        raise KeyConflict(request_key.key) from exc


class KeyConflict(Exception):
    """The `Idempotency-Key` was already used for a different request."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"Idempotency-Key {key!r} was already used for a different request")


def memberday_check_in(
    *,
    actor: Actor,
    member_id: int,
    channel: str = "app",
    now: dt.datetime | None = None,
    request_key: RequestKey | None = None,
) -> CheckInResult:
    """Check the member in to today's Member Day (brand time); a repeat returns the first check-in.

    The points are not paid here: the check-in is recorded as `pending` and the award drain pays it
    in a batch seconds later (awards.py). A retry is answered from the natural key (occurrence,
    member); an `Idempotency-Key` that answered before answers the same again, and the same key with
    another request is a `KeyConflict`.

    On PostgreSQL a first check-in and a repeat tap are one prepared statement (hotwrite.py); every
    other case, and every database, takes the general path below, which explains errors.
    """
    now = now or timezone.now()
    channel = _channel(channel)
    if hotwrite.eligible(actor, member_id):
        done = hotwrite.check_in(
            actor=actor,
            member_id=member_id,
            channel=channel,
            now=now,
            key=(request_key.scope, request_key.key, request_key.digest) if request_key else None,
        )
        if done is not None:
            result = CheckInResult(done.checkin, created=done.created, replayed=done.replayed)
            if not done.counted:
                _after_commit(member_id, result)
            return result
    result = _check_in_general(actor=actor, member_id=member_id, channel=channel, now=now, request_key=request_key)
    _after_commit(member_id, result)
    return result


def _after_commit(member_id: int, result: CheckInResult) -> None:
    """The live figures: the member is online; a new check-in counts (a replayed answer does not)."""
    occurrence_id, new = result.checkin.occurrence_id, result.created and not result.replayed
    transaction.on_commit(lambda: live.checked_in(member_id, occurrence_id, new=new))


@transaction.atomic
def _check_in_general(
    *, actor: Actor, member_id: int, channel: str, now: dt.datetime, request_key: RequestKey | None
) -> CheckInResult:
    member = _checkin_read(actor, member_id, now, request_key)
    occurrence = occurrence_on_day(member, now)
    key_status = getattr(member, "key_status", None)
    if request_key is not None and key_status is not None:
        first = _read_checkin(member, occurrence)
        if member.key_digest != request_key.digest or first is None:  # type: ignore[attr-defined]
            raise KeyConflict(request_key.key)
        return CheckInResult(first, created=key_status == 201, replayed=True)
    existing = _read_checkin(member, occurrence)
    if existing is not None:
        _remember_key(request_key, 200, existing)
        return CheckInResult(existing, created=False)
    points = occurrence.checkin_points
    try:
        with transaction.atomic():
            checkin = CheckIn.objects.create(
                occurrence=occurrence,
                member_id=member.pk,
                person_id=member.person_id,
                dealer_id=getattr(member, "home_dealer_id", None),
                points=points,
                entry_id=None,
                channel=channel,
                actor_label=actor.label[:150],
                checked_in_at=now,
                points_status="pending" if points else "none",
            )
    except IntegrityError:
        # A concurrent tap won the unique (occurrence, member): answer with its check-in.
        first = CheckIn.objects.select_related("occurrence").get(occurrence=occurrence, member_id=member.pk)
        _remember_key(request_key, 200, first)
        return CheckInResult(first, created=False)
    audit(
        actor=actor,
        action="memberday.check_in",
        obj_type="memberday_checkin",
        obj_id=checkin.pk,
        summary={"occurrence_id": occurrence.pk, "member_id": member.pk, "points": points},
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
            "checkin_id": checkin.pk,
            "points": points,
            "points_status": checkin.points_status,
        },
    )
    _remember_key(request_key, 201, checkin)
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

"""Member Day set-up: the campaign rule, the schedule of occurrences, tasks and tier offers.

Check-ins and task completions (the hot path) live in checkin.py; dealer sessions in sessions.py.
"""

from __future__ import annotations

import calendar
import datetime as dt
import zoneinfo

from django.db import IntegrityError, transaction
from django.utils import timezone

from hufen.common.actors import Actor
from hufen.common.audit import audit, diff
from hufen.common.errors import FieldError
from hufen.common.events import publish
from hufen.memberday.access import require_manage
from hufen.memberday.models import Campaign, Occurrence, Offer, Task
from hufen.org.models import Brand

DEFAULT_TASKS = (
    ("post", "发布一条用车动态", 20),
    ("share", "分享会员日活动给好友", 10),
    ("attend", "参加门店线下活动", 50),
)
MAX_POINTS = 10_000  # a Member Day reward above this is a typo
MAX_MONTHS_AHEAD = 24


def zone_of(brand: Brand) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(brand.time_zone)


def local_day(brand: Brand, at: dt.datetime) -> dt.date:
    return at.astimezone(zone_of(brand)).date()


def day_window(brand: Brand, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants [00:00, next 00:00) of `day` in the brand's time zone."""
    zone = zone_of(brand)
    start = dt.datetime.combine(day, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def memberday_date(campaign: Campaign, year: int, month: int) -> dt.date:
    last = calendar.monthrange(year, month)[1]
    if campaign.rule == "day_of_month" and campaign.day_of_month:
        return dt.date(year, month, min(campaign.day_of_month, last))
    return dt.date(year, month, last)


def _check_points(field: str, points: object) -> int:
    if isinstance(points, bool) or not isinstance(points, int) or not 0 <= points <= MAX_POINTS:
        raise FieldError(field, f"must be a whole number of points from 0 to {MAX_POINTS}")
    return points


def _check_text(field: str, value: str, limit: int, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise FieldError(field, "is required")
    if len(value) > limit:
        raise FieldError(field, f"must be at most {limit} characters")
    return value


def campaign_for_brand(brand: Brand) -> Campaign:
    """The brand's Member Day, created with the default rule (last day of the month) on first use."""
    campaign = Campaign.objects.filter(brand=brand).first()
    if campaign is not None:
        return campaign
    try:
        with transaction.atomic():
            return Campaign.objects.create(brand=brand, name=f"{brand.name}会员日")
    except IntegrityError:
        return Campaign.objects.get(brand=brand)


@transaction.atomic
def campaign_configure(
    *, actor: Actor, brand: Brand, rule: str, day_of_month: int | None, checkin_points: int, active: bool = True
) -> Campaign:
    """Change the rule and the default check-in points. Existing occurrences keep their dates."""
    require_manage(actor)
    if rule not in ("last_day", "day_of_month"):
        raise FieldError("rule", "must be last_day or day_of_month")
    if rule == "day_of_month" and (day_of_month is None or not 1 <= day_of_month <= 28):
        raise FieldError("day_of_month", "must be 1 to 28 for a fixed day of the month")
    campaign = Campaign.objects.select_for_update().get(pk=campaign_for_brand(brand).pk)
    before = {"rule": campaign.rule, "day_of_month": campaign.day_of_month, "checkin_points": campaign.checkin_points}
    campaign.rule = rule
    campaign.day_of_month = day_of_month if rule == "day_of_month" else None
    campaign.checkin_points = _check_points("checkin_points", checkin_points)
    campaign.active = active
    campaign.save()
    after = {"rule": campaign.rule, "day_of_month": campaign.day_of_month, "checkin_points": campaign.checkin_points}
    audit(
        actor=actor,
        action="memberday.configure",
        obj_type="memberday_campaign",
        obj_id=campaign.pk,
        summary=diff(before, after),
    )
    return campaign


@transaction.atomic
def memberday_schedule(
    *, actor: Actor, brand: Brand, months: int = 3, now: dt.datetime | None = None
) -> list[Occurrence]:
    """Make sure the Member Days of this month and the next `months - 1` months exist.

    Idempotent: an existing occurrence is kept as it is (with its tasks and offers); running it
    twice, or from two processes at once, creates each date exactly once.
    """
    require_manage(actor)
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS_AHEAD:
        raise FieldError("months", f"must be 1 to {MAX_MONTHS_AHEAD}")
    campaign = campaign_for_brand(brand)
    if not campaign.active:
        raise FieldError("brand", f"the Member Day of {brand.name} is switched off")
    today = local_day(brand, now or timezone.now())
    out: list[Occurrence] = []
    for i in range(months):
        index = today.year * 12 + today.month - 1 + i
        year, month = divmod(index, 12)
        day = memberday_date(campaign, year, month + 1)
        out.append(_occurrence_ensure(actor=actor, campaign=campaign, brand=brand, day=day))
    return out


@transaction.atomic
def occurrence_add(*, actor: Actor, brand: Brand, day: dt.date) -> Occurrence:
    """An extra Member Day on `day` (a launch, an anniversary), besides the monthly rule. Idempotent."""
    require_manage(actor)
    if not isinstance(day, dt.date):
        raise FieldError("day", "must be a date")
    return _occurrence_ensure(actor=actor, campaign=campaign_for_brand(brand), brand=brand, day=day)


def _occurrence_ensure(*, actor: Actor, campaign: Campaign, brand: Brand, day: dt.date) -> Occurrence:
    existing = Occurrence.objects.filter(brand=brand, day=day).first()
    if existing is not None:
        return existing
    starts_at, ends_at = day_window(brand, day)
    try:
        with transaction.atomic():
            occurrence = Occurrence.objects.create(
                campaign=campaign,
                brand=brand,
                day=day,
                starts_at=starts_at,
                ends_at=ends_at,
                title=f"{day.month}月会员日",
                theme="车主专属福利日：签到领积分，门店活动等你来",
                checkin_points=campaign.checkin_points,
            )
            Task.objects.bulk_create(
                Task(occurrence=occurrence, kind=k, title=t, points=p) for k, t, p in DEFAULT_TASKS
            )
    except IntegrityError:
        return Occurrence.objects.get(brand=brand, day=day)
    audit(
        actor=actor,
        action="memberday.schedule",
        obj_type="memberday_occurrence",
        obj_id=occurrence.pk,
        summary={"brand": brand.code, "day": day.isoformat()},
    )
    publish("memberday_scheduled", properties={"occurrence_id": occurrence.pk, "brand": brand.code, "day": day})
    return occurrence


@transaction.atomic
def occurrence_update(
    *, actor: Actor, occurrence: Occurrence, title: str, theme: str, checkin_points: int
) -> Occurrence:
    require_manage(actor)
    occurrence = Occurrence.objects.select_for_update().get(pk=occurrence.pk)
    before = {"title": occurrence.title, "theme": occurrence.theme, "checkin_points": occurrence.checkin_points}
    occurrence.title = _check_text("title", title, 80)
    occurrence.theme = _check_text("theme", theme, 200, required=False)
    occurrence.checkin_points = _check_points("checkin_points", checkin_points)
    occurrence.save(update_fields=["title", "theme", "checkin_points"])
    after = {"title": occurrence.title, "theme": occurrence.theme, "checkin_points": occurrence.checkin_points}
    audit(
        actor=actor,
        action="memberday.update",
        obj_type="memberday_occurrence",
        obj_id=occurrence.pk,
        summary=diff(before, after),
    )
    return occurrence


@transaction.atomic
def task_set(*, actor: Actor, occurrence: Occurrence, kind: str, title: str, points: int) -> Task:
    """Create or change the occurrence's task of `kind` (one per kind)."""
    require_manage(actor)
    if kind not in dict(Task.KIND_CHOICES):
        raise FieldError("kind", f"must be one of {', '.join(dict(Task.KIND_CHOICES))}")
    title = _check_text("title", title, 80)
    points = _check_points("points", points)
    task, created = Task.objects.select_for_update().get_or_create(
        occurrence=occurrence, kind=kind, defaults={"title": title, "points": points}
    )
    if not created:
        task.title, task.points = title, points
        task.save(update_fields=["title", "points"])
    audit(
        actor=actor,
        action="memberday.task_set",
        obj_type="memberday_task",
        obj_id=task.pk,
        summary={"kind": kind, "points": points, "created": created},
    )
    return task


@transaction.atomic
def offer_create(
    *, actor: Actor, occurrence: Occurrence, title: str, body: str = "", min_tier_rank: int = 0, benefit_code: str = ""
) -> Offer:
    require_manage(actor)
    if isinstance(min_tier_rank, bool) or not isinstance(min_tier_rank, int) or not 0 <= min_tier_rank <= 20:
        raise FieldError("min_tier_rank", "must be a tier rank from 0 (every member) to 20")
    benefit_code = _check_text("benefit_code", benefit_code, 40, required=False)
    if benefit_code and not benefit_code.replace("-", "").replace("_", "").isalnum():
        raise FieldError("benefit_code", "must be a benefit item code (letters, digits, - and _)")
    offer = Offer.objects.create(
        occurrence=occurrence,
        title=_check_text("title", title, 80),
        body=_check_text("body", body, 300, required=False),
        min_tier_rank=min_tier_rank,
        benefit_code=benefit_code,
    )
    audit(
        actor=actor,
        action="memberday.offer_create",
        obj_type="memberday_offer",
        obj_id=offer.pk,
        summary={"occurrence_id": occurrence.pk, "min_tier_rank": min_tier_rank},
    )
    return offer


@transaction.atomic
def offer_delete(*, actor: Actor, offer: Offer) -> None:
    require_manage(actor)
    audit(
        actor=actor,
        action="memberday.offer_delete",
        obj_type="memberday_offer",
        obj_id=offer.pk,
        summary={"occurrence_id": offer.occurrence_id, "title": offer.title},
    )
    offer.delete()

"""Programs (one per brand) and the calendar rules they carry: lot validity and qualifying periods,
computed in the brand's time zone."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db import IntegrityError, transaction

from hufen.membership.models import Program, TierDefinition
from hufen.org.models import Brand

DEFAULT_TIERS = (
    ("standard", "普通会员", 0, "1.00", ["会员专属活动"]),
    ("silver", "银卡", 5_000, "1.10", ["积分 1.1 倍", "生日礼"]),
    ("gold", "金卡", 20_000, "1.25", ["积分 1.25 倍", "免费取送车"]),
    ("black", "黑卡", 100_000, "1.50", ["积分 1.5 倍", "专属管家", "机场贵宾厅"]),
)


def _prefix_for(brand: Brand) -> str:
    letters = "".join(c for c in brand.code.upper() if c.isalpha())[:2] or "M"
    if not Program.objects.filter(number_prefix=letters).exists():
        return letters
    return f"{letters[0]}{brand.pk}"[:4]


def program_for_brand(brand: Brand) -> Program:
    """The brand's program, created with the default tiers the first time a person joins."""
    program = Program.objects.filter(brand=brand).first()
    if program is not None:
        return program
    try:
        with transaction.atomic():
            program = Program.objects.create(brand=brand, name=f"{brand.name}会员", number_prefix=_prefix_for(brand))
            TierDefinition.objects.bulk_create(
                TierDefinition(program=program, code=c, name=n, rank=i, threshold=t, multiplier=m, benefits=b)
                for i, (c, n, t, m, b) in enumerate(DEFAULT_TIERS)
            )
    except IntegrityError:
        # Another transaction created it first.
        return Program.objects.get(brand=brand)
    return program


def zone_of(program: Program) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(program.brand.time_zone)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def lot_expires_at(program: Program, earned_at: dt.datetime) -> dt.datetime:
    """When points earned at `earned_at` expire (exclusive: they are gone from that instant).

    "end_of_next_year": earned on any day of 2026 (brand time) → expire at 2028-01-01 00:00 brand time.
    "months": earned on 2026-03-15 with 24 months → expire at 2028-03-16 00:00 brand time.
    """
    zone = zone_of(program)
    local = earned_at.astimezone(zone).date()
    if program.validity == "end_of_next_year":
        last = dt.date(local.year + 2, 1, 1)
    else:
        last = add_months(local, program.validity_months) + dt.timedelta(days=1)
    return dt.datetime.combine(last, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def qualifying_window(program: Program, as_of: dt.datetime, *, review: bool) -> tuple[dt.datetime, dt.datetime]:
    """The half-open UTC window [start, end) whose earnings count towards a tier.

    Rolling: the 12 months before `as_of`. Calendar year: the current year so far for upgrades;
    for a review, the year that ended before the review day (a review on 2027-01-01 judges 2026).
    """
    zone = zone_of(program)
    local = as_of.astimezone(zone)
    if program.qualifying_period == "rolling_12m":
        start_day = add_months(local.date(), -12)
        start = dt.datetime.combine(start_day, local.timetz().replace(tzinfo=None), tzinfo=zone)
        return start.astimezone(dt.UTC), as_of
    year = (local - dt.timedelta(days=1)).year if review else local.year
    start = dt.datetime(year, 1, 1, tzinfo=zone).astimezone(dt.UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=zone).astimezone(dt.UTC)
    return start, min(end, as_of) if not review else end

"""Member Day test helpers: a scheduled Member Day on 2026-11-30 (Asia/Shanghai) and enrolled members."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any
from unittest import mock

from conftest import World
from hufen.common.actors import SYSTEM, Actor, Role
from hufen.memberday.models import Occurrence
from hufen.memberday.services import memberday_schedule
from hufen.membership.models import Member
from hufen.membership.services import member_join

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 11, 30)
# Noon on the Member Day, Shanghai time; and a moment in the month before it.
NOON = dt.datetime(2026, 11, 30, 12, 0, tzinfo=SHANGHAI)
BEFORE = dt.datetime(2026, 11, 10, 9, 0, tzinfo=SHANGHAI)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def join(world: World, person: str = "a2_owner", brand: str = "mass") -> Member:
    return member_join(actor=SYSTEM, person=world.persons[person], brand=world.brands[brand], channel="api")


def schedule(world: World, brand: str = "mass", *, months: int = 1, now: dt.datetime = BEFORE) -> list[Occurrence]:
    return memberday_schedule(actor=SYSTEM, brand=world.brands[brand], months=months, now=now)


def member_actor(member: Member) -> Actor:
    return Actor(
        kind="member",
        role=Role.MEMBER,
        label=f"member:{member.person_id}",
        person_id=member.person_id,
        member_id=member.pk,
    )


def frozen(at: dt.datetime) -> Any:
    """Stop the clock at `at` for everything that asks `django.utils.timezone.now` (decorator or `with`)."""
    return mock.patch("django.utils.timezone.now", new=lambda: at.astimezone(dt.UTC))


def today_occurrence(world: World, brand: str = "mass") -> Occurrence:
    """A Member Day on today's date (brand time), for pages served at the real clock."""
    from django.utils import timezone

    from hufen.memberday.services import local_day, occurrence_add

    b = world.brands[brand]
    return occurrence_add(actor=SYSTEM, brand=b, day=local_day(b, timezone.now()))

"""Member Day figures: the live dashboard and the report comparing an occurrence with the previous one.

Every figure is computed from the database inside the actor's scope (check-ins and task completions
of the persons it may see; sessions of its dealers); only "online now" comes from the cache.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMinute
from django.utils import timezone

from hufen.common.actors import Actor
from hufen.memberday import live
from hufen.memberday.access import require_dashboard
from hufen.memberday.models import Occurrence, SessionSignup
from hufen.memberday.selectors import (
    checkins_visible_to,
    completions_visible_to,
    previous_occurrence,
    sessions_visible_to,
)
from hufen.memberday.services import zone_of
from hufen.membership.selectors import members_visible_to

TOP_DEALERS = 10


@dataclass(frozen=True)
class Figures:
    occurrence_id: int
    day: str
    checkins: int
    active_members: int
    members: int
    share_active: float | None
    points_awarded: int
    points_pending: int  # check-in points on their way (the award drain pays them within seconds)
    sessions: int
    signups: int
    attendance: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def figures(actor: Actor, occurrence: Occurrence) -> Figures:
    require_dashboard(actor)
    checkins = checkins_visible_to(actor).filter(occurrence=occurrence)
    completions = completions_visible_to(actor).filter(occurrence=occurrence)
    n_checkins = checkins.count()
    extra_active = (
        completions.exclude(member_id__in=checkins.values("member_id")).values("member_id").distinct().count()
    )
    members = members_visible_to(actor).filter(program__brand_id=occurrence.brand_id, status="active").count()
    paid = checkins.aggregate(
        s=Sum("points", filter=~Q(points_status="pending")), p=Sum("points", filter=Q(points_status="pending"))
    )
    points = (paid["s"] or 0) + (completions.aggregate(s=Sum("points"))["s"] or 0)
    sessions = sessions_visible_to(actor).filter(occurrence=occurrence)
    signups = SessionSignup.objects.filter(session__in=sessions.values("id"))
    active = n_checkins + extra_active
    return Figures(
        occurrence_id=occurrence.pk,
        day=occurrence.day.isoformat(),
        checkins=n_checkins,
        active_members=active,
        members=members,
        share_active=round(active / members, 4) if members else None,
        points_awarded=int(points),
        points_pending=int(paid["p"] or 0),
        sessions=sessions.count(),
        signups=signups.count(),
        attendance=signups.filter(attended_at__isnull=False).count(),
    )


def checkins_per_minute(actor: Actor, occurrence: Occurrence) -> list[tuple[str, int]]:
    """[(local "HH:MM", count)] for the minutes that had check-ins, in the brand's time zone."""
    zone = zone_of(occurrence.brand)
    rows = (
        checkins_visible_to(actor)
        .filter(occurrence=occurrence)
        .annotate(minute=TruncMinute("checked_in_at", tzinfo=zone))
        .values("minute")
        .annotate(n=Count("id"))
        .order_by("minute")
    )
    return [(r["minute"].astimezone(zone).strftime("%H:%M"), r["n"]) for r in rows]


def leading_dealers(actor: Actor, occurrence: Occurrence) -> list[dict[str, Any]]:
    """Dealers by check-ins of their owners, with attendance at their sessions."""
    by_checkins = {
        r["dealer_id"]: r
        for r in checkins_visible_to(actor)
        .filter(occurrence=occurrence, dealer_id__isnull=False)
        .values("dealer_id", "dealer__code", "dealer__name")
        .annotate(n=Count("id"))
        .order_by("-n", "dealer_id")[: TOP_DEALERS * 3]
    }
    attendance = dict(
        SessionSignup.objects.filter(
            session__in=sessions_visible_to(actor).filter(occurrence=occurrence).values("id"),
            attended_at__isnull=False,
        )
        .values_list("session__dealer_id")
        .annotate(n=Count("id"))
        .values_list("session__dealer_id", "n")
    )
    rows = [
        {"dealer": r["dealer__code"], "name": r["dealer__name"], "checkins": r["n"], "attendance": attendance.get(d, 0)}
        for d, r in by_checkins.items()
    ]
    rows.sort(key=lambda r: (-r["checkins"], -r["attendance"], r["dealer"]))
    return rows[:TOP_DEALERS]


def filled_minutes(per_minute: list[tuple[str, int]], until: str) -> list[tuple[str, int]]:
    """The per-minute counts as a continuous line from the first check-in to `until` (local HH:MM),
    zeros included, so a quiet minute shows as a dip rather than disappearing."""
    if not per_minute:
        return []
    counts = dict(per_minute)

    def minutes(hhmm: str) -> int:
        return int(hhmm[:2]) * 60 + int(hhmm[3:5])

    start, end = minutes(per_minute[0][0]), max(minutes(until), minutes(per_minute[-1][0]))
    labels = [f"{m // 60:02d}:{m % 60:02d}" for m in range(start, end + 1)]
    return [(label, counts.get(label, 0)) for label in labels]


def live_dashboard(actor: Actor, occurrence: Occurrence, *, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    figs = figures(actor, occurrence)
    zone = zone_of(occurrence.brand)
    local_now = now.astimezone(zone)
    per_minute = checkins_per_minute(actor, occurrence)
    # On the day the line runs to now; afterwards to the last check-in.
    until = (
        local_now.strftime("%H:%M") if local_now.date() == occurrence.day else per_minute[-1][0] if per_minute else ""
    )
    return {
        "figures": figs.as_dict(),
        "online_now": live.online_now(now=now),
        "per_minute": per_minute,
        "series": filled_minutes(per_minute, until) if per_minute else [],
        "dealers": leading_dealers(actor, occurrence),
        "as_of": local_now.strftime("%H:%M:%S"),
    }


def by_region(actor: Actor, occurrence: Occurrence) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    rows = (
        checkins_visible_to(actor)
        .filter(occurrence=occurrence)
        .values_list("dealer__region__name")
        .annotate(n=Count("id"))
        .values_list("dealer__region__name", "n")
    )
    for region, n in rows:
        out.setdefault(region or "—", {"checkins": 0, "attendance": 0})["checkins"] = n
    att = (
        SessionSignup.objects.filter(
            session__in=sessions_visible_to(actor).filter(occurrence=occurrence).values("id"),
            attended_at__isnull=False,
        )
        .values_list("session__dealer__region__name")
        .annotate(n=Count("id"))
        .values_list("session__dealer__region__name", "n")
    )
    for region, n in att:
        out.setdefault(region or "—", {"checkins": 0, "attendance": 0})["attendance"] = n
    return dict(sorted(out.items()))


def report(actor: Actor, occurrence: Occurrence) -> dict[str, Any]:
    """This occurrence against the previous one of the same brand, overall and by region."""
    current = figures(actor, occurrence)
    prev_occ = previous_occurrence(occurrence)
    previous = figures(actor, prev_occ) if prev_occ else None
    regions_now = by_region(actor, occurrence)
    regions_before = by_region(actor, prev_occ) if prev_occ else {}
    regions = []
    for name in sorted(set(regions_now) | set(regions_before)):
        a = regions_now.get(name, {"checkins": 0, "attendance": 0})
        b = regions_before.get(name, {"checkins": 0, "attendance": 0})
        regions.append(
            {
                "region": name,
                "checkins": a["checkins"],
                "previous_checkins": b["checkins"],
                "attendance": a["attendance"],
                "previous_attendance": b["attendance"],
            }
        )
    metrics = ["checkins", "active_members", "share_active", "points_awarded", "sessions", "signups", "attendance"]
    rows = []
    for m in metrics:
        now_v = getattr(current, m)
        before_v = getattr(previous, m) if previous else None
        change = None
        if isinstance(now_v, (int, float)) and isinstance(before_v, (int, float)) and before_v:
            change = round((now_v - before_v) / before_v, 4)
        rows.append({"metric": m, "current": now_v, "previous": before_v, "change": change})
    return {
        "occurrence": current.as_dict(),
        "previous": previous.as_dict() if previous else None,
        "rows": rows,
        "regions": regions,
    }

"""Points history (`/m/points/`): newest first, keyset-paged, with lots expiring soon on top."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from hufen.membership.models import PointsEntry
from hufen.portal.access import PortalRequest, portal_view
from hufen.portal.selectors import (
    EXPIRING_SOON_DAYS,
    expiring_entry_ids,
    lots_expiring_soon,
    points_entries,
    reason_label,
)

PAGE_SIZE = 20


@dataclass(frozen=True)
class EntryRow:
    entry: PointsEntry
    label: str
    expiring: bool  # an award whose points (what is left of them) expire soon


def _cursor(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) < 19 else None


@require_GET
@portal_view
def points(request: PortalRequest) -> HttpResponse:
    before = _cursor(request.GET.get("before"))
    qs = points_entries(actor=request.actor, member=request.member)
    if before is not None:
        qs = qs.filter(id__lt=before)
    rows = list(qs[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    program = request.member.program
    awards = [e.pk for e in rows if e.kind == "award"]
    expiring = expiring_entry_ids(actor=request.actor, member=request.member, entry_ids=awards) if awards else set()
    context = {
        "tab": "points",
        "portal_brand_name": program.brand.name,
        "brand_tz": program.brand.time_zone,
        "rows": [EntryRow(entry=e, label=reason_label(e.reason), expiring=e.pk in expiring) for e in rows],
        "next_before": rows[-1].pk if more and rows else None,
        "paged": before is not None,
        "expiring": lots_expiring_soon(actor=request.actor, member=request.member) if before is None else [],
        "expiring_days": EXPIRING_SOON_DAYS,
        "balance": request.member.account.balance,
    }
    return render(request, "portal/points.html", context)

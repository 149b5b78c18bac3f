"""The owner's Member Day page at /m/memberday/: today's Member Day (or a countdown to the next),
the check-in button (htmx), tasks with their state, tier offers and dealer sessions nearby."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.memberday import live, selectors
from hufen.memberday.checkin import memberday_check_in, memberday_task_complete
from hufen.memberday.models import CheckIn
from hufen.memberday.sessions import session_sign_up
from hufen.portal.access import PortalRequest, portal_view


def _context(request: PortalRequest, **extra: object) -> dict[str, object]:
    member = request.member
    view = selectors.member_day_view(member=member, city=member.person.city or "")
    checked_in_count = None
    if view.occurrence is not None and view.is_today:
        occurrence_id = view.occurrence.pk
        checked_in_count = live.checkins_live(occurrence_id)
        if checked_in_count is None:
            checked_in_count = live.checkins_live(
                occurrence_id, CheckIn.objects.filter(occurrence_id=occurrence_id).count()
            )
    return {
        "tab": "memberday",
        "portal_brand_name": member.program.brand.name,
        "brand_tz": member.program.brand.time_zone,
        "v": view,
        "tier_name": member.tier.name,
        "checked_in_count": checked_in_count,
        "countdown": {
            "d": view.seconds_to_start // 86400,
            "h": view.seconds_to_start % 86400 // 3600,
            "m": view.seconds_to_start % 3600 // 60,
        },
        **extra,
    }


@require_GET
@portal_view
def memberday_page(request: PortalRequest) -> HttpResponse:
    live.presence_touch(request.member.pk)
    return render(request, "memberday/portal.html", _context(request))


@require_POST
@portal_view
def memberday_check_in_view(request: PortalRequest) -> HttpResponse:
    live.presence_touch(request.member.pk)
    error = ""
    created = False
    try:
        created = memberday_check_in(actor=request.actor, member_id=request.member.pk, channel="h5").created
    except FieldError as exc:
        error = exc.reason
    return render(request, "memberday/_portal_day.html", _context(request, error=error, just_checked_in=created))


@require_POST
@portal_view
def memberday_share_view(request: PortalRequest) -> HttpResponse:
    error = ""
    try:
        memberday_task_complete(actor=request.actor, member_id=request.member.pk, kind="share", ref="h5")
    except FieldError as exc:
        error = exc.reason
    return render(request, "memberday/_portal_day.html", _context(request, error=error))


@require_POST
@portal_view
def memberday_sign_up_view(request: PortalRequest, session_id: int) -> HttpResponse:
    try:
        session = selectors.session_get(actor=request.actor, session_id=session_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    error = ""
    try:
        session_sign_up(actor=request.actor, session=session, member_id=request.member.pk)
    except (FieldError, PermissionDenied) as exc:
        error = exc.reason if isinstance(exc, FieldError) else exc.message
    return render(request, "memberday/_portal_day.html", _context(request, error=error))

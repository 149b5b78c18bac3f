"""Console pages for Member Day: the calendar, set-up, dealer sessions, the live dashboard and the report.

HQ sets occurrences, tasks and offers up; dealers manage their own sessions and mark attendance;
region and dealer staff see the dashboard and report for their scope.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.pii import mask_name
from hufen.console.access import ConsoleRequest, console_view
from hufen.memberday import dashboard, selectors
from hufen.memberday.access import can_edit_sessions_of, can_manage, can_mark_attendance_at, require_dashboard
from hufen.memberday.models import Occurrence, Offer
from hufen.memberday.services import (
    memberday_schedule,
    occurrence_update,
    offer_create,
    offer_delete,
    task_set,
    zone_of,
)
from hufen.memberday.sessions import session_create, session_mark_attendance
from hufen.org.models import Brand
from hufen.people.querysets import dealer_queryset_for


def _occurrence(request: ConsoleRequest, occurrence_id: int) -> Occurrence:
    try:
        return selectors.occurrence_get(actor=request.actor, occurrence_id=occurrence_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _int(value: str | None, field: str) -> int:
    try:
        return int((value or "").strip())
    except ValueError as exc:
        raise FieldError(field, "must be a whole number") from exc


def _local_dt(occurrence: Occurrence, value: str | None, field: str) -> dt.datetime:
    """A `datetime-local` input read in the brand's time zone."""
    try:
        naive = dt.datetime.fromisoformat((value or "").strip())
    except ValueError as exc:
        raise FieldError(field, "must be a date and time such as 2026-11-30T14:00") from exc
    return naive.replace(tzinfo=zone_of(occurrence.brand)) if naive.tzinfo is None else naive


@console_view()
def memberday_list(request: ConsoleRequest) -> HttpResponseBase:
    if request.method == "POST":
        if not can_manage(request.actor):
            return render(request, "console/forbidden.html", {"perm": "memberday.manage"}, status=403)
        brand = Brand.objects.filter(code=request.POST.get("brand", "")).first()
        if brand is None:
            messages.error(request, _("Choose a brand."))
        else:
            try:
                made = memberday_schedule(
                    actor=request.actor, brand=brand, months=_int(request.POST.get("months"), "months")
                )
                messages.success(
                    request, _("Scheduled %(n)s Member Days for %(brand)s.") % {"n": len(made), "brand": brand.name}
                )
            except FieldError as exc:
                messages.error(request, f"{exc.field}: {exc.reason}")
        return HttpResponseRedirect(reverse("memberday:list"))
    occurrences = list(selectors.occurrence_list(actor=request.actor, brand_code=request.GET.get("brand", ""))[:60])
    context = {
        "nav": "memberday",
        "occurrences": occurrences,
        "brands": Brand.objects.order_by("code"),
        "can_manage": can_manage(request.actor),
    }
    return render(request, "memberday/list.html", context)


def _setup_post(request: ConsoleRequest, occurrence: Occurrence) -> None:
    actor, post = request.actor, request.POST
    action = post.get("action", "")
    if action == "update":
        occurrence_update(
            actor=actor,
            occurrence=occurrence,
            title=post.get("title", ""),
            theme=post.get("theme", ""),
            checkin_points=_int(post.get("checkin_points"), "checkin_points"),
        )
    elif action == "task":
        task_set(
            actor=actor,
            occurrence=occurrence,
            kind=post.get("kind", ""),
            title=post.get("title", ""),
            points=_int(post.get("points"), "points"),
        )
    elif action == "offer":
        offer_create(
            actor=actor,
            occurrence=occurrence,
            title=post.get("title", ""),
            body=post.get("body", ""),
            min_tier_rank=_int(post.get("min_tier_rank"), "min_tier_rank"),
            benefit_code=post.get("benefit_code", ""),
        )
    elif action == "offer_delete":
        offer = Offer.objects.filter(occurrence=occurrence, pk=_int(post.get("offer_id"), "offer_id")).first()
        if offer is None:
            raise FieldError("offer_id", "no such offer on this Member Day")
        offer_delete(actor=actor, offer=offer)
    elif action == "session":
        dealer = dealer_queryset_for(actor).filter(code=post.get("dealer", "")).first()
        if dealer is None:
            raise FieldError("dealer", "choose one of your dealers")
        session_create(
            actor=actor,
            occurrence=occurrence,
            dealer=dealer,
            title=post.get("title", ""),
            location=post.get("location", ""),
            starts_at=_local_dt(occurrence, post.get("starts_at"), "starts_at"),
            ends_at=_local_dt(occurrence, post.get("ends_at"), "ends_at"),
            capacity=_int(post.get("capacity"), "capacity"),
        )
    else:
        raise FieldError("action", "unknown action")


@console_view()
def occurrence_detail(request: ConsoleRequest, occurrence_id: int) -> HttpResponseBase:
    occurrence = _occurrence(request, occurrence_id)
    if request.method == "POST":
        try:
            _setup_post(request, occurrence)
            messages.success(request, _("Saved."))
        except FieldError as exc:
            messages.error(request, f"{exc.field}: {exc.reason}")
        except PermissionDenied as exc:
            return render(request, "console/forbidden.html", {"perm": exc.message}, status=403)
        return HttpResponseRedirect(reverse("memberday:detail", args=[occurrence.pk]))
    actor = request.actor
    sessions = list(selectors.session_list(actor=actor, occurrence=occurrence))
    my_dealers = [
        d for d in dealer_queryset_for(actor).filter(brands=occurrence.brand_id) if can_edit_sessions_of(actor, d)
    ]
    kind_labels = {"post": _("Post"), "share": _("Share"), "attend": _("Attend a dealer session")}
    context = {
        "nav": "memberday",
        "o": occurrence,
        "tasks": [(t, kind_labels.get(t.kind, t.kind)) for t in selectors.tasks_of(occurrence)],
        "offers": selectors.offers_for_rank(occurrence, None),
        "sessions": sessions,
        "can_manage": can_manage(actor),
        "session_dealers": my_dealers,
        "task_kinds": list(kind_labels.items()),
        "day_start": occurrence.starts_at.astimezone(zone_of(occurrence.brand)).strftime("%Y-%m-%dT14:00"),
        "day_end": occurrence.starts_at.astimezone(zone_of(occurrence.brand)).strftime("%Y-%m-%dT16:00"),
        "zone": occurrence.brand.time_zone,
    }
    return render(request, "memberday/detail.html", context)


@console_view()
def session_detail(request: ConsoleRequest, occurrence_id: int, session_id: int) -> HttpResponseBase:
    occurrence = _occurrence(request, occurrence_id)
    try:
        session = selectors.session_get(actor=request.actor, session_id=session_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    if session.occurrence_id != occurrence.pk:
        raise Http404("no such session on this Member Day")
    if request.method == "POST":
        try:
            session_mark_attendance(
                actor=request.actor, session=session, member_id=_int(request.POST.get("member_id"), "member_id")
            )
            messages.success(request, _("Attendance recorded."))
        except FieldError as exc:
            messages.error(request, f"{exc.field}: {exc.reason}")
        except PermissionDenied as exc:
            return render(request, "console/forbidden.html", {"perm": exc.message}, status=403)
        return HttpResponseRedirect(reverse("memberday:session", args=[occurrence.pk, session.pk]))
    signups = [
        {"s": s, "name": mask_name(s.member.person.name), "number": s.member.number, "tier": s.member.tier.name}
        for s in selectors.session_signups(actor=request.actor, session=session)
    ]
    context = {
        "nav": "memberday",
        "o": occurrence,
        "session": session,
        "signups": signups,
        "can_mark": can_mark_attendance_at(request.actor, session.dealer),
        "zone": occurrence.brand.time_zone,
    }
    return render(request, "memberday/session.html", context)


def _dashboard_context(request: ConsoleRequest, occurrence: Occurrence) -> dict[str, object]:
    data = dashboard.live_dashboard(request.actor, occurrence)
    return {"nav": "memberday", "o": occurrence, "d": data, "f": data["figures"]}


@console_view()
def live_page(request: ConsoleRequest, occurrence_id: int) -> HttpResponse:
    occurrence = _occurrence(request, occurrence_id)
    try:
        require_dashboard(request.actor)
    except PermissionDenied as exc:
        return render(request, "console/forbidden.html", {"perm": exc.message}, status=403)
    template = "memberday/_live.html" if request.htmx else "memberday/live.html"
    return render(request, template, _dashboard_context(request, occurrence))


@console_view()
def report_page(request: ConsoleRequest, occurrence_id: int) -> HttpResponse:
    occurrence = _occurrence(request, occurrence_id)
    try:
        data = dashboard.report(request.actor, occurrence)
    except PermissionDenied as exc:
        return render(request, "console/forbidden.html", {"perm": exc.message}, status=403)
    labels = {
        "checkins": _("Check-ins"),
        "active_members": _("Active members"),
        "share_active": _("Share of members active"),
        "points_awarded": _("Points awarded"),
        "sessions": _("Dealer sessions"),
        "signups": _("Sign-ups"),
        "attendance": _("Attendance"),
    }
    rows = [dict(r, label=labels[r["metric"]]) for r in data["rows"]]
    return render(request, "memberday/report.html", {"nav": "memberday", "o": occurrence, "r": data, "rows": rows})

"""Console parts for coupons: attaching a partner's coupon batch to Member Day (HQ, on the partner's
page) and saved member segments (`/console/partners/segments/`: HQ, regions and dealers, each within
its own data scope; HQ issues batches to them from the partner's page)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.console.access import ConsoleRequest, console_view
from hufen.memberday.selectors import occurrence_list
from hufen.org.models import Brand
from hufen.partners.coupons import HQ_ROLES
from hufen.partners.memberday_coupons import memberday_coupon_attach, memberday_coupon_detach
from hufen.partners.models import MemberDayCoupon, Merchant
from hufen.partners.segments import (
    SEGMENT_ROLES,
    Segment,
    saved_segment_members,
    segment_archive,
    segment_save,
    segments_visible_to,
)

MEMBERDAY_ACTIONS = frozenset({"memberday_attach", "memberday_detach"})


def form_int(value: object, field: str) -> int:
    try:
        return int(str(value or "0").strip() or "0")
    except ValueError as exc:
        raise FieldError(field, _("must be a whole number")) from exc


def form_list(value: object) -> tuple[str, ...]:
    """A comma-separated form field (ASCII or full-width commas) as a tuple of trimmed names."""
    text = str(value or "").replace("，", ",").replace("、", ",")
    return tuple(part.strip() for part in text.split(",") if part.strip())


def form_segment(post: Any) -> Segment:
    since = str(post.get("member_since", "")).strip()
    days = str(post.get("active_within_days", "")).strip()
    try:
        member_since = dt.date.fromisoformat(since) if since else None
    except ValueError as exc:
        raise FieldError("member_since", _("choose a date")) from exc
    return Segment(
        min_tier_rank=form_int(post.get("min_tier_rank"), "min_tier_rank"),
        cities=form_list(post.get("cities")),
        series=form_list(post.get("series")),
        dealer_codes=form_list(post.get("dealer_codes")),
        member_since=member_since,
        active_within_days=form_int(days, "active_within_days") if days else None,
    )


def memberday_action(request: ConsoleRequest, merchant: Merchant, action: str) -> str:
    """Attach one of the partner's batches to a Member Day, or stop an attachment; the success text."""
    if action == "memberday_detach":
        link_id = form_int(request.POST.get("link"), "link")
        if not MemberDayCoupon.objects.filter(pk=link_id, batch__merchant=merchant).exists():
            raise FieldError("link", _("no such Member Day coupon for this partner"))
        memberday_coupon_detach(actor=request.actor, link_id=link_id)
        return _("Member Day coupon stopped.")
    batch = merchant.coupon_batches.filter(pk=form_int(request.POST.get("batch"), "batch")).first()
    if batch is None:
        raise FieldError("batch", _("no such coupon batch for this merchant"))
    occurrence = str(request.POST.get("occurrence", "")).strip()
    memberday_coupon_attach(
        actor=request.actor,
        batch=batch,
        occurrence_id=form_int(occurrence, "occurrence") if occurrence else None,
        min_tier_rank=form_int(request.POST.get("min_tier_rank"), "min_tier_rank"),
    )
    return _("Coupons will be issued to members who check in on Member Day.")


def coupon_context(request: ConsoleRequest, merchant: Merchant) -> dict[str, Any]:
    """Member Day attachments, upcoming Member Days and saved segments for the partner's page."""
    if request.actor.role not in HQ_ROLES:
        return {}
    brand_ids = list(merchant.brands.values_list("id", flat=True))
    today = timezone.localdate()
    return {
        "memberday_links": list(
            MemberDayCoupon.objects.filter(batch__merchant=merchant, active=True).select_related("batch")
        ),
        "occurrences": list(
            occurrence_list(actor=request.actor)
            .filter(brand_id__in=brand_ids, day__gte=today - dt.timedelta(days=1))
            .order_by("day", "brand_id")[:24]
        ),
        "segments": list(segments_visible_to(request.actor).filter(brand_id__in=brand_ids)),
    }


@console_view()
def segments_view(request: ConsoleRequest) -> HttpResponseBase:
    """Saved segments in the actor's scope with their live counts, and the form to save one."""
    actor = request.actor
    if actor.role not in SEGMENT_ROLES:
        return render(request, "console/forbidden.html", {"perm": "partners.segments"}, status=403)
    error: FieldError | None = None
    if request.method == "POST":
        try:
            if request.POST.get("action") == "archive":
                segment_archive(actor=actor, segment_id=form_int(request.POST.get("segment"), "segment"))
                messages.success(request, _("Segment archived."))
            else:
                brand = Brand.objects.filter(code=str(request.POST.get("brand", ""))).first()
                if brand is None:
                    raise FieldError("brand", _("choose a brand"))
                saved, count = segment_save(
                    actor=actor, brand=brand, name=str(request.POST.get("name", "")), segment=form_segment(request.POST)
                )
                text = _("Segment %(name)s saved: %(n)d members.") % {"name": saved.name, "n": count}
                messages.success(request, text)
            return HttpResponseRedirect(reverse("partners_console:segments"))
        except FieldError as exc:
            error = exc
        except (PermissionDenied, NotFound) as exc:
            error = FieldError("segment", exc.message)
    rows = [(s, saved_segment_members(actor=actor, saved=s).count()) for s in segments_visible_to(actor)[:100]]
    context = {
        "nav": "partners",
        "rows": rows,
        "brands": list(Brand.objects.order_by("code")),
        "error": error,
        "post": request.POST if error else {},
    }
    response: HttpResponse = render(request, "partners/console/segments.html", context, status=422 if error else 200)
    return response

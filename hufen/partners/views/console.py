"""Console pages (/console/partners/): value created for owners ranked by city (and by merchant and
scenario), and Territory Partner applications to review (the applicant's dealer or HQ)."""

from __future__ import annotations

import datetime as dt
import secrets
import zoneinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from hufen.common.actors import Role
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.console.access import ConsoleRequest, console_view
from hufen.org.models import Brand
from hufen.partners.coupons import HQ_ROLES, coupons_issue_to_saved_segment, coupons_issue_to_segment
from hufen.partners.models import Merchant
from hufen.partners.offers import offer_create, perk_dispute_resolve
from hufen.partners.reports import brand_monthly_value, value_report
from hufen.partners.selectors import merchant_get, merchant_redemptions, merchants_visible_to
from hufen.partners.services import can_review, merchant_operator_create, merchant_review, merchant_set_status
from hufen.partners.views.console_coupons import (
    MEMBERDAY_ACTIONS,
    coupon_context,
    form_int,
    form_segment,
    memberday_action,
)


def _month(request: ConsoleRequest) -> str:
    month = request.GET.get("month", "").strip()
    return month if len(month) == 7 else timezone.localtime().strftime("%Y-%m")


@console_view()
def value_view(request: ConsoleRequest) -> HttpResponse:
    month = _month(request)
    if request.actor.role == Role.BUTLER:
        return render(request, "console/forbidden.html", {"perm": "partners.value"}, status=403)
    brands = list(Brand.objects.order_by("code"))
    if request.actor.brand_ids:
        brands = [b for b in brands if b.pk in request.actor.brand_ids] or brands
    brand = next((b for b in brands if b.code == request.GET.get("brand")), None)
    error = ""
    try:
        by_city = value_report(actor=request.actor, month=month, by="city", brand=brand)
        by_merchant = value_report(actor=request.actor, month=month, by="merchant", brand=brand)
        by_scenario = value_report(actor=request.actor, month=month, by="scenario", brand=brand)
        totals = [brand_monthly_value(actor=request.actor, brand=b, month=month) for b in brands]
    except FieldError as exc:
        error = exc.reason
        by_city, by_merchant, by_scenario, totals = [], [], [], []
    chart = {
        "cities": [r.key for r in by_city][::-1],
        "values": [r.value_fen / 100 for r in by_city][::-1],
    }
    context = {
        "nav": "partners",
        "month": month,
        "brands": brands,
        "brand": brand,
        "by_city": by_city,
        "by_merchant": by_merchant[:50],
        "by_scenario": by_scenario,
        "totals": totals,
        "chart": chart,
        "error": error,
    }
    return render(request, "partners/console/value.html", context)


@console_view()
def applications_view(request: ConsoleRequest) -> HttpResponse:
    status = request.GET.get("status", "applied")
    qs = merchants_visible_to(request.actor).select_related("review_dealer").prefetch_related("brands")
    if status in {"applied", "active", "rejected", "suspended"}:
        qs = qs.filter(status=status)
    rows = [(m, can_review(request.actor, m)) for m in qs.order_by("-created_at")[:200]]
    context = {"nav": "partners", "rows": rows, "status": status}
    return render(request, "partners/console/applications.html", context)


@require_POST
@console_view()
def review_view(request: ConsoleRequest, merchant_id: int) -> HttpResponseBase:
    try:
        merchant = merchant_get(actor=request.actor, merchant_id=merchant_id)
        approve = request.POST.get("decision") == "approve"
        merchant_review(actor=request.actor, merchant=merchant, approve=approve, reason=request.POST.get("reason", ""))
    except FieldError as exc:
        messages.error(request, exc.reason)
    except (PermissionDenied, NotFound) as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Approved.") if approve else _("Rejected."))
    return HttpResponseRedirect(reverse("partners_console:applications"))


@console_view()
def disputes_view(request: ConsoleRequest) -> HttpResponseBase:
    """Perks an owner disputed (within 24 h of the visit): HQ or the merchant's dealer voids the perk
    (its value stops counting and the offer's use is given back) or upholds it, with a reason."""
    if request.method == "POST":
        try:
            perk_dispute_resolve(
                actor=request.actor,
                redemption_id=form_int(request.POST.get("redemption"), "redemption"),
                void=request.POST.get("decision") == "void",
                reason=str(request.POST.get("reason", "")),
            )
        except FieldError as exc:
            messages.error(request, f"{exc.field}: {exc.reason}")
        except (PermissionDenied, NotFound) as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Dispute settled."))
        return HttpResponseRedirect(reverse("partners_console:disputes"))
    disputed = merchant_redemptions(actor=request.actor).filter(status="disputed")[:200]
    rows = [(r, can_review(request.actor, r.merchant)) for r in disputed]
    return render(request, "partners/console/disputes.html", {"nav": "partners", "rows": rows})


OFFER_FIELDS = [
    "title",
    "kind",
    "percent_off",
    "amount_fen",
    "min_bill_fen",
    "item_name",
    "item_value_fen",
    "min_tier_rank",
    "series",
    "per_owner_per_day",
    "per_owner_per_month",
    "budget_count",
    "budget_fen",
]


def _offer_data(post: Any, tz: str) -> dict[str, Any]:
    """The console form's offer: money typed in yuan becomes fen, dates are whole days in `tz`."""
    data: dict[str, Any] = {f: str(post.get(f, "")).strip() for f in OFFER_FIELDS}
    for field in ("amount_fen", "min_bill_fen", "item_value_fen", "budget_fen"):
        if data[field]:
            try:
                data[field] = int(Decimal(data[field]) * 100)
            except (InvalidOperation, ValueError) as exc:
                raise FieldError(field, f"{data[field]!r} is not an amount in yuan") from exc
    data["first_visit_only"] = bool(post.get("first_visit_only"))
    zone = zoneinfo.ZoneInfo(tz)
    for field, end in (("valid_from", False), ("valid_until", True)):
        try:
            day = dt.date.fromisoformat(str(post.get(field, "")))
        except ValueError as exc:
            raise FieldError(field, "choose a date") from exc
        data[field] = dt.datetime.combine(day + dt.timedelta(days=end), dt.time(), tzinfo=zone)
    return data


@console_view()
def merchant_view(request: ConsoleRequest, merchant_id: int) -> HttpResponseBase:
    try:
        merchant = merchant_get(actor=request.actor, merchant_id=merchant_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    error: FieldError | None = None
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "offer":
                first_brand = merchant.brands.order_by("id").first()
                tz = first_brand.time_zone if first_brand else "Asia/Shanghai"
                offer_create(actor=request.actor, merchant=merchant, data=_offer_data(request.POST, tz))
                messages.success(request, _("Offer created."))
            elif action == "operator":
                password = secrets.token_urlsafe(12)
                staff = merchant_operator_create(
                    actor=request.actor,
                    merchant=merchant,
                    username=str(request.POST.get("username", "")),
                    name=str(request.POST.get("name", "")),
                    password=password,
                )
                # Shown once in this response, never stored in a message or the session.
                created = {"username": staff.user.username, "password": password}
                return _merchant_page(request, merchant, created=created)
            elif action == "issue":
                batch = merchant.coupon_batches.filter(pk=form_int(request.POST.get("batch"), "batch")).first()
                if batch is None:
                    raise FieldError("batch", _("no such coupon batch for this merchant"))
                segment_id = str(request.POST.get("segment_id", "")).strip()
                if segment_id:
                    issued = coupons_issue_to_saved_segment(
                        actor=request.actor, batch=batch, segment_id=form_int(segment_id, "segment_id")
                    )
                else:
                    issued = coupons_issue_to_segment(
                        actor=request.actor, batch=batch, segment=form_segment(request.POST)
                    )
                messages.success(request, _("Issued %(n)d coupons.") % {"n": issued})
            elif action in MEMBERDAY_ACTIONS:
                messages.success(request, memberday_action(request, merchant, action))
            elif action in ("suspended", "active"):
                merchant_set_status(
                    actor=request.actor, merchant=merchant, status=action, reason=request.POST.get("reason", "")
                )
                messages.success(request, _("Status changed."))
            return HttpResponseRedirect(reverse("partners_console:merchant", args=[merchant.pk]))
        except FieldError as exc:
            error = exc
        except (PermissionDenied, NotFound) as exc:
            error = FieldError("merchant", exc.message)
        merchant.refresh_from_db()
    return _merchant_page(request, merchant, error=error)


def _merchant_page(
    request: ConsoleRequest,
    merchant: Merchant,
    *,
    error: FieldError | None = None,
    created: dict[str, str] | None = None,
) -> HttpResponse:
    context = {
        "nav": "partners",
        "m": merchant,
        "offers": list(merchant.offers.order_by("-id")),
        "operators": list(merchant.operators.select_related("staff__user").order_by("id")),
        "batches": list(
            merchant.coupon_batches.select_related("brand")
            .annotate(
                codes=Count("coupons"),
                issued=Count("coupons", filter=Q(coupons__status="issued")),
                redeemed=Count("coupons", filter=Q(coupons__status="redeemed")),
            )
            .order_by("-id")
        ),
        "can_issue": request.actor.role in HQ_ROLES,
        "reviewable": can_review(request.actor, merchant),
        "error": error,
        "created": created,
        "post": request.POST if error else {},
        **coupon_context(request, merchant),
    }
    return render(request, "partners/console/merchant.html", context, status=422 if error else 200)

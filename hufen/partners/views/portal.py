"""Owner portal pages for perks (/m/perks/): shops and offers by city, scenario and distance; my
perks with a dispute within 24 hours; and the Territory Partner application form."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.partners.coupons import coupon_exchange
from hufen.partners.models import SCENARIO_CHOICES
from hufen.partners.offers import DISPUTE_HOURS, perk_dispute
from hufen.partners.selectors import (
    exchangeable_batches,
    merchant_redemptions,
    merchants_visible_to,
    my_coupons,
    perk_cities,
    perk_shops,
)
from hufen.partners.services import merchant_apply
from hufen.portal.access import PortalRequest, portal_view

APPLY_FIELDS = [
    "name",
    "legal_name",
    "credit_code",
    "scenario",
    "province",
    "city",
    "district",
    "address",
    "latitude",
    "longitude",
    "opening_hours",
    "phone",
]


FIELD_LABELS = {
    "name": _lazy("Shop name"),
    "legal_name": _lazy("Legal name (as on the business licence)"),
    "credit_code": _lazy("Unified social credit code"),
    "scenario": _lazy("Life scenario"),
    "city": _lazy("City"),
    "district": _lazy("District"),
    "address": _lazy("Address"),
    "latitude": _lazy("Latitude"),
    "longitude": _lazy("Longitude"),
    "opening_hours": _lazy("Opening hours"),
    "phone": _lazy("Shop phone"),
}


def _base(request: PortalRequest) -> dict[str, Any]:
    return {
        "tab": "perks",
        "portal_brand_name": request.member.program.brand.name,
        "brand_tz": request.member.program.brand.time_zone,
        "scenarios": SCENARIO_CHOICES,
    }


def _near(request: PortalRequest) -> tuple[float, float] | None:
    try:
        lat, lng = float(request.GET["lat"]), float(request.GET["lng"])
    except (KeyError, ValueError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None
    return lat, lng


@require_GET
@portal_view
def perks(request: PortalRequest) -> HttpResponse:
    city = request.GET.get("city", "").strip()[:30]
    scenario = request.GET.get("scenario", "").strip()[:16]
    near = _near(request)
    shops = perk_shops(actor=request.actor, city=city, scenario=scenario, near=near)
    context = _base(request) | {
        "shops": shops,
        "cities": perk_cities(actor=request.actor),
        "city": city,
        "scenario": scenario,
        "near": near,
    }
    return render(request, "partners/portal/perks.html", context)


@require_GET
@portal_view
def my_perks(request: PortalRequest) -> HttpResponse:
    now = timezone.now()
    rows = [
        (r, r.status == "recorded" and now - r.created_at <= dt.timedelta(hours=DISPUTE_HOURS))
        for r in merchant_redemptions(actor=request.actor)[:100]
    ]
    context = _base(request) | {
        "rows": rows,
        "coupons": list(my_coupons(actor=request.actor)[:100]),
        "batches": exchangeable_batches(actor=request.actor),
        "balance": request.member.account.balance,
        "exchange_key": uuid.uuid4().hex,
    }
    return render(request, "partners/portal/my_perks.html", context)


@require_POST
@portal_view
def exchange(request: PortalRequest, batch_id: int) -> HttpResponseBase:
    """Spend points on a partner coupon; the form key makes a double tap exchange once."""
    try:
        coupon = coupon_exchange(
            actor=request.actor, batch_id=batch_id, idempotency_key=str(request.POST.get("form_key", ""))[:64]
        )
    except FieldError as exc:
        messages.error(request, _("Not enough points.") if exc.field == "amount" else exc.reason)
    except (NotFound, PermissionDenied):
        messages.error(request, _("This coupon cannot be exchanged now."))
    else:
        messages.success(request, _("Coupon %(code)s is yours.") % {"code": coupon.code})
    return HttpResponseRedirect(reverse("perks:mine"))


@require_POST
@portal_view
def dispute(request: PortalRequest, redemption_id: int) -> HttpResponseBase:
    try:
        perk_dispute(actor=request.actor, redemption_id=redemption_id, reason=str(request.POST.get("reason", "")))
    except FieldError as exc:
        messages.error(request, exc.reason)
    except NotFound:
        messages.error(request, _("No such perk."))
    else:
        messages.success(request, _("Your dispute was sent. We will look into it within one working day."))
    return HttpResponseRedirect(reverse("perks:mine"))


@require_http_methods(["GET", "POST"])
@portal_view
def apply(request: PortalRequest) -> HttpResponseBase:
    error: FieldError | None = None
    data = {f: str(request.POST.get(f, "")).strip() for f in APPLY_FIELDS}
    if request.method == "POST":
        try:
            merchant_apply(actor=request.actor, data=dict(data))
        except FieldError as exc:
            error = exc
        except PermissionDenied as exc:
            error = FieldError("applicant", exc.message)
        else:
            messages.success(request, _("Application received. Your dealer or HQ will review it."))
            return HttpResponseRedirect(reverse("perks:apply"))
    applications = merchants_visible_to(request.actor).order_by("-created_at")
    label = FIELD_LABELS.get(error.field, "") if error else ""
    context = _base(request) | {"data": data, "error": error, "error_label": label, "applications": applications}
    return render(request, "partners/portal/apply.html", context, status=422 if error else 200)

"""The merchant page (/merchant/): phone-first. Scan the owner's car-key QR with the camera (jsQR)
or type the 6-digit code, see the masked owner and the offers that apply, record the perk with the
bill amount. A form key makes a double tap or a retried POST record once."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.pii import mask_name
from hufen.console.views.auth import ConsoleLoginView, ConsoleLogoutView
from hufen.partners.access import MerchantRequest, merchant_view
from hufen.partners.carkey import CarKeyRejected, car_key_holder, car_key_verify
from hufen.partners.models import Merchant
from hufen.partners.offers import offers_for_key, perk_redeem
from hufen.partners.selectors import merchant_redemptions


class MerchantLoginView(ConsoleLoginView):
    """The same Django auth (and failed-login limits) as the console, on a page of its own."""

    template_name = "partners/merchant/login.html"
    next_page = "merchant:home"

    def get_default_redirect_url(self) -> str:
        return reverse("merchant:home")


class MerchantLogoutView(ConsoleLogoutView):
    next_page = "merchant:login"


def _merchant(request: MerchantRequest) -> Merchant:
    return request.merchant


def _yuan_to_fen(raw: str) -> int:
    text = (raw or "").strip().replace("¥", "").replace(",", "")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise FieldError("bill_fen", _("Enter the bill amount in yuan, e.g. 128.50"), raw) from exc
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        raise FieldError("bill_fen", _("Enter the bill amount in yuan, e.g. 128.50"), raw)
    return int(value * 100)


@require_GET
@merchant_view
def home(request: MerchantRequest) -> HttpResponse:
    return render(request, "partners/merchant/home.html", {"merchant": _merchant(request)})


def _holder_page(request: MerchantRequest, key_id: int, *, error: str = "", status: int = 200) -> HttpResponse:
    holder = car_key_holder(actor=request.actor, key_id=key_id)
    checks = offers_for_key(actor=request.actor, key_id=key_id)
    context: dict[str, Any] = {
        "merchant": _merchant(request),
        "holder": holder,
        "checks": checks,
        "form_key": request.POST.get("form_key") or uuid.uuid4().hex,
        "bill": request.POST.get("bill", ""),
        "error": error,
    }
    return render(request, "partners/merchant/holder.html", context, status=status)


@require_POST
@merchant_view
def verify(request: MerchantRequest) -> HttpResponse:
    code = str(request.POST.get("code", ""))
    try:
        holder = car_key_verify(actor=request.actor, code=code)
    except CarKeyRejected as exc:
        status = 429 if exc.outcome == "rate_limited" else 422
        context = {"merchant": _merchant(request), "error": exc.reason, "outcome": exc.outcome}
        return render(request, "partners/merchant/home.html", context, status=status)
    except PermissionDenied as exc:
        return render(request, "partners/merchant/no_access.html", {"reason": exc.message}, status=403)
    return _holder_page(request, holder.key_id)


@require_POST
@merchant_view
def redeem(request: MerchantRequest) -> HttpResponseBase:
    try:
        key_id = int(str(request.POST.get("key_id", "")))
        offer_id = int(str(request.POST.get("offer_id", "") or 0))
    except ValueError:
        return render(request, "partners/merchant/home.html", {"error": _("Scan the car key again.")}, status=422)
    if not offer_id:
        return _holder_page(request, key_id, error=_("Choose an offer."), status=422)
    try:
        bill_fen = _yuan_to_fen(str(request.POST.get("bill", "")))
        redemption = perk_redeem(
            actor=request.actor,
            key_id=key_id,
            offer_id=offer_id,
            bill_fen=bill_fen,
            idempotency_key=str(request.POST.get("form_key", "")),
        )
    except FieldError as exc:
        return _holder_page(request, key_id, error=exc.reason, status=422)
    except NotFound as exc:
        return render(request, "partners/merchant/home.html", {"error": exc.message}, status=404)
    return HttpResponseRedirect(reverse("merchant:receipt", args=[redemption.pk]))


@require_GET
@merchant_view
def receipt(request: MerchantRequest, redemption_id: int) -> HttpResponse:
    redemption = merchant_redemptions(actor=request.actor).filter(pk=redemption_id).first()
    if redemption is None:
        return render(request, "partners/merchant/home.html", {"error": _("No such redemption.")}, status=404)
    holder = {"masked_name": mask_name(redemption.person.name), "series": redemption.vehicle.model.series}
    context = {"merchant": _merchant(request), "r": redemption, "holder": holder}
    return render(request, "partners/merchant/receipt.html", context)


@require_GET
@merchant_view
def redemptions(request: MerchantRequest) -> HttpResponse:
    rows = [(r, mask_name(r.person.name)) for r in merchant_redemptions(actor=request.actor)[:100]]
    return render(request, "partners/merchant/redemptions.html", {"merchant": _merchant(request), "rows": rows})


def no_access(request: HttpRequest) -> HttpResponse:
    return render(request, "partners/merchant/no_access.html", status=403)

"""The membership card (`/m/`) and its digital car key, a QR refreshed by htmx before it expires."""

from __future__ import annotations

import datetime as dt

import segno
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from hufen.common.errors import FieldError, PermissionDenied
from hufen.partners.carkey import car_key_issue
from hufen.portal.access import PortalRequest, portal_view
from hufen.portal.selectors import member_card

# Ask for a new key this long before the current one expires, so the QR on screen is always valid.
REFRESH_MARGIN_SECONDS = 10


def qr_svg(data: str) -> str:
    """An inline SVG of `data` as a QR code (error correction M, dark modules in near-black)."""
    qr = segno.make_qr(data, error="m")
    svg: str = qr.svg_inline(scale=4, border=2, dark="#1a1a1a", light="#ffffff", omitsize=True)
    return svg


@require_GET
@portal_view
def card(request: PortalRequest) -> HttpResponse:
    data = member_card(actor=request.actor, member=request.member)
    return render(
        request,
        "portal/card.html",
        {"tab": "card", "card": data, "portal_brand_name": data.brand_name, "has_vehicle": bool(data.vehicles)},
    )


@require_GET
@portal_view
def card_key(request: PortalRequest) -> HttpResponse:
    """The car key fragment: a fresh QR and 6-digit code, which reloads itself shortly before expiry."""
    vehicle_id = _vehicle_id(request.GET.get("vehicle", ""))
    context: dict[str, object] = {"vehicle_param": vehicle_id or ""}
    try:
        key = car_key_issue(actor=request.actor, vehicle_id=vehicle_id)
    except (FieldError, PermissionDenied) as exc:
        context["error"] = exc.reason if isinstance(exc, FieldError) else exc.message
        return render(request, "portal/_car_key.html", context)
    seconds = max(0, int((key.expires_at - timezone.now()) / dt.timedelta(seconds=1)))
    context.update(
        key=key,
        qr=qr_svg(key.token),
        seconds_left=seconds,
        refresh_in=max(1, seconds - REFRESH_MARGIN_SECONDS),
    )
    return render(request, "portal/_car_key.html", context)


def _vehicle_id(raw: str) -> int | None:
    # A bad or foreign vehicle id is not an error page: car_key_issue only serves the member's own.
    return int(raw) if raw.isdigit() and len(raw) < 12 else None

"""Benefits (`/m/benefits/`): the catalogue for the member's program and tier, redemption with a
confirmation step, and the member's redemptions with cancel while reserved.

The confirmation form carries an idempotency key drawn when the page is shown, so a double tap or a
resent form redeems once: `benefit_redeem` returns the first redemption for a key it has seen.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.membership.benefits import benefit_redeem, redemption_cancel
from hufen.membership.errors import IdempotencyConflict
from hufen.portal.access import PortalRequest, portal_view
from hufen.portal.selectors import CatalogueRow, benefit_catalogue, catalogue_item, my_redemption, my_redemptions

KEY_MAX = 64
PAGE_SIZE = 20


def _base(request: PortalRequest) -> dict[str, Any]:
    return {
        "tab": "benefits",
        "portal_brand_name": request.member.program.brand.name,
        "brand_tz": request.member.program.brand.time_zone,
        "balance": request.member.account.balance,
    }


@require_GET
@portal_view
def benefit_list_view(request: PortalRequest) -> HttpResponse:
    rows = benefit_catalogue(actor=request.actor, member=request.member)
    reserved = my_redemptions(actor=request.actor, member=request.member).filter(status="reserved").count()
    context = _base(request) | {"rows": rows, "tier_name": request.member.tier.name, "reserved": reserved}
    return render(request, "portal/benefits.html", context)


def why_not(row: CatalogueRow, balance: int, quantity: int, member_status: str) -> str:
    """The reason this member cannot redeem `quantity` of the item now, in the member's words; "" if they can."""
    item = row.item
    if member_status != "active":
        return _("Your membership is not active, so points cannot be spent.")
    if row.locked:
        return _("Needs %(tier)s or higher.") % {"tier": row.needs_tier}
    if not row.available:
        return _("Out of stock or not yet open for redemption.")
    if item.stock < quantity:
        return _("Only %(n)d left in stock.") % {"n": item.stock}
    if row.limit_left is not None and quantity > row.limit_left:
        return _("Limit reached: %(limit)d per member.") % {"limit": item.per_member_limit}
    if item.points_price * quantity > balance:
        return _("Not enough points: needs %(need)d, your balance is %(have)d.") % {
            "need": item.points_price * quantity,
            "have": balance,
        }
    return ""


def _quantity(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 10:
        raise FieldError("quantity", _("Choose a quantity from 1 to 10."))
    return int(raw)


@require_http_methods(["GET", "POST"])
@portal_view
def benefit_redeem_view(request: PortalRequest, item_id: int) -> HttpResponseBase:
    try:
        row = catalogue_item(actor=request.actor, member=request.member, item_id=item_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    context = _base(request) | {
        "row": row,
        "key": uuid.uuid4().hex,
        "quantity": 1,
        "cash_yuan": f"{row.item.cash_price_fen / 100:.2f}",
    }
    if request.method == "GET":
        context["blocked"] = why_not(row, context["balance"], 1, request.member.status)
        return render(request, "portal/benefit_confirm.html", context)
    key = request.POST.get("idempotency_key", "").strip()[:KEY_MAX]
    context["key"] = key or context["key"]
    try:
        quantity = _quantity(request.POST.get("quantity", "1").strip())
        context["quantity"] = quantity
        if not key:
            raise FieldError("idempotency_key", _("The form is incomplete. Please open it again."))
        # The same key again is a double tap: the service returns the first redemption, so only a
        # first submission is checked here (the check would otherwise see the points already spent).
        first = my_redemptions(actor=request.actor, member=request.member).filter(idempotency_key=key).first()
        if first is None:
            blocked = why_not(row, context["balance"], quantity, request.member.status)
            if blocked:
                raise FieldError("item", blocked)
        redemption = benefit_redeem(
            actor=request.actor, member=request.member, item=row.item, quantity=quantity, idempotency_key=key
        )
    except IdempotencyConflict:
        context["error"] = _("This form was already used for another redemption. Please open it again.")
        return render(request, "portal/benefit_confirm.html", context, status=409)
    except FieldError as exc:
        # A race (stock or points taken meanwhile) is caught by the service itself: nothing changed.
        context["error"] = _("Not enough points that are still valid.") if exc.field == "amount" else exc.reason
        return render(request, "portal/benefit_confirm.html", context, status=400)
    except PermissionDenied as exc:
        context["error"] = exc.message
        return render(request, "portal/benefit_confirm.html", context, status=403)
    messages.success(
        request, _("Redeemed %(item)s for %(points)d points.") % {"item": row.item.name, "points": redemption.points}
    )
    return HttpResponseRedirect(reverse("portal:redemptions"))


@require_GET
@portal_view
def redemption_list_view(request: PortalRequest) -> HttpResponse:
    raw = request.GET.get("before", "")
    qs = my_redemptions(actor=request.actor, member=request.member)
    if raw.isdigit() and len(raw) < 19:
        qs = qs.filter(id__lt=int(raw))
    rows = list(qs[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    context = {"rows": rows, "next_before": rows[-1].pk if more else None, "paged": bool(raw)}
    return render(request, "portal/redemptions.html", _base(request) | context)


@require_POST
@portal_view
def redemption_cancel_view(request: PortalRequest, redemption_id: int) -> HttpResponseBase:
    try:
        redemption = my_redemption(actor=request.actor, member=request.member, redemption_id=redemption_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    try:
        redemption_cancel(actor=request.actor, redemption=redemption, reason="cancelled by the member in the portal")
    except FieldError as exc:
        messages.error(request, _("Cannot cancel: %(reason)s") % {"reason": _status_reason(exc, redemption.status)})
    else:
        messages.success(
            request, _("Cancelled. %(points)d points are back in your balance.") % {"points": redemption.points}
        )
    return HttpResponseRedirect(reverse("portal:redemptions"))


def _status_reason(exc: FieldError, status: str) -> str:
    if status == "fulfilled":
        return _("it was already used.")
    return exc.reason

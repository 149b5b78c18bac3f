"""The join page (`/m/join/`): the program's terms and consent, shown after a right SMS code to a
person who is not yet a member of the brand. Only an agreement enrols; declining records nothing more.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from hufen.common.errors import FieldError
from hufen.common.pii import mask_phone
from hufen.console.access import client_ip
from hufen.portal.access import JOIN_COOKIE_NAME, set_session_cookie
from hufen.portal.services import JoinNeeded, join_ticket_open, member_join_with_consent, program_name
from hufen.portal.terms import program_terms
from hufen.portal.views.auth import next_target


def _restart(request: HttpRequest, message: str) -> HttpResponseBase:
    messages.error(request, message)
    response = HttpResponseRedirect(reverse("portal:login"))
    response.delete_cookie(JOIN_COOKIE_NAME, path="/m/", samesite="Lax")
    return response


def _context(request: HttpRequest, pending: JoinNeeded) -> dict[str, Any]:
    return {
        "portal_brand_name": pending.brand.name,
        "terms": program_terms(pending.brand, program_name(pending.brand)),
        "phone_masked": mask_phone(pending.phone),
        "new_person": pending.new_person,
        "next": next_target(request),
        "errors": {},
        "marketing": False,
    }


@never_cache
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest) -> HttpResponseBase:
    ticket = request.COOKIES.get(JOIN_COOKIE_NAME, "")
    try:
        pending = join_ticket_open(ticket)
    except FieldError as exc:
        return _restart(request, exc.reason)
    context = _context(request, pending)
    if request.method == "GET":
        return render(request, "portal/join.html", context)
    if request.POST.get("action") == "decline":
        messages.info(request, _("You did not join. You can sign in again whenever you like."))
        response = HttpResponseRedirect(reverse("portal:login"))
        response.delete_cookie(JOIN_COOKIE_NAME, path="/m/", samesite="Lax")
        return response
    context["marketing"] = request.POST.get("marketing") == "on"
    try:
        signed = member_join_with_consent(
            ticket=ticket,
            accept_terms=request.POST.get("accept_terms") == "on",
            terms_version=request.POST.get("terms_version", "")[:20],
            marketing=context["marketing"],
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
    except FieldError as exc:
        if exc.field == "ticket":
            return _restart(request, exc.reason)
        context["errors"] = {exc.field: exc.reason}
        return render(request, "portal/join.html", context, status=400)
    messages.success(
        request,
        _("Welcome to %(program)s. Your member number is %(number)s.")
        % {
            "program": signed.member.program.name,
            "number": signed.member.number,
        },
    )
    response = HttpResponseRedirect(context["next"])
    set_session_cookie(response, signed.token)
    response.delete_cookie(JOIN_COOKIE_NAME, path="/m/", samesite="Lax")
    return response

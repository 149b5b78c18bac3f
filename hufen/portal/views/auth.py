"""SMS sign-in and sign-out. One page, two steps: the phone, then the code (and a name if new).

A right code from someone who is not yet a member of the brand leads to the join page (views/join.py)
with a signed ticket in a short-lived cookie: nobody is enrolled before agreeing to the terms.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from hufen.common.errors import FieldError
from hufen.common.pii import mask_phone, normalize_cn_mobile, phone_national
from hufen.common.sms import SmsError
from hufen.console.access import client_ip
from hufen.org.models import Brand
from hufen.portal.access import (
    JOIN_COOKIE_NAME,
    PortalRequest,
    clear_session_cookie,
    live_session,
    member_actor,
    portal_view,
    set_session_cookie,
)
from hufen.portal.services import (
    JOIN_TICKET_MAX_AGE,
    JoinRequired,
    Throttled,
    brand_for_portal,
    login_code_request,
    member_sign_in,
    member_sign_out,
)


def next_target(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    ok = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    # Only back into the portal: a sign-in link must not bounce an owner anywhere else.
    if ok and target.startswith("/m/") and not target.startswith("/m/login"):
        return target
    return reverse("portal:card")


def _brand(request: HttpRequest) -> tuple[Brand | None, str]:
    code = (request.POST.get("brand") or request.GET.get("brand") or "").strip()[:40]
    try:
        return brand_for_portal(code), ""
    except FieldError as exc:
        return None, exc.reason


@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponseBase:
    if live_session(request) is not None:
        return HttpResponseRedirect(next_target(request))
    brand, brand_error = _brand(request)
    context: dict[str, Any] = {
        "step": "phone",
        "brand": brand,
        "portal_brand_name": brand.name if brand else "",
        "brands": Brand.objects.order_by("id").only("code", "name")
        if brand is None or Brand.objects.count() > 1
        else [],
        "next": next_target(request),
        "errors": {"brand": brand_error} if brand_error else {},
        "phone": "",
    }
    if request.method == "GET" or brand is None:
        return render(request, "portal/login.html", context, status=400 if brand_error else 200)
    step = request.POST.get("step", "")
    phone = request.POST.get("phone", "")[:40]
    context["phone"] = phone
    ip = client_ip(request)
    if step in ("send", "resend"):
        try:
            sent = login_code_request(phone=phone, brand_code=brand.code, ip=ip)
        except FieldError as exc:
            context["step"] = "code" if step == "resend" else "phone"
            context["errors"] = {exc.field: exc.reason}
            context["phone_masked"] = _masked(phone)
            if isinstance(exc, Throttled):
                response = render(request, "portal/login.html", context, status=429)
                response["Retry-After"] = str(exc.retry_after)
                return response
            return render(request, "portal/login.html", context, status=400)
        except SmsError:
            context["errors"] = {"phone": _sms_failed()}
            return render(request, "portal/login.html", context, status=503)
        context.update(step="code", phone=phone_national(sent.phone), phone_masked=mask_phone(sent.phone), sent=True)
        return render(request, "portal/login.html", context)
    if step == "verify":
        context.update(step="code", phone_masked=_masked(phone), name=request.POST.get("name", "")[:60])
        try:
            signed = member_sign_in(
                phone=phone,
                code=request.POST.get("code", "")[:12],
                brand_code=brand.code,
                name=request.POST.get("name", ""),
                ip=ip,
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
        except JoinRequired as needed:
            join = f"{reverse('portal:join')}?{urlencode({'next': next_target(request)})}"
            response = HttpResponseRedirect(join)
            set_join_cookie(response, needed.pending.ticket)
            return response
        except FieldError as exc:
            context["errors"] = {exc.field: exc.reason}
            if exc.field == "name":
                context["ask_name"] = True
            return render(request, "portal/login.html", context, status=400)
        response = HttpResponseRedirect(next_target(request))
        set_session_cookie(response, signed.token)
        return response
    context["errors"] = {"phone": _bad_step()}
    return render(request, "portal/login.html", context, status=400)


def set_join_cookie(response: HttpResponseBase, ticket: str) -> None:
    response.set_cookie(
        JOIN_COOKIE_NAME,
        ticket,
        max_age=JOIN_TICKET_MAX_AGE,
        path="/m/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def _masked(phone: str) -> str:
    try:
        return mask_phone(normalize_cn_mobile(phone))
    except FieldError:
        return ""


def _sms_failed() -> str:
    return _("The text message could not be sent. Please try again later.")


def _bad_step() -> str:
    return _("Please start again.")


@require_POST
@portal_view
def logout(request: PortalRequest) -> HttpResponse:
    member_sign_out(actor=member_actor(request.member), session=request.portal_session, ip=client_ip(request))
    response = HttpResponseRedirect(reverse("portal:login"))
    clear_session_cookie(response)
    return response

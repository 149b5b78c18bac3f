"""Who is using the owner portal, and the actor every portal view works as.

`portal_view` is the one gate for `/m/` pages: without a live portal session the browser goes to the
SMS sign-in page; with one, the view finds `request.actor` (the member acting as their own person,
Scope.SELF) and `request.member`. Portal sessions live in their own table and cookie, never in
Django's auth session, so a portal sign-in cannot open the console and a console login cannot open
the portal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import urlencode
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from hufen.common.actors import Actor, Role
from hufen.membership.models import Member
from hufen.portal.models import PortalSession

P = ParamSpec("P")

COOKIE_NAME = "hufen_member"
COOKIE_PATH = "/m/"
# Holds the signed join ticket between the code and the terms page.
JOIN_COOKIE_NAME = "hufen_join"
# Member API bearer tokens (`/api/v1/me`) start with this; portal cookies have no prefix.
API_TOKEN_PREFIX = "hm_"
# What a signed-in owner may do for themselves; scope (Scope.SELF) still limits it to their own data.
MEMBER_PERMISSIONS = frozenset({"membership.view", "benefits.redeem"})


class PortalRequest(HttpRequest):
    """A request that passed `portal_view`: it carries the member, its actor and its session."""

    actor: Actor
    member: Member
    portal_session: PortalSession
    htmx: HtmxDetails


PortalView = Callable[Concatenate[PortalRequest, P], HttpResponseBase]
DjangoView = Callable[Concatenate[HttpRequest, P], HttpResponseBase]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def member_actor(member: Member) -> Actor:
    """The actor of a member signed in to the portal: their own person, one brand's program."""
    return Actor(
        kind="member",
        role=Role.MEMBER,
        label=f"member:{member.number}",
        person_id=member.person_id,
        member_id=member.pk,
        brand_ids=frozenset({member.program.brand_id}),
        extra_permissions=MEMBER_PERMISSIONS,
    )


def live_session(request: HttpRequest) -> PortalSession | None:
    """The request's portal session when its cookie names one that is neither ended nor expired."""
    return session_for_token(request.COOKIES.get(COOKIE_NAME, ""), channel="h5")


def session_for_token(token: str, *, channel: str) -> PortalSession | None:
    """The live session of `channel` a token names: a cookie never works as a bearer, nor the reverse."""
    if not token or len(token) > 100:
        return None
    session = (
        PortalSession.objects.filter(
            token_hash=token_hash(token), channel=channel, ended_at__isnull=True, expires_at__gt=timezone.now()
        )
        .select_related("member__program__brand", "member__person", "member__tier")
        .first()
    )
    if session is None:
        return None
    member = session.member
    # A closed membership or a person merged away ends every session at once.
    if member.status == "closed" or member.person.status != "active":
        return None
    return session


def set_session_cookie(response: HttpResponseBase, token: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=settings.HUFEN_PORTAL_SESSION_DAYS * 86400,
        path=COOKIE_PATH,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def clear_session_cookie(response: HttpResponseBase) -> None:
    response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, samesite="Lax")


def _to_login(request: HttpRequest) -> HttpResponseBase:
    login = reverse("portal:login")
    htmx = getattr(request, "htmx", None)
    if htmx:
        # An htmx swap would put the sign-in page inside the page; send the browser there.
        here = htmx.current_url_abs_path or request.get_full_path()
        return HttpResponseClientRedirect(f"{login}?{urlencode({'next': here})}")
    return HttpResponseRedirect(f"{login}?{urlencode({'next': request.get_full_path()})}")


def portal_view(view: PortalView[P]) -> DjangoView[P]:
    """Let only signed-in members in; set `request.actor`, `request.member`, `request.portal_session`."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        session = live_session(request)
        if session is None:
            response = _to_login(request)
            if COOKIE_NAME in request.COOKIES:
                clear_session_cookie(response)
            return response
        portal_request = cast(PortalRequest, request)
        portal_request.portal_session = session
        portal_request.member = session.member
        portal_request.actor = member_actor(session.member)
        response = view(portal_request, *args, **kwargs)
        # Pages hold the member's own data: never keep them in shared or disk caches.
        patch_cache_control(response, no_store=True, private=True)
        patch_vary_headers(response, ["HX-Request", "Cookie"])
        return response

    return wrapper

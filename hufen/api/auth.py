"""Who calls the API: an integration with its bearer token, or a console user with its session.

Both end as an `Actor` on `request.actor`, so handlers and selectors never look at tokens or users.
A request that sends a bearer token is judged by the token alone: a bad token is a 401 even when a
session cookie rides along, so an integration's misconfiguration never silently borrows a login.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import APIKeyCookie, HttpBearer

from hufen.common.actors import Actor
from hufen.org.selectors import actor_for_user
from hufen.org.services import api_client_actor


def _attach(request: HttpRequest, actor: Actor) -> Actor:
    request.actor = actor  # type: ignore[attr-defined]
    return actor


class ApiTokenAuth(HttpBearer):
    """`Authorization: Bearer hf_...`: a live (not revoked, not expired) API client."""

    def __call__(self, request: HttpRequest) -> Any:
        if not request.headers.get(self.header):
            return None  # let the session scheme try
        actor = super().__call__(request)
        if actor is None:
            # A token was sent and is wrong, revoked or expired (or not a bearer scheme).
            raise AuthenticationError()
        return actor

    def authenticate(self, request: HttpRequest, token: str) -> Actor | None:
        # The token's actor is cached for a few seconds per process (see org.services.api_client_actor).
        actor = api_client_actor(token.strip())
        if actor is None:
            return None
        return _attach(request, actor)


class ConsoleSessionAuth(APIKeyCookie):
    """The console's Django session; unsafe methods need the CSRF token, as for any form."""

    param_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest) -> Any:
        # No login, no CSRF question: an anonymous POST is a 401, not a CSRF 403.
        if not getattr(getattr(request, "user", None), "is_authenticated", False):
            return None
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Actor | None:
        actor = actor_for_user(getattr(request, "user", None))
        if actor is None:
            return None
        return _attach(request, actor)


def actor_of(request: HttpRequest) -> Actor:
    """The actor an authenticated operation runs as."""
    actor: Actor = request.actor  # type: ignore[attr-defined]
    return actor


API_AUTH = [ApiTokenAuth(), ConsoleSessionAuth()]

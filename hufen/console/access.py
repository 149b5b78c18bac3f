"""Who may use the console, and the actor every console view works as.

`console_view` is the one gate: anonymous users go to the login page, users that are not active
staff in a console role get a "no console access" page (403), and a view may demand a permission.
The view then finds its `Actor` on `request.actor`, built once per request.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec, cast

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import urlencode
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from hufen.common.actors import Actor, Role
from hufen.org.selectors import actor_for_user

P = ParamSpec("P")

# Staff roles that work in the console; merchant operators have their own page (/merchant/).
CONSOLE_ROLES = frozenset({Role.HQ_ADMIN, Role.HQ_OPERATOR, Role.REGION_MANAGER, Role.DEALER_MANAGER, Role.BUTLER})


class ConsoleRequest(HttpRequest):
    """A request that passed `console_view`: it carries the actor (and django-htmx's details)."""

    actor: Actor
    htmx: HtmxDetails


ConsoleView = Callable[Concatenate[ConsoleRequest, P], HttpResponseBase]
DjangoView = Callable[Concatenate[HttpRequest, P], HttpResponseBase]


def console_actor(request: HttpRequest) -> Actor | None:
    """The console actor of a logged-in user, or None when the user may not use the console."""
    actor = actor_for_user(request.user)
    if actor is None or actor.role not in CONSOLE_ROLES:
        return None
    return actor


def client_ip(request: HttpRequest) -> str | None:
    # The deployment's proxy is expected to set REMOTE_ADDR (e.g. gunicorn --forwarded-allow-ips);
    # X-Forwarded-For is not trusted here because a client can forge it.
    return request.META.get("REMOTE_ADDR") or None


def console_view(perm: str | None = None) -> Callable[[ConsoleView[P]], DjangoView[P]]:
    """Let only console staff in, set `request.actor`, and require `perm` when given."""

    def decorate(view: ConsoleView[P]) -> DjangoView[P]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            if not request.user.is_authenticated:
                htmx = getattr(request, "htmx", None)
                if htmx:
                    # An htmx swap would put the login page inside the page; send the browser there.
                    login = reverse("console:login")
                    here = htmx.current_url_abs_path or request.get_full_path()
                    return HttpResponseClientRedirect(f"{login}?{urlencode({'next': here})}")
                return redirect_to_login(request.get_full_path(), reverse("console:login"))
            actor = console_actor(request)
            if actor is None:
                return render(request, "console/no_access.html", status=403)
            console_request = cast(ConsoleRequest, request)
            console_request.actor = actor
            if perm and not actor.has_perm(perm):
                return render(request, "console/forbidden.html", {"perm": perm}, status=403)
            response = view(console_request, *args, **kwargs)
            # Pages hold personal data (masked or revealed): never keep them in shared or disk caches;
            # and a page differs between a full load and an htmx swap of its results.
            patch_cache_control(response, no_store=True, private=True)
            patch_vary_headers(response, ["HX-Request"])
            return response

        return wrapper

    return decorate

"""The REST API at /api/v1/: one NinjaAPI, one router per capability.

Adding a capability's endpoints is two lines below: import its router module, `api.add_router(...)`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import URLPattern, URLResolver, re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.renderers import JSONRenderer

from hufen.analytics.api import router as analytics_router
from hufen.api import me, me_auth, merges, org, people, vehicles
from hufen.api.auth import API_AUTH
from hufen.api.errors import error_response, install_error_handlers
from hufen.identity.api import router as identity_router
from hufen.memberday import api as memberday_api
from hufen.membership import api as membership_api
from hufen.membership import api_catalogue as membership_catalogue_api
from hufen.partners import api as partners_api
from hufen.tracking.api import router as events_router

DESCRIPTION = """\
Hufen's integration API.

**Auth**: `Authorization: Bearer hf_...` (a token from `hufen apiclient create`), or the console's
session cookie (unsafe methods then need the CSRF token).
**Errors**: always `{"error": {"code", "message", "details"}}`.
**Lists**: `?limit=` (1-200) and `?cursor=` (the previous page's `next_cursor`). Integration lists
page oldest first; a member's own history (`/me/points`, `/me/redemptions`) newest first, or oldest
first with `?order=oldest`. A cursor continues only the listing and the order that issued it.
**Creates**: send `Idempotency-Key` to make a retry safe.
"""


def _json_method_not_allowed(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """ninja answers a wrong method with a bare 405; give it the API's error body."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if response.status_code != 405 or response.get("Content-Type", "").startswith("application/json"):
            return response
        replacement = error_response(405, "method_not_allowed", f"{request.method} is not allowed here.")
        replacement["Allow"] = response.get("Allow", "")
        return replacement

    return wrapper


@csrf_exempt
def unknown_route(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response(404, "not_found", f"No API route at {request.path}.")


class Utf8JSONRenderer(JSONRenderer):
    """Chinese text as itself (`王*伟`), not as `\\u738b*\\u4f1f`."""

    json_dumps_params = {"ensure_ascii": False}


class HufenAPI(NinjaAPI):
    """NinjaAPI whose every URL, known or not, answers with the API's JSON error body."""

    @property
    def urls(self) -> tuple[list[URLResolver | URLPattern], str, str]:
        patterns, app_name, namespace = super().urls
        wrapped: list[URLResolver | URLPattern] = []
        for p in patterns:
            if isinstance(p, URLPattern):
                # ninja's "api-root" only exists to be reversed; visiting it is an unknown route.
                view = unknown_route if p.name == "api-root" else _json_method_not_allowed(p.callback)
                p = URLPattern(p.pattern, view, p.default_args, p.name)
            wrapped.append(p)
        # Last, so it only catches what no router matched.
        wrapped.append(re_path(r"^[\s\S]*$", unknown_route, name="unknown-route"))
        return wrapped, app_name, namespace


api = HufenAPI(
    title="Hufen API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api-v1",
    auth=API_AUTH,
    renderer=Utf8JSONRenderer(),
)
install_error_handlers(api)

api.add_router("/dealers", org.router)
api.add_router("/persons", people.router)
api.add_router("/persons", merges.persons_router)
api.add_router("/merges", merges.router)
api.add_router("/vehicles", vehicles.router)
api.add_router("/membership", membership_api.router)
api.add_router("/memberday", memberday_api.router)
api.add_router("/membership", membership_catalogue_api.router)
api.add_router("/events", events_router)
api.add_router("/analytics", analytics_router)
api.add_router("/identity", identity_router)
api.add_router("/partners", partners_api.router)
api.add_router("/me", me_auth.router)
api.add_router("/me", me.router)

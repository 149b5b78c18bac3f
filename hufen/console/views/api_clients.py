"""API clients in the console (/console/api-clients/): what `hufen apiclient` does, for HQ admins.

Only staff holding `api_clients.manage` (the permission the CLI grants itself) get in; everyone else
gets the console's 403 page on every URL. Every write goes through the org services, which check the
permission again and write the audit row.

The clear token exists only in the response to the create POST: it is not stored (the database keeps
a hash and its first characters), not put in the session, not audited. A page reload re-posts the
form; its one-time form key then finds the client already created and says so instead of minting a
second one, and the token cannot be shown again.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from hufen.common.errors import FieldError, NotFound
from hufen.console.access import ConsoleRequest, console_view
from hufen.org.models import ApiClient, Brand, Dealer
from hufen.org.selectors import api_client_get, api_client_list, api_client_scope_choices
from hufen.org.services import api_client_create, api_client_grantable, api_client_revoke, api_client_set_permissions

PERM = "api_clients.manage"
MAX_EXPIRES_DAYS = 3650  # as `hufen apiclient create --expires-days`
REASON_MAX_LENGTH = 200
# Form keys of creates already done in this session (key → client id), newest last; a few suffice.
SESSION_FORMS = "hufen.console.api_client_forms"
SESSION_FORMS_KEPT = 20

PERMISSION_LABELS: dict[str, Promise] = {
    "persons.view": gettext_lazy("Read customers, dealers and vehicles"),
    "membership.view": gettext_lazy("Read members and their points"),
    "membership.join": gettext_lazy("Enrol members"),
    "points.adjust": gettext_lazy("Award and spend points"),
    "benefits.redeem": gettext_lazy("Redeem benefits for members"),
    "identity.link": gettext_lazy("Send records to ONE ID"),
}


@dataclass(frozen=True)
class PermissionChoice:
    code: str
    label: str
    checked: bool


@dataclass(frozen=True)
class ClientRow:
    client: ApiClient
    scope: str
    status: str  # active | expired | revoked
    permissions: list[str] | None  # labels; None: every permission of the API-client role


def _label(code: str) -> str:
    label = PERMISSION_LABELS.get(code)
    return str(label) if label is not None else code


def _status(client: ApiClient, now: dt.datetime) -> str:
    if client.revoked_at is not None:
        return "revoked"
    if client.expires_at is not None and client.expires_at <= now:
        return "expired"
    return "active"


def _scope(client: ApiClient) -> str:
    if client.dealer is not None:
        return _("Dealer %(code)s %(name)s") % {"code": client.dealer.code, "name": client.dealer.name}
    if client.brand is not None:
        return _("Brand %(name)s") % {"name": client.brand.name}
    return "—"


def _row(client: ApiClient, now: dt.datetime) -> ClientRow:
    perms = None if client.permissions is None else [_label(str(p)) for p in client.permissions]
    return ClientRow(client=client, scope=_scope(client), status=_status(client, now), permissions=perms)


def _choices(selected: set[str] | None) -> list[PermissionChoice]:
    """The catalogue a client may hold, as `hufen apiclient permissions --set` accepts it."""
    return [
        PermissionChoice(code=code, label=_label(code), checked=selected is None or code in selected)
        for code in sorted(api_client_grantable())
    ]


def _client(request: ConsoleRequest, client_id: int) -> ApiClient:
    try:
        return api_client_get(actor=request.actor, client_id=client_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _posted_permissions(request: ConsoleRequest) -> list[str] | None:
    """None for "every permission of the role", else the ticked codes (possibly none)."""
    if request.POST.get("permissions_mode", "all") == "all":
        return None
    return request.POST.getlist("permissions")


def _permission_error(codes: list[str] | None) -> str | None:
    if codes is None:
        return None
    unknown = sorted(set(codes) - api_client_grantable())
    if unknown:
        return _("These cannot be granted to an API client: %(codes)s") % {"codes": ", ".join(unknown)}
    return None


def _reason(request: ConsoleRequest) -> str:
    return " ".join(request.POST.get("reason", "").split())[:REASON_MAX_LENGTH]


# --- list ------------------------------------------------------------------------------------------


@console_view(PERM)
def api_client_list_view(request: ConsoleRequest) -> HttpResponse:
    now = timezone.now()
    rows = [_row(c, now) for c in api_client_list(actor=request.actor)]
    return render(request, "console/api_clients/list.html", {"nav": "api_clients", "rows": rows})


# --- create ----------------------------------------------------------------------------------------


def _create_form(
    request: ConsoleRequest, brands: list[Brand], dealers: list[Dealer]
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """The posted form as typed, errors by field, and the cleaned values (used only without errors)."""
    post = request.POST
    form: dict[str, Any] = {
        "name": " ".join(post.get("name", "").split()),
        "scope": post.get("scope", "dealer"),
        "brand": post.get("brand", ""),
        "dealer": post.get("dealer", ""),
        "expires_days": post.get("expires_days", "").strip(),
        "permissions_mode": post.get("permissions_mode", "all"),
    }
    errors: dict[str, str] = {}
    max_length = ApiClient._meta.get_field("name").max_length or 80
    if not form["name"]:
        errors["name"] = _("Enter a name, e.g. the system that will use the token.")
    elif len(form["name"]) > max_length:
        errors["name"] = _("At most %(n)d characters.") % {"n": max_length}
    brand: Brand | None = None
    dealer: Dealer | None = None
    if form["scope"] == "brand":
        brand = next((b for b in brands if b.code == form["brand"]), None)
        if brand is None:
            errors["brand"] = _("Choose a brand.")
    elif form["scope"] == "dealer":
        dealer = next((d for d in dealers if d.code == form["dealer"]), None)
        if dealer is None:
            errors["dealer"] = _("Choose a dealer.")
    else:
        errors["scope"] = _("Choose a brand or a dealer.")
    expires_at: dt.datetime | None = None
    if form["expires_days"]:
        days = int(form["expires_days"]) if form["expires_days"].isdigit() and len(form["expires_days"]) < 6 else 0
        if not 1 <= days <= MAX_EXPIRES_DAYS:
            errors["expires_days"] = _("A whole number of days from 1 to %(max)d, or empty for no expiry.") % {
                "max": MAX_EXPIRES_DAYS
            }
        else:
            expires_at = timezone.now() + dt.timedelta(days=days)
    permissions = _posted_permissions(request)
    permission_error = _permission_error(permissions)
    if permission_error:
        errors["permissions"] = permission_error
    cleaned = {"name": form["name"], "brand": brand, "dealer": dealer, "expires_at": expires_at}
    return form, errors, cleaned | {"permissions": permissions}


def _created_before(request: ConsoleRequest, form_key: str) -> ApiClient | None:
    done: dict[str, int] = request.session.get(SESSION_FORMS, {})
    client_id = done.get(form_key)
    return api_client_list(actor=request.actor).filter(pk=client_id).first() if client_id else None


def _remember(request: ConsoleRequest, form_key: str, client: ApiClient) -> None:
    done: dict[str, int] = dict(request.session.get(SESSION_FORMS, {}))
    done[form_key] = client.pk
    request.session[SESSION_FORMS] = dict(list(done.items())[-SESSION_FORMS_KEPT:])


@console_view(PERM)
def api_client_create_view(request: ConsoleRequest) -> HttpResponseBase:
    """GET: the form. POST: create, and show the token on this response only."""
    brands, dealers = api_client_scope_choices(actor=request.actor)
    context: dict[str, Any] = {"nav": "api_clients", "brands": brands, "dealers": dealers, "errors": {}}
    if request.method != "POST":
        context |= {"form": {"scope": "dealer", "permissions_mode": "all"}, "form_key": secrets.token_urlsafe(16)}
        context["choices"] = _choices(None)
        return render(request, "console/api_clients/create.html", context)
    form_key = request.POST.get("form_key", "")[:64]
    earlier = _created_before(request, form_key) if form_key else None
    if earlier is not None:
        row = _row(earlier, timezone.now())
        return render(request, "console/api_clients/created.html", {**context, "row": row, "token": None}, status=409)
    form, errors, cleaned = _create_form(request, brands, dealers)
    if not errors:
        try:
            client, token = api_client_create(actor=request.actor, **cleaned)
        except FieldError as exc:
            errors[exc.field] = exc.reason
        else:
            _remember(request, form_key, client)
            row = _row(client, timezone.now())
            return render(request, "console/api_clients/created.html", {**context, "row": row, "token": token})
    selected = None if cleaned["permissions"] is None else set(cleaned["permissions"])
    context |= {"form": form, "form_key": form_key, "errors": errors, "choices": _choices(selected)}
    return render(request, "console/api_clients/create.html", context, status=422)


# --- permissions -----------------------------------------------------------------------------------


@console_view(PERM)
def api_client_permissions_view(request: ConsoleRequest, client_id: int) -> HttpResponseBase:
    client = _client(request, client_id)
    row = _row(client, timezone.now())
    current = None if client.permissions is None else {str(p) for p in client.permissions}
    context: dict[str, Any] = {
        "nav": "api_clients",
        "row": row,
        "mode": "all" if current is None else "only",
        "choices": _choices(current),
        "error": None,
        "reason": "",
    }
    if request.method != "POST":
        return render(request, "console/api_clients/permissions.html", context)
    wanted = _posted_permissions(request)
    error = _permission_error(wanted)
    if error is None and row.status == "revoked":
        error = _("This client is revoked: create a new one instead.")
    if error is None:
        try:
            api_client_set_permissions(actor=request.actor, client=client, permissions=wanted, reason=_reason(request))
        except FieldError as exc:
            error = exc.reason
        else:
            messages.success(request, _("Permissions of %(name)s saved.") % {"name": client.name})
            return redirect("console:api_client_list")
    context |= {
        "mode": "all" if wanted is None else "only",
        "choices": _choices(None if wanted is None else set(wanted)),
        "error": error,
        "reason": _reason(request),
    }
    return render(request, "console/api_clients/permissions.html", context, status=422)


# --- revoke ----------------------------------------------------------------------------------------


@console_view(PERM)
def api_client_revoke_view(request: ConsoleRequest, client_id: int) -> HttpResponseBase:
    """GET: a confirmation page. POST: revoke (the token stops working at once)."""
    client = _client(request, client_id)
    if request.method != "POST":
        row = _row(client, timezone.now())
        return render(request, "console/api_clients/revoke.html", {"nav": "api_clients", "row": row})
    if client.revoked_at is not None:
        messages.info(request, _("%(name)s was already revoked.") % {"name": client.name})
    else:
        api_client_revoke(actor=request.actor, client=client, reason=_reason(request))
        messages.success(request, _("%(name)s is revoked: its token no longer works.") % {"name": client.name})
    return redirect("console:api_client_list")

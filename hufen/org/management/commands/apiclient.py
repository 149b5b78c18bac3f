"""`hufen apiclient create|list|permissions|revoke`: an integration's credentials for the REST API.

The clear token is printed once, by `create`, and is stored only as a hash: lose it and create a new
client. `list` shows the token's first characters only, enough to recognise it in a config file.
A client holds every permission of the API-client role unless `--permissions` names a smaller set;
`permissions ID --set ...` changes the set later and `--all` lifts it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import replace
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from hufen.common.actors import SYSTEM, Actor
from hufen.common.errors import FieldError
from hufen.org.models import ApiClient, Brand, Dealer
from hufen.org.services import api_client_create, api_client_grantable, api_client_revoke, api_client_set_permissions

MAX_EXPIRES_DAYS = 3650


def _cli_actor() -> Actor:
    # The shell user is the system; SYSTEM's role lacks "api_clients.manage", granted here for the
    # CLI only so that no other system job can mint credentials.
    return replace(SYSTEM, label="system:cli", extra_permissions=SYSTEM.extra_permissions | {"api_clients.manage"})


def _expires_days(raw: str) -> int:
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_EXPIRES_DAYS:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number of days from 1 to {MAX_EXPIRES_DAYS}")
    return days


def _status(client: ApiClient, now: dt.datetime) -> str:
    if client.revoked_at is not None:
        return "revoked"
    if client.expires_at is not None and client.expires_at <= now:
        return "expired"
    return "active"


def _scope(client: ApiClient) -> dict[str, str | None]:
    return {
        "brand": client.brand.code if client.brand else None,
        "dealer": client.dealer.code if client.dealer else None,
    }


def _permission_arg(raw: str) -> list[str]:
    """`a,b` → ["a", "b"]; "" is the empty set (a client that may do nothing)."""
    return [p.strip() for p in raw.split(",") if p.strip()]


def _permissions_text(permissions: list[str] | None) -> str:
    return "all" if permissions is None else (",".join(permissions) or "none")


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


class Command(BaseCommand):
    help = "Create, list or revoke API clients (per-integration bearer tokens for /api/v1/)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a client and print its token once")
        create.add_argument("--name", required=True, help="who integrates, e.g. 'DMS sync A1'")
        scope = create.add_mutually_exclusive_group(required=True)
        scope.add_argument("--brand", help="brand code: the client sees the dealers carrying the brand")
        scope.add_argument("--dealer", help="dealer code: the client sees that dealer only")
        create.add_argument("--expires-days", type=_expires_days, help="valid for this many days (default: no expiry)")
        grantable = ", ".join(sorted(api_client_grantable()))
        create.add_argument(
            "--permissions",
            type=_permission_arg,
            help=f"comma-separated permissions the client holds (default: all of: {grantable})",
        )
        create.add_argument("--json", action="store_true", help="print the result as JSON")
        listing = sub.add_parser("list", help="list clients (never their tokens)")
        listing.add_argument("--json", action="store_true")
        perms = sub.add_parser("permissions", help="show or change a client's permission set")
        perms.add_argument("id", help="the client's id, as `list` shows it")
        change = perms.add_mutually_exclusive_group()
        change.add_argument("--set", type=_permission_arg, help=f"comma-separated, from: {grantable}")
        change.add_argument("--all", action="store_true", help="every permission of the API-client role")
        perms.add_argument("--reason", default="", help="kept in the audit log")
        perms.add_argument("--json", action="store_true")
        revoke = sub.add_parser("revoke", help="revoke a client: its token stops working at once")
        revoke.add_argument("id", help="the client's id, as `list` shows it")
        revoke.add_argument("--reason", default="", help="kept in the audit log")

    def handle(self, *args: Any, **opts: Any) -> None:
        getattr(self, f"_{opts['action']}")(opts)

    def _create(self, opts: dict[str, Any]) -> None:
        name = " ".join((opts["name"] or "").split())
        if not name:
            raise CommandError("--name: is empty")
        max_length = ApiClient._meta.get_field("name").max_length or 80
        if len(name) > max_length:
            raise CommandError(f"--name: is longer than {max_length} characters")
        brand = _lookup(Brand, "--brand", opts["brand"])
        dealer = _lookup(Dealer, "--dealer", opts["dealer"])
        days = opts["expires_days"]
        expires_at = timezone.now() + dt.timedelta(days=days) if days else None
        try:
            client, token = api_client_create(
                actor=_cli_actor(),
                name=name,
                brand=brand,
                dealer=dealer,
                expires_at=expires_at,
                permissions=opts["permissions"],
            )
        except FieldError as exc:
            raise CommandError(f"{exc.field}: {exc.reason}") from exc
        if opts["json"]:
            row = {
                "id": client.pk,
                "name": client.name,
                "token": token,
                "token_prefix": client.token_prefix,
                **_scope(client),
                "expires_at": _iso(client.expires_at),
                "permissions": client.permissions,
            }
            self.stdout.write(json.dumps(row, ensure_ascii=False))
            return
        scope = f"brand {brand.code}" if brand else f"dealer {dealer.code}" if dealer else ""
        expiry = f", expires {client.expires_at:%Y-%m-%d %H:%M} UTC" if client.expires_at else ""
        self.stdout.write(self.style.SUCCESS(f"created API client {client.pk} {client.name!r} ({scope}{expiry})"))
        self.stdout.write(f"permissions: {_permissions_text(client.permissions)}")
        self.stdout.write("token (shown only now; store it in the integration's secrets):")
        self.stdout.write(token)

    def _list(self, opts: dict[str, Any]) -> None:
        now = timezone.now()
        clients = ApiClient.objects.select_related("brand", "dealer").order_by("id")
        rows: list[dict[str, Any]] = [
            {
                "id": c.pk,
                "name": c.name,
                "token_prefix": c.token_prefix,
                **_scope(c),
                "status": _status(c, now),
                "created_at": _iso(c.created_at),
                "expires_at": _iso(c.expires_at),
                "revoked_at": _iso(c.revoked_at),
                "last_used_at": _iso(c.last_used_at),
                "permissions": c.permissions,
            }
            for c in clients
        ]
        if opts["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False))
            return
        if not rows:
            self.stdout.write("no API clients")
            return
        for r in rows:
            scope = f"brand:{r['brand']}" if r["brand"] else f"dealer:{r['dealer']}"
            used = (r["last_used_at"] or "never")[:16]
            self.stdout.write(
                f"{r['id']:>4}  {r['token_prefix']}…  {r['status']:<8} {scope:<16} last used {used:<16}  {r['name']}"
                f"  [{_permissions_text(r['permissions'])}]"
            )

    def _permissions(self, opts: dict[str, Any]) -> None:
        client = _client(opts["id"])
        if opts["set"] is not None or opts["all"]:
            try:
                client = api_client_set_permissions(
                    actor=_cli_actor(),
                    client=client,
                    permissions=None if opts["all"] else opts["set"],
                    reason=opts["reason"],
                )
            except FieldError as exc:
                raise CommandError(f"{exc.field}: {exc.reason}") from exc
        if opts["json"]:
            self.stdout.write(json.dumps({"id": client.pk, "permissions": client.permissions}, ensure_ascii=False))
            return
        self.stdout.write(f"API client {client.pk} {client.name!r}: {_permissions_text(client.permissions)}")

    @transaction.atomic
    def _revoke(self, opts: dict[str, Any]) -> None:
        client = _client(opts["id"], lock=True)
        if client.revoked_at is not None:
            self.stdout.write(f"API client {client.pk} was already revoked at {client.revoked_at:%Y-%m-%d %H:%M} UTC")
            return
        api_client_revoke(actor=_cli_actor(), client=client, reason=opts["reason"])
        self.stdout.write(self.style.SUCCESS(f"revoked API client {client.pk} {client.name!r}"))


def _client(raw_id: object, *, lock: bool = False) -> ApiClient:
    raw = str(raw_id).strip()
    qs = ApiClient.objects.select_for_update() if lock else ApiClient.objects.all()
    client = qs.filter(pk=int(raw)).first() if raw.isdigit() and len(raw) < 19 else None
    if client is None:
        raise CommandError(f"id: no API client with id {raw!r} (see `hufen apiclient list`)")
    return client


def _lookup(model: type[Brand] | type[Dealer], flag: str, code: str | None) -> Any:
    if code is None:
        return None
    if not code.strip():
        raise CommandError(f"{flag}: is empty")
    obj = model.objects.filter(code=code.strip()).first()
    if obj is None:
        known = ", ".join(model.objects.order_by("code").values_list("code", flat=True)[:20])
        raise CommandError(f"{flag}: no {model._meta.verbose_name} with code {code!r} (known: {known or 'none'})")
    return obj

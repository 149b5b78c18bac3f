"""Writes on the organisation: staff, grids and API clients."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from hufen.common.actors import ROLE_PERMISSIONS, Actor, Role
from hufen.common.audit import audit
from hufen.common.errors import PermissionDenied
from hufen.common.pii import FieldError, normalize_cn_mobile
from hufen.org.models import ApiClient, Brand, Dealer, Region, Staff

TOKEN_PREFIX = "hf_"


def _require(actor: Actor, perm: str) -> None:
    if not actor.has_perm(perm):
        raise PermissionDenied(f"{actor.label} may not {perm}")


@transaction.atomic
def staff_create(
    *,
    actor: Actor,
    username: str,
    password: str,
    name: str,
    role: Role,
    phone: str = "",
    region: Region | None = None,
    dealer: Dealer | None = None,
    brands: list[Brand] | None = None,
) -> Staff:
    _require(actor, "org.manage")
    if role in (Role.DEALER_MANAGER, Role.BUTLER) and dealer is None:
        raise FieldError("dealer", f"a {role.value} must belong to a dealer")
    if role == Role.REGION_MANAGER and region is None:
        raise FieldError("region", "a region manager must have a region")
    if role in (Role.API_CLIENT, Role.SYSTEM):
        raise FieldError("role", f"{role.value} is not a staff role")
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise FieldError("username", f"{username!r} is taken")
    user = User.objects.create_user(username=username, password=password)
    staff = Staff.objects.create(
        user=user,
        name=name,
        phone=normalize_cn_mobile(phone) if phone else "",
        role=role.value,
        region=region,
        dealer=dealer,
    )
    if brands:
        staff.brands.set(brands)
    audit(
        actor=actor,
        action="staff.create",
        obj_type="staff",
        obj_id=staff.pk,
        summary={"username": username, "role": role.value, "dealer": dealer.code if dealer else None},
    )
    return staff


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_client_grantable() -> frozenset[str]:
    """The permissions a client's set may name: those of the API-client role."""
    return ROLE_PERMISSIONS[Role.API_CLIENT]


def api_client_permission_list(permissions: Iterable[str]) -> list[str]:
    """A checked, sorted, duplicate-free permission list; an unknown code is an error naming it."""
    grantable = api_client_grantable()
    wanted = {str(p).strip() for p in permissions if str(p).strip()}
    unknown = sorted(wanted - grantable)
    if unknown:
        raise FieldError(
            "permissions",
            f"{', '.join(unknown)} cannot be granted to an API client (choose from {', '.join(sorted(grantable))})",
        )
    return sorted(wanted)


@transaction.atomic
def api_client_create(
    *,
    actor: Actor,
    name: str,
    brand: Brand | None = None,
    dealer: Dealer | None = None,
    expires_at: dt.datetime | None = None,
    permissions: Iterable[str] | None = None,
) -> tuple[ApiClient, str]:
    """Create an integration's credentials; the clear token is returned once and never stored.

    `permissions` None gives the client every permission of the API-client role; a list limits it
    to those (an empty list: a client that can authenticate but do nothing).
    """
    _require(actor, "api_clients.manage")
    if (brand is None) == (dealer is None):
        raise FieldError("scope", "an API client is scoped to exactly one brand or one dealer")
    granted = None if permissions is None else api_client_permission_list(permissions)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient.objects.create(
        name=name,
        token_prefix=token[:10],
        token_hash=_hash_token(token),
        brand=brand,
        dealer=dealer,
        expires_at=expires_at,
        created_by_id=actor.staff_id,
        permissions=granted,
    )
    audit(
        actor=actor,
        action="api_client.create",
        obj_type="api_client",
        obj_id=client.pk,
        summary={
            "name": name,
            "brand": brand.code if brand else None,
            "dealer": dealer.code if dealer else None,
            "permissions": granted,
        },
    )
    return client, token


@transaction.atomic
def api_client_set_permissions(
    *, actor: Actor, client: ApiClient, permissions: Iterable[str] | None, reason: str = ""
) -> ApiClient:
    """Replace the client's permission set (None: back to every permission of its role). Audited."""
    _require(actor, "api_clients.manage")
    granted = None if permissions is None else api_client_permission_list(permissions)
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    if client.revoked_at is not None:
        raise FieldError("client", f"API client {client.pk} is revoked; create a new one instead")
    before = client.permissions
    if before == granted:
        return client
    client.permissions = granted
    client.save(update_fields=["permissions"])
    _token_cache_forget(client.pk)
    audit(
        actor=actor,
        action="api_client.permissions",
        obj_type="api_client",
        obj_id=client.pk,
        summary={"before": before, "after": granted},
        reason=reason,
    )
    return client


@transaction.atomic
def api_client_revoke(*, actor: Actor, client: ApiClient, reason: str = "") -> ApiClient:
    _require(actor, "api_clients.manage")
    # Re-read under a row lock: two revokes at once (a double-click) write one audit row, not two.
    client = ApiClient.objects.select_for_update().get(pk=client.pk)
    if client.revoked_at is None:
        client.revoked_at = timezone.now()
        client.save(update_fields=["revoked_at"])
        audit(actor=actor, action="api_client.revoke", obj_type="api_client", obj_id=client.pk, reason=reason)
        _token_cache_forget(client.pk)
    return client


def api_client_authenticate(token: str) -> ApiClient | None:
    """The live client for a bearer token, or None (unknown, revoked or expired)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    client = ApiClient.objects.select_related("brand", "dealer").filter(token_hash=_hash_token(token)).first()
    now = timezone.now()
    if client is None or client.revoked_at is not None or (client.expires_at and client.expires_at <= now):
        return None
    if client.last_used_at is None or now - client.last_used_at > dt.timedelta(minutes=5):
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
    return client


# --- the bearer-token lookup, cached for a few seconds ------------------------------------------------
# Every API request authenticates; at Member Day rates the token lookup (and its actor) would be a
# query per request. The actor is kept per process for `HUFEN_API_TOKEN_CACHE_SECONDS` (default 5),
# keyed by the token's hash. Revoking a client or changing its permissions drops its entries in this
# process at once (and again on commit); other processes see the change within the TTL. An expiry
# date is checked on every hit.

_TOKEN_CACHE: dict[str, tuple[float, int, dt.datetime | None, Actor]] = {}
_TOKEN_CACHE_LOCK = threading.Lock()
_TOKEN_CACHE_MAX = 10_000


def _token_cache_ttl() -> float:
    return float(getattr(settings, "HUFEN_API_TOKEN_CACHE_SECONDS", 5))


def _token_cache_forget(client_id: int) -> None:
    def forget() -> None:
        with _TOKEN_CACHE_LOCK:
            for digest in [d for d, (_, cid, _, _) in _TOKEN_CACHE.items() if cid == client_id]:
                _TOKEN_CACHE.pop(digest, None)

    forget()
    transaction.on_commit(forget)


def api_client_actor(token: str) -> Actor | None:
    """The actor of a live API client's bearer token (None: unknown, revoked or expired), cached."""
    from hufen.org.selectors import actor_for_api_client

    ttl = _token_cache_ttl()
    digest = _hash_token(token)
    now = time.monotonic()
    hit = _TOKEN_CACHE.get(digest) if ttl > 0 else None
    if hit is not None:
        deadline, _, expires_at, actor = hit
        if now < deadline and (expires_at is None or expires_at > timezone.now()):
            return actor
    client = api_client_authenticate(token)
    if client is None:
        _TOKEN_CACHE.pop(digest, None)
        return None
    actor = actor_for_api_client(client)
    if ttl > 0:
        with _TOKEN_CACHE_LOCK:
            if len(_TOKEN_CACHE) >= _TOKEN_CACHE_MAX:
                _TOKEN_CACHE.clear()
            _TOKEN_CACHE[digest] = (now + ttl, client.pk, client.expires_at, actor)
    return actor

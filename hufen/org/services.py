"""Writes on the organisation: staff, grids and API clients."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from hufen.common.actors import Actor, Role
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


@transaction.atomic
def api_client_create(
    *,
    actor: Actor,
    name: str,
    brand: Brand | None = None,
    dealer: Dealer | None = None,
    expires_at: dt.datetime | None = None,
) -> tuple[ApiClient, str]:
    """Create an integration's credentials; the clear token is returned once and never stored."""
    _require(actor, "api_clients.manage")
    if (brand is None) == (dealer is None):
        raise FieldError("scope", "an API client is scoped to exactly one brand or one dealer")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient.objects.create(
        name=name,
        token_prefix=token[:10],
        token_hash=_hash_token(token),
        brand=brand,
        dealer=dealer,
        expires_at=expires_at,
        created_by_id=actor.staff_id,
    )
    audit(
        actor=actor,
        action="api_client.create",
        obj_type="api_client",
        obj_id=client.pk,
        summary={"name": name, "brand": brand.code if brand else None, "dealer": dealer.code if dealer else None},
    )
    return client, token


@transaction.atomic
def api_client_revoke(*, actor: Actor, client: ApiClient, reason: str = "") -> ApiClient:
    _require(actor, "api_clients.manage")
    if client.revoked_at is None:
        client.revoked_at = timezone.now()
        client.save(update_fields=["revoked_at"])
        audit(actor=actor, action="api_client.revoke", obj_type="api_client", obj_id=client.pk, reason=reason)
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

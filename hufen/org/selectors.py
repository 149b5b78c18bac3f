"""Reads on the organisation, and turning a login or a token into an `Actor`."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from hufen.common.actors import Actor, Role, Scope
from hufen.common.errors import NotFound, PermissionDenied
from hufen.org.models import ApiClient, Brand, Dealer, Staff
from hufen.people.querysets import dealer_queryset_for


def actor_for_staff(staff: Staff) -> Actor:
    brand_ids = frozenset(b.pk for b in staff.brands.all())
    return Actor(
        kind="staff",
        role=Role(staff.role),
        label=f"{staff.name}<{staff.user.username}>",
        staff_id=staff.pk,
        user_id=staff.user_id,
        brand_ids=brand_ids,
        region_id=staff.region_id,
        dealer_id=staff.dealer_id,
    )


def actor_for_user(user: Any) -> Actor | None:
    """The actor behind a logged-in Django user, or None if the user is not active staff."""
    if not getattr(user, "is_authenticated", False):
        return None
    staff = Staff.objects.select_related("user").prefetch_related("brands").filter(user=user).first()
    if staff is None or not staff.is_active or not user.is_active:
        return None
    return actor_for_staff(staff)


def api_client_permissions(client: ApiClient) -> frozenset[str] | None:
    """The client's permission set, or None when it holds every permission of its role."""
    if client.permissions is None:
        return None
    return frozenset(str(p) for p in client.permissions)


def actor_for_api_client(client: ApiClient) -> Actor:
    """The actor of an integration: its role's permissions, cut down to the client's own set if it has one."""
    return Actor(
        kind="api_client",
        role=Role.API_CLIENT,
        label=f"api:{client.name}",
        api_client_id=client.pk,
        brand_ids=frozenset({client.brand_id}) if client.brand_id else frozenset(),
        dealer_id=client.dealer_id,
        permission_limit=api_client_permissions(client),
    )


def dealer_list(*, actor: Actor, query: str = "", region_code: str = "") -> QuerySet[Dealer]:
    qs = dealer_queryset_for(actor).select_related("region").prefetch_related("brands")
    if query:
        qs = qs.filter(Q(code__icontains=query) | Q(name__icontains=query) | Q(city__icontains=query))
    if region_code:
        qs = qs.filter(region__code=region_code)
    return qs.order_by("code")


def dealer_get(*, actor: Actor, code: str) -> Dealer | None:
    return dealer_list(actor=actor).filter(code=code).first()


def dealer_staff_counts(*, actor: Actor, dealer: Dealer) -> dict[str, int]:
    rows = Staff.objects.filter(dealer=dealer, is_active=True).values("role").annotate(n=Count("id"))
    return {r["role"]: r["n"] for r in rows}


# --- API clients: only whoever may manage them reads them (the list shows scopes and usage) ----------


def _require_api_clients_manage(actor: Actor) -> None:
    if not actor.has_perm("api_clients.manage"):
        raise PermissionDenied(f"{actor.label} may not api_clients.manage")


def api_client_list(*, actor: Actor) -> QuerySet[ApiClient]:
    """Every API client (never a token, only its prefix), newest first, with scope and creator."""
    _require_api_clients_manage(actor)
    return ApiClient.objects.select_related("brand", "dealer", "created_by").order_by("-id")


def api_client_get(*, actor: Actor, client_id: int) -> ApiClient:
    client = api_client_list(actor=actor).filter(pk=client_id).first()
    if client is None:
        raise NotFound(f"API client {client_id} does not exist")
    return client


def api_client_scope_choices(*, actor: Actor) -> tuple[list[Brand], list[Dealer]]:
    """The brands and dealers a new client may be scoped to: those the actor sees."""
    _require_api_clients_manage(actor)
    dealers = list(dealer_queryset_for(actor).order_by("code"))
    brands = list(Brand.objects.order_by("code")) if actor.scope == Scope.ALL else []
    return brands, dealers

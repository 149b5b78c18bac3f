"""Reads on partners, and turning a merchant operator's login into an `Actor`."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from hufen.common.actors import Actor, Role, Scope
from hufen.common.errors import NotFound
from hufen.org.models import Staff
from hufen.org.selectors import actor_for_staff
from hufen.partners.models import Coupon, CouponBatch, Merchant, MerchantOperator, Offer, PerkRedemption
from hufen.people.querysets import dealer_queryset_for


def actor_for_merchant_operator(staff: Staff) -> Actor:
    """A merchant operator acts for the one merchant its login is linked to (none: no merchant_id)."""
    base = actor_for_staff(staff)
    if base.role != Role.MERCHANT_OPERATOR:
        return base
    link = MerchantOperator.objects.filter(staff=staff).only("merchant_id").first()
    return Actor(
        kind=base.kind,
        role=base.role,
        label=base.label,
        staff_id=base.staff_id,
        user_id=base.user_id,
        brand_ids=base.brand_ids,
        merchant_id=link.merchant_id if link else None,
    )


def merchant_actor_for_user(user: Any) -> Actor | None:
    """The actor behind a logged-in user of the merchant page: an active merchant operator, or None."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    staff = Staff.objects.select_related("user").prefetch_related("brands").filter(user=user).first()
    if staff is None or not staff.is_active or staff.role != Role.MERCHANT_OPERATOR:
        return None
    return actor_for_merchant_operator(staff)


# --- merchants and redemptions, scoped to the actor ------------------------------------------------


def merchants_visible_to(actor: Actor) -> QuerySet[Merchant]:
    """HQ all; region/dealer staff the merchants their dealers review; brand clients their brands'
    merchants; an operator its own merchant; a member the applications they made."""
    qs = Merchant.objects.all()
    scope = actor.scope
    if scope == Scope.ALL:
        return qs
    if actor.role == Role.MERCHANT_OPERATOR:
        return qs.filter(pk=actor.merchant_id) if actor.merchant_id else qs.none()
    if scope in (Scope.REGION, Scope.DEALER):
        return qs.filter(review_dealer_id__in=dealer_queryset_for(actor).values("id"))
    if scope == Scope.BRAND:
        return qs.filter(brands__in=actor.brand_ids).distinct()
    if scope == Scope.SELF:
        return qs.filter(applicant_id=actor.person_id)
    return qs.none()


def merchant_get(*, actor: Actor, merchant_id: int) -> Merchant:
    merchant = merchants_visible_to(actor).filter(pk=merchant_id).first()
    if merchant is None:
        raise NotFound(f"merchant {merchant_id} does not exist or is outside your scope")
    return merchant


def redemptions_visible_to(actor: Actor) -> QuerySet[PerkRedemption]:
    """A merchant sees only its own redemptions, a member only their own, staff through merchants."""
    qs = PerkRedemption.objects.all()
    if actor.role == Role.MERCHANT_OPERATOR:
        return qs.filter(merchant_id=actor.merchant_id) if actor.merchant_id else qs.none()
    if actor.role == Role.MEMBER:
        return qs.filter(person_id=actor.person_id) if actor.person_id else qs.none()
    if actor.scope == Scope.ALL:
        return qs
    return qs.filter(merchant__in=merchants_visible_to(actor))


def merchant_redemptions(*, actor: Actor) -> QuerySet[PerkRedemption]:
    return (
        redemptions_visible_to(actor)
        .select_related("offer", "merchant", "vehicle__model", "person")
        .order_by("-created_at")
    )


def active_merchants(
    *, city: str = "", scenario: str = "", brand_ids: frozenset[int] | None = None
) -> QuerySet[Merchant]:
    """Merchants an owner can visit: public shop data only (no applicant)."""
    qs = Merchant.objects.filter(status="active")
    if city:
        qs = qs.filter(city=city)
    if scenario:
        qs = qs.filter(scenario=scenario)
    if brand_ids:
        qs = qs.filter(brands__in=brand_ids).distinct()
    return qs


@dataclass(frozen=True)
class PerkShop:
    merchant: Merchant
    offers: list[Offer]
    distance_km: float | None


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine) in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def perk_shops(
    *,
    actor: Actor,
    city: str = "",
    scenario: str = "",
    near: tuple[float, float] | None = None,
    now: dt.datetime | None = None,
) -> list[PerkShop]:
    """Active merchants serving the member's brand with their live offers; nearest first when the
    owner shared a location, else by city and name."""
    now = now or timezone.now()
    live = Offer.objects.filter(active=True, valid_from__lte=now, valid_until__gt=now).order_by("id")
    qs = active_merchants(city=city, scenario=scenario, brand_ids=actor.brand_ids or None).prefetch_related(
        Prefetch("offers", queryset=live, to_attr="live_offers")
    )
    shops = [
        PerkShop(
            merchant=m,
            offers=list(m.live_offers),
            distance_km=(
                round(distance_km(near[0], near[1], float(m.latitude), float(m.longitude)), 1) if near else None
            ),
        )
        for m in qs.order_by("city", "name")
    ]
    if near:
        shops.sort(key=lambda s: s.distance_km or 0.0)
    return shops


def perk_cities(*, actor: Actor) -> list[str]:
    qs = active_merchants(brand_ids=actor.brand_ids or None)
    return sorted(set(qs.values_list("city", flat=True)))


def my_coupons(*, actor: Actor) -> QuerySet[Coupon]:
    """A member's own coupons (issued or used), newest first."""
    if actor.role != Role.MEMBER or actor.person_id is None:
        return Coupon.objects.none()
    return (
        Coupon.objects.filter(person_id=actor.person_id, status__in=("issued", "redeemed"))
        .select_related("batch", "merchant")
        .order_by("-issued_at", "-id")
    )


def exchangeable_batches(*, actor: Actor, now: dt.datetime | None = None) -> list[CouponBatch]:
    """Coupon batches of the member's brand that points can buy now and that still have stock."""
    if actor.role != Role.MEMBER or not actor.brand_ids:
        return []
    now = now or timezone.now()
    qs = (
        CouponBatch.objects.filter(
            brand_id__in=actor.brand_ids,
            points_price__isnull=False,
            valid_from__lte=now,
            valid_until__gt=now,
            merchant__status="active",
            coupons__status="available",
        )
        .select_related("merchant")
        .distinct()
        .order_by("points_price", "id")
    )
    return list(qs)

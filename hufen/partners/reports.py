"""Value reports: what owners actually received, per merchant, per city and scenario, and the
brand's monthly value created for owners (perks given + coupon face value redeemed).

Months are the brand's: a perk counts in the month of its `local_day` (brand time zone), a coupon
in the month its redemption falls in the batch brand's time zone. Disputed perks still count until
voided; voided ones never do.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet, Sum

from hufen.common.actors import Actor, Role
from hufen.common.errors import FieldError, PermissionDenied
from hufen.org.models import Brand
from hufen.partners.coupons import month_bounds
from hufen.partners.models import Coupon, Merchant, PerkRedemption
from hufen.partners.selectors import merchants_visible_to

COUNTED = ("recorded", "disputed")


@dataclass(frozen=True)
class ValueRow:
    key: str  # merchant name, city, or scenario code
    merchant_id: int | None
    visits: int  # perk redemptions (each is one visit with the car key)
    unique_owners: int
    repeat_owners: int
    perk_value_fen: int
    coupons_redeemed: int
    coupon_value_fen: int

    @property
    def value_fen(self) -> int:
        return self.perk_value_fen + self.coupon_value_fen

    @property
    def repeat_rate(self) -> float:
        return round(self.repeat_owners / self.unique_owners, 4) if self.unique_owners else 0.0


def _require(actor: Actor) -> None:
    if actor.role in (Role.MEMBER, Role.BUTLER) or (actor.role == Role.API_CLIENT and not actor.brand_ids):
        raise PermissionDenied("value reports are for HQ, regions, dealers and merchants")


def _perks(actor: Actor, month: str, brand: Brand | None) -> QuerySet[PerkRedemption]:
    if brand is None:
        # Without a brand, "the month" is read in Asia/Shanghai (every brand of the group today).
        start, end = month_bounds(month, "Asia/Shanghai")
    else:
        start, end = month_bounds(month, brand.time_zone)
    qs = PerkRedemption.objects.filter(
        merchant__in=merchants_visible_to(actor),
        status__in=COUNTED,
        local_day__gte=start.date(),
        local_day__lt=end.date(),
    )
    return qs.filter(brand=brand) if brand is not None else qs


def _coupons(actor: Actor, month: str, brand: Brand | None) -> QuerySet[Coupon]:
    tz = brand.time_zone if brand is not None else "Asia/Shanghai"
    start, end = month_bounds(month, tz)
    qs = Coupon.objects.filter(
        merchant__in=merchants_visible_to(actor), status="redeemed", redeemed_at__gte=start, redeemed_at__lt=end
    )
    return qs.filter(batch__brand=brand) if brand is not None else qs


def _rows(actor: Actor, month: str, brand: Brand | None, field: str) -> list[ValueRow]:
    """Aggregates grouped by a merchant field: `merchant_id`, `merchant__city` or `merchant__scenario`."""
    perks = _perks(actor, month, brand)
    totals = {
        r[field]: r
        for r in perks.values(field).annotate(
            visits=Count("id"), owners=Count("person_id", distinct=True), value=Sum("value_fen")
        )
    }
    per_owner = perks.values(field, "person_id").annotate(n=Count("id")).filter(n__gte=2)
    repeats: dict[object, int] = {}
    for r in per_owner:
        repeats[r[field]] = repeats.get(r[field], 0) + 1
    coupons = {
        r[field]: r
        for r in _coupons(actor, month, brand).values(field).annotate(n=Count("id"), value=Sum("batch__value_fen"))
    }
    names: dict[object, str] = {}
    if field == "merchant_id":
        names = dict(Merchant.objects.filter(pk__in=set(totals) | set(coupons)).values_list("id", "name"))
    rows = []
    for key in set(totals) | set(coupons):
        t, c = totals.get(key, {}), coupons.get(key, {})
        rows.append(
            ValueRow(
                key=names.get(key, str(key)),
                merchant_id=key if field == "merchant_id" and isinstance(key, int) else None,
                visits=int(t.get("visits") or 0),
                unique_owners=int(t.get("owners") or 0),
                repeat_owners=repeats.get(key, 0),
                perk_value_fen=int(t.get("value") or 0),
                coupons_redeemed=int(c.get("n") or 0),
                coupon_value_fen=int(c.get("value") or 0),
            )
        )
    return sorted(rows, key=lambda r: (-r.value_fen, r.key))


GROUPS = {"merchant": "merchant_id", "city": "merchant__city", "scenario": "merchant__scenario"}


def value_report(*, actor: Actor, month: str, by: str, brand: Brand | None = None) -> list[ValueRow]:
    """Value created for owners in a month, grouped by merchant, city or scenario, biggest first."""
    _require(actor)
    if by not in GROUPS:
        raise FieldError("by", f"{by!r} must be one of {sorted(GROUPS)}")
    return _rows(actor, month, brand, GROUPS[by])


@dataclass(frozen=True)
class BrandValue:
    brand: str
    brand_name: str
    month: str
    perk_value_fen: int
    coupon_value_fen: int
    visits: int
    owners: int

    @property
    def value_fen(self) -> int:
        return self.perk_value_fen + self.coupon_value_fen


def brand_monthly_value(*, actor: Actor, brand: Brand, month: str) -> BrandValue:
    """The brand's value created for its owners in a month: the figure the KPI capability targets."""
    _require(actor)
    perks = _perks(actor, month, brand).aggregate(
        value=Sum("value_fen"), visits=Count("id"), owners=Count("person_id", distinct=True)
    )
    coupons = _coupons(actor, month, brand).aggregate(value=Sum("batch__value_fen"))
    coupon_owners = set(_coupons(actor, month, brand).values_list("person_id", flat=True))
    perk_owners = set(_perks(actor, month, brand).values_list("person_id", flat=True))
    return BrandValue(
        brand=brand.code,
        brand_name=brand.name,
        month=month,
        perk_value_fen=int(perks["value"] or 0),
        coupon_value_fen=int(coupons["value"] or 0),
        visits=int(perks["visits"] or 0),
        owners=len((perk_owners | coupon_owners) - {None}),
    )

"""Offers and perk redemptions: what a merchant gives an owner who shows the car key.

Caps per owner count days and months in the brand's time zone. A redemption locks the car key and
then the offer row, so per-owner caps and the total budget hold under concurrent redemptions, and a
retried form (same idempotency key) returns the first redemption.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from hufen.common.actors import SYSTEM, Actor, Role
from hufen.common.audit import audit
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.events import publish
from hufen.membership.selectors import members_visible_to
from hufen.partners.carkey import merchant_for_operator
from hufen.partners.models import CarKeyCode, Merchant, MerchantVisitor, Offer, PerkRedemption
from hufen.partners.services import can_review
from hufen.people.models import Ownership, VehicleModel

# A verified car key stays open for recording a perk this long (the owner is at the counter).
VERIFIED_KEY_SECONDS = 600
DISPUTE_HOURS = 24
MAX_BILL_FEN = 100_000_000  # 1,000,000 yuan: anything above is a typing error
COUNTED = ("recorded", "disputed")


# --- creating offers ----------------------------------------------------------------------------


def _opt_int(data: dict[str, Any], field: str, *, low: int = 0, high: int | None = None) -> int | None:
    raw = data.get(field)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise FieldError(field, _("%(value)s is not a whole number") % {"value": repr(raw)}, raw) from exc
    if isinstance(raw, float) and raw != value:
        raise FieldError(field, _("%(value)s is not a whole number") % {"value": repr(raw)}, raw)
    if value < low or (high is not None and value > high):
        limit = f"{low}..{high}" if high is not None else f">= {low}"
        raise FieldError(field, _("%(value)s is out of range (%(limit)s)") % {"value": value, "limit": limit}, raw)
    return value


def _when(data: dict[str, Any], field: str) -> dt.datetime:
    raw = data.get(field)
    value = raw if isinstance(raw, dt.datetime) else parse_datetime(str(raw or ""))
    if value is None:
        raise FieldError(field, _("%(value)s is not a date-time") % {"value": repr(raw)}, raw)
    if timezone.is_naive(value):
        raise FieldError(field, _("needs a time zone (e.g. +08:00)"), raw)
    return value


def _clean_offer(merchant: Merchant, data: dict[str, Any]) -> dict[str, Any]:
    title = str(data.get("title") or "").strip()
    if not title or len(title) > 80:
        raise FieldError("title", _("is required (at most 80 characters)"))
    kind = str(data.get("kind") or "")
    if kind not in {k for k, _ in Offer.KIND_CHOICES}:
        raise FieldError("kind", _("%(value)s must be percent, fixed or free_item") % {"value": repr(kind)}, kind)
    c: dict[str, Any] = {
        "title": title,
        "kind": kind,
        "percent_off": _opt_int(data, "percent_off", low=1, high=99),
        "amount_fen": _opt_int(data, "amount_fen", low=1),
        "min_bill_fen": _opt_int(data, "min_bill_fen") or 0,
        "max_discount_fen": _opt_int(data, "max_discount_fen", low=1),
        "item_name": str(data.get("item_name") or "").strip()[:60],
        "item_value_fen": _opt_int(data, "item_value_fen", low=1),
        "min_tier_rank": _opt_int(data, "min_tier_rank", high=20),
        "series": str(data.get("series") or "").strip(),
        "first_visit_only": bool(data.get("first_visit_only")),
        "per_owner_per_day": _opt_int(data, "per_owner_per_day", low=1),
        "per_owner_per_month": _opt_int(data, "per_owner_per_month", low=1),
        "budget_count": _opt_int(data, "budget_count", low=1),
        "budget_fen": _opt_int(data, "budget_fen", low=1),
        "valid_from": _when(data, "valid_from"),
        "valid_until": _when(data, "valid_until"),
    }
    # The value fields must match the kind: anything else is a contradiction, not a default.
    if kind == "percent":
        if c["percent_off"] is None:
            raise FieldError("percent_off", _("a percentage offer needs percent_off (1-99)"))
        if c["amount_fen"] is not None or c["item_name"] or c["item_value_fen"] is not None:
            raise FieldError("amount_fen", _("a percentage offer cannot also give a fixed amount or a free item"))
    elif kind == "fixed":
        if c["amount_fen"] is None:
            raise FieldError("amount_fen", _("a fixed-amount offer needs amount_fen"))
        if c["percent_off"] is not None or c["max_discount_fen"] is not None or c["item_name"]:
            raise FieldError("percent_off", _("a fixed-amount offer cannot also have a percentage or a free item"))
        if c["budget_fen"] is not None and c["budget_fen"] < c["amount_fen"]:
            raise FieldError("budget_fen", _("the budget cannot pay for a single redemption of this offer"))
    else:
        if not c["item_name"] or c["item_value_fen"] is None:
            raise FieldError("item_name", _("a free-item offer needs item_name and item_value_fen"))
        if c["percent_off"] is not None or c["amount_fen"] is not None or c["max_discount_fen"] is not None:
            raise FieldError("amount_fen", _("a free-item offer cannot also give a discount"))
        if c["budget_fen"] is not None and c["budget_fen"] < c["item_value_fen"]:
            raise FieldError("budget_fen", _("the budget cannot pay for a single free item"))
    if c["valid_until"] <= c["valid_from"]:
        raise FieldError("valid_until", _("must be after valid_from"))
    day, month = c["per_owner_per_day"], c["per_owner_per_month"]
    if day is not None and month is not None and day > month:
        message = _("a daily cap of %(day)d exceeds the monthly cap of %(month)d")
        raise FieldError("per_owner_per_day", message % {"day": day, "month": month})
    if c["first_visit_only"] and ((day or 1) > 1 or (month or 1) > 1):
        message = _("a first-visit-only offer is once per owner: caps above 1 contradict it")
        raise FieldError("first_visit_only", message)
    brand_ids = {b.pk for b in merchant.brands.all()}
    brand_id = _opt_int(data, "brand_id", low=1)
    if brand_id is not None and brand_id not in brand_ids:
        raise FieldError("brand_id", _("the offer's brand is not one this merchant serves"))
    c["brand_id"] = brand_id
    if c["series"]:
        series_brands = set(
            VehicleModel.objects.filter(series=c["series"]).values_list("brand_id", flat=True).distinct()
        )
        if not series_brands:
            message = _("%(value)s is not a known car series")
            raise FieldError("series", message % {"value": repr(c["series"])}, c["series"])
        if brand_id is not None and brand_id not in series_brands:
            message = _("%(value)s is not a series of the offer's brand")
            raise FieldError("series", message % {"value": repr(c["series"])}, c["series"])
        if not series_brands & brand_ids:
            message = _("%(value)s belongs to a brand this merchant does not serve")
            raise FieldError("series", message % {"value": repr(c["series"])})
    return c


@transaction.atomic
def offer_create(*, actor: Actor, merchant: Merchant, data: dict[str, Any]) -> Offer:
    own = actor.role == Role.MERCHANT_OPERATOR and actor.merchant_id == merchant.pk
    if not (own or can_review(actor, merchant)):
        raise PermissionDenied("only the merchant, its dealer or HQ may create its offers")
    merchant = Merchant.objects.get(pk=merchant.pk)
    if merchant.status != "active":
        raise FieldError("merchant", f"merchant {merchant.name} is {merchant.status}, not active")
    offer = Offer.objects.create(merchant=merchant, **_clean_offer(merchant, data))
    audit(
        actor=actor,
        action="offer.created",
        obj_type="offer",
        obj_id=offer.pk,
        summary={"merchant_id": merchant.pk, "title": offer.title, "kind": offer.kind},
    )
    publish("offer_created", properties={"offer_id": offer.pk, "merchant_id": merchant.pk, "kind": offer.kind})
    return offer


# --- who may have which offer -------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerFacts:
    person_id: int
    member_id: int | None
    vehicle_id: int
    brand_id: int
    series: str
    tier_rank: int | None
    time_zone: str


@dataclass(frozen=True)
class OfferCheck:
    offer: Offer
    ok: bool
    reason: str  # why not, for the merchant to read out


def owner_facts(key: CarKeyCode) -> OwnerFacts:
    ownership = Ownership.objects.select_related("vehicle__model__brand").get(
        person_id=key.person_id, vehicle_id=key.vehicle_id, ended_at__isnull=True
    )
    rank = None
    if key.member_id is not None:
        member = members_visible_to(SYSTEM).filter(pk=key.member_id, status="active").select_related("tier").first()
        rank = member.tier.rank if member else None
    model = ownership.vehicle.model
    return OwnerFacts(
        person_id=key.person_id,
        member_id=key.member_id,
        vehicle_id=key.vehicle_id,
        brand_id=model.brand_id,
        series=model.series,
        tier_rank=rank,
        time_zone=model.brand.time_zone,
    )


def local_day(now: dt.datetime, time_zone: str) -> dt.date:
    return now.astimezone(zoneinfo.ZoneInfo(time_zone)).date()


def _check(offer: Offer, facts: OwnerFacts, now: dt.datetime) -> str:
    """Why this owner cannot have this offer now ("" when they can, budget by value aside)."""
    if not offer.active or not offer.valid_from <= now < offer.valid_until:
        return "优惠不在有效期内"
    if offer.brand_id is not None and offer.brand_id != facts.brand_id:
        return "限指定品牌车主"
    if offer.series and offer.series != facts.series:
        return f"限 {offer.series} 车主"
    if offer.min_tier_rank is not None:
        if facts.tier_rank is None:
            return "限会员车主"
        if facts.tier_rank < offer.min_tier_rank:
            return "会员等级不足"
    mine = PerkRedemption.objects.filter(person_id=facts.person_id, status__in=COUNTED)
    if offer.first_visit_only and mine.filter(merchant_id=offer.merchant_id).exists():
        return "仅限首次到店"
    day = local_day(now, facts.time_zone)
    cap = offer.per_owner_per_day
    if cap is not None and mine.filter(offer=offer, local_day=day).count() >= cap:
        return "今日次数已用完"
    if offer.per_owner_per_month is not None:
        month = mine.filter(offer=offer, local_day__year=day.year, local_day__month=day.month)
        if month.count() >= offer.per_owner_per_month:
            return "本月次数已用完"
    if offer.budget_count is not None and offer.used_count >= offer.budget_count:
        return "优惠名额已发完"
    if offer.budget_fen is not None and offer.used_fen >= offer.budget_fen:
        return "优惠预算已用完"
    return ""


def perk_value(offer: Offer, bill_fen: int) -> int:
    if offer.kind == "percent":
        value = bill_fen * (offer.percent_off or 0) // 100
        return min(value, offer.max_discount_fen) if offer.max_discount_fen is not None else value
    if offer.kind == "fixed":
        return min(offer.amount_fen or 0, bill_fen)
    return offer.item_value_fen or 0


def verified_key(merchant: Merchant, key_id: int, now: dt.datetime, *, lock: bool = False) -> CarKeyCode:
    qs = CarKeyCode.objects.select_for_update() if lock else CarKeyCode.objects.all()
    key = qs.filter(pk=key_id, used_by=merchant).first()
    if key is None or key.used_at is None:
        raise NotFound(f"car key {key_id} was not verified at this merchant")
    if now - key.used_at > dt.timedelta(seconds=VERIFIED_KEY_SECONDS):
        raise FieldError("key_id", "the verification has lapsed: ask the owner to show a fresh car key")
    return key


def offers_for_key(*, actor: Actor, key_id: int, now: dt.datetime | None = None) -> list[OfferCheck]:
    """The merchant's live offers for the owner behind a verified key, each with why (not)."""
    merchant = merchant_for_operator(actor)
    now = now or timezone.now()
    facts = owner_facts(verified_key(merchant, key_id, now))
    offers = Offer.objects.filter(merchant=merchant, active=True, valid_from__lte=now, valid_until__gt=now)
    checks = [OfferCheck(o, not (r := _check(o, facts, now)), r) for o in offers]
    return sorted(checks, key=lambda c: (not c.ok, c.offer.pk))


# --- redeeming ----------------------------------------------------------------------------------


def _lock_visitor(merchant: Merchant, person_id: int) -> None:
    """Serialise one owner's redemptions at one merchant (lock order: key, offer, visitor). Two
    first-visit offers of a merchant hold different offer locks, so without this both could see "no
    earlier visit" at the same time."""
    visitor, _ = MerchantVisitor.objects.get_or_create(merchant=merchant, person_id=person_id)
    MerchantVisitor.objects.select_for_update().filter(pk=visitor.pk).get()


@transaction.atomic
def perk_redeem(
    *,
    actor: Actor,
    key_id: int,
    offer_id: int,
    bill_fen: object,
    idempotency_key: str,
    now: dt.datetime | None = None,
) -> PerkRedemption:
    merchant = merchant_for_operator(actor)
    now = now or timezone.now()
    idempotency_key = (idempotency_key or "").strip()
    if not 8 <= len(idempotency_key) <= 80:
        raise FieldError("idempotency_key", "must be 8-80 characters")
    bill = _opt_int({"bill_fen": bill_fen}, "bill_fen", high=MAX_BILL_FEN)
    if bill is None:
        raise FieldError("bill_fen", "the bill amount is required")
    # The key lock serialises retries of the same form; the offer lock serialises caps and budget.
    key = CarKeyCode.objects.select_for_update().filter(pk=key_id, used_by=merchant).first()
    earlier = PerkRedemption.objects.filter(merchant=merchant, idempotency_key=idempotency_key).first()
    if earlier is not None:
        if (earlier.key_id, earlier.offer_id, earlier.bill_fen) != (key_id, offer_id, bill):
            raise FieldError("idempotency_key", "was already used for a different redemption")
        return earlier
    if key is None:
        raise NotFound(f"car key {key_id} was not verified at this merchant")
    key = verified_key(merchant, key_id, now)
    if PerkRedemption.objects.filter(key=key).exists():
        raise FieldError("key_id", "a perk was already recorded for this car key")
    offer = Offer.objects.select_for_update().filter(pk=offer_id, merchant=merchant).first()
    if offer is None:
        raise NotFound(f"offer {offer_id} is not an offer of this merchant")
    facts = owner_facts(key)
    _lock_visitor(merchant, facts.person_id)
    reason = _check(offer, facts, now)
    if reason:
        raise FieldError("offer_id", reason)
    if bill < offer.min_bill_fen:
        raise FieldError("bill_fen", f"the offer needs a bill of at least {offer.min_bill_fen} fen")
    value = perk_value(offer, bill)
    if offer.budget_fen is not None and offer.used_fen + value > offer.budget_fen:
        raise FieldError("offer_id", "优惠预算不足以支付本次优惠")
    redemption = PerkRedemption.objects.create(
        merchant=merchant,
        offer=offer,
        key=key,
        person_id=facts.person_id,
        member_id=facts.member_id,
        vehicle_id=facts.vehicle_id,
        brand_id=facts.brand_id,
        staff_id=actor.staff_id,
        bill_fen=bill,
        value_fen=value,
        local_day=local_day(now, facts.time_zone),
        idempotency_key=idempotency_key,
        created_at=now,
    )
    offer.used_count += 1
    offer.used_fen += value
    offer.save(update_fields=["used_count", "used_fen"])
    audit(
        actor=actor,
        action="offer.redeemed",
        obj_type="perk_redemption",
        obj_id=redemption.pk,
        summary={"offer_id": offer.pk, "merchant_id": merchant.pk, "bill_fen": bill, "value_fen": value},
    )
    publish(
        "offer_redeemed",
        person_id=facts.person_id,
        channel="merchant",
        ts=now,
        properties={
            "redemption_id": redemption.pk,
            "offer_id": offer.pk,
            "merchant_id": merchant.pk,
            "city": merchant.city,
            "scenario": merchant.scenario,
            "bill_fen": bill,
            "value_fen": value,
        },
    )
    return redemption


@transaction.atomic
def perk_dispute(*, actor: Actor, redemption_id: int, reason: str, now: dt.datetime | None = None) -> PerkRedemption:
    """The owner disputes a perk recorded in their name, within 24 hours."""
    if actor.role != Role.MEMBER or actor.person_id is None:
        raise PermissionDenied("only the owner can dispute a perk recorded in their name")
    now = now or timezone.now()
    redemption = PerkRedemption.objects.select_for_update().filter(pk=redemption_id, person_id=actor.person_id).first()
    if redemption is None:
        raise NotFound(f"perk {redemption_id} does not exist or is not yours")
    if redemption.status != "recorded":
        raise FieldError("status", f"this perk is already {redemption.status}")
    if now - redemption.created_at > dt.timedelta(hours=DISPUTE_HOURS):
        raise FieldError("redemption_id", "a perk can be disputed only within 24 hours")
    reason = reason.strip()
    if not reason:
        raise FieldError("reason", "tell us what is wrong with this perk")
    redemption.status = "disputed"
    redemption.dispute_reason = reason[:300]
    redemption.disputed_at = now
    redemption.save(update_fields=["status", "dispute_reason", "disputed_at"])
    audit(actor=actor, action="offer.disputed", obj_type="perk_redemption", obj_id=redemption.pk, reason=reason)
    publish(
        "offer_disputed",
        person_id=actor.person_id,
        channel="portal",
        properties={"redemption_id": redemption.pk, "merchant_id": redemption.merchant_id},
    )
    return redemption


@transaction.atomic
def perk_dispute_resolve(*, actor: Actor, redemption_id: int, void: bool, reason: str) -> PerkRedemption:
    """HQ or the merchant's dealer settles a dispute: void it (the value no longer counts) or uphold it."""
    redemption = PerkRedemption.objects.select_for_update().select_related("merchant").filter(pk=redemption_id).first()
    if redemption is None or not can_review(actor, redemption.merchant):
        raise NotFound(f"perk {redemption_id} does not exist or is outside your scope")
    if redemption.status != "disputed":
        raise FieldError("status", f"perk {redemption_id} is {redemption.status}, not disputed")
    if not reason.strip():
        raise FieldError("reason", "is required")
    redemption.status = "voided" if void else "recorded"
    redemption.save(update_fields=["status"])
    if void:
        Offer.objects.filter(pk=redemption.offer_id).update(
            used_count=F("used_count") - 1, used_fen=F("used_fen") - redemption.value_fen
        )
    audit(
        actor=actor,
        action="offer.dispute_voided" if void else "offer.dispute_upheld",
        obj_type="perk_redemption",
        obj_id=redemption.pk,
        reason=reason,
    )
    publish(
        "offer_redemption_voided" if void else "offer_dispute_rejected",
        person_id=redemption.person_id,
        properties={"redemption_id": redemption.pk, "merchant_id": redemption.merchant_id},
    )
    return redemption

"""Writes on merchants: a verified owner applies as a Territory Partner, the dealer or HQ reviews,
HQ enrols cross-industry partners, merchants are suspended and reinstated, operators get logins."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hufen.common.actors import Actor, Role
from hufen.common.audit import audit
from hufen.common.errors import FieldError, PermissionDenied
from hufen.common.events import publish
from hufen.org.models import Brand, Staff
from hufen.partners.models import Merchant, MerchantOperator
from hufen.partners.validation import (
    china_coordinates,
    normalize_credit_code,
    optional_text,
    required_text,
    scenario,
)
from hufen.people.models import Ownership, Person

HQ_ROLES = frozenset({Role.HQ_ADMIN, Role.HQ_OPERATOR, Role.SYSTEM})


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    """Validated merchant fields; a FieldError names the first bad field and nothing is written."""
    lat, lng = china_coordinates(data.get("latitude"), data.get("longitude"))
    photos = data.get("photos") or []
    if not isinstance(photos, list) or not all(isinstance(p, str) and p.startswith(("https://", "/")) for p in photos):
        raise FieldError("photos", _("must be a list of https:// or site-relative image URLs"), photos)
    cleaned = {
        "name": required_text(data, "name", 80),
        "legal_name": required_text(data, "legal_name", 120),
        "credit_code": normalize_credit_code(str(data.get("credit_code") or "")),
        "scenario": scenario(str(data.get("scenario") or "")),
        "province": optional_text(data, "province", 20),
        "city": required_text(data, "city", 30),
        "district": optional_text(data, "district", 30),
        "address": required_text(data, "address", 200),
        "opening_hours": optional_text(data, "opening_hours", 120),
        "phone": optional_text(data, "phone", 16),
        "latitude": lat,
        "longitude": lng,
        "photos": photos[:9],
    }
    if Merchant.objects.filter(credit_code=cleaned["credit_code"]).exclude(status="rejected").exists():
        message = _("%(code)s is already registered as a partner merchant")
        raise FieldError("credit_code", message % {"code": cleaned["credit_code"]})
    return cleaned


def _snapshot(m: Merchant) -> dict[str, Any]:
    return {"kind": m.kind, "name": m.name, "status": m.status, "city": m.city, "scenario": m.scenario}


@transaction.atomic
def merchant_apply(*, actor: Actor, data: dict[str, Any]) -> Merchant:
    """A verified owner (a ONE ID person with a current ownership) applies as a Territory Partner."""
    if actor.role != Role.MEMBER or actor.person_id is None:
        raise PermissionDenied("only an owner signed in to the portal can apply as a Territory Partner")
    person = Person.objects.visible_to(actor).filter(pk=actor.person_id, status="active").first()
    if person is None:
        raise PermissionDenied("the applicant is not an active person")
    ownership = (
        Ownership.objects.filter(person=person, ended_at__isnull=True)
        .select_related("vehicle__model")
        .order_by("-delivered_at", "-id")
        .first()
    )
    if ownership is None:
        raise FieldError("applicant", _("only a verified owner with a current vehicle can become a Territory Partner"))
    if Merchant.objects.filter(applicant=person, status="applied").exists():
        raise FieldError("applicant", _("you already have an application under review"))
    cleaned = _clean(data)
    merchant = Merchant.objects.create(
        kind="territory", status="applied", applicant=person, review_dealer_id=ownership.dealer_id, **cleaned
    )
    brand_ids = set(
        Ownership.objects.filter(person=person, ended_at__isnull=True).values_list(
            "vehicle__model__brand_id", flat=True
        )
    )
    merchant.brands.set(brand_ids)
    audit(actor=actor, action="merchant.applied", obj_type="merchant", obj_id=merchant.pk, summary=_snapshot(merchant))
    publish(
        "merchant_applied",
        person_id=person.pk,
        dealer_id=ownership.dealer_id,
        channel="portal",
        properties={"merchant_id": merchant.pk, "scenario": merchant.scenario, "city": merchant.city},
    )
    return merchant


def can_review(actor: Actor, merchant: Merchant) -> bool:
    if actor.role in HQ_ROLES:
        return True
    return (
        actor.role == Role.DEALER_MANAGER
        and actor.dealer_id is not None
        and merchant.review_dealer_id == actor.dealer_id
    )


@transaction.atomic
def merchant_review(*, actor: Actor, merchant: Merchant, approve: bool, reason: str = "") -> Merchant:
    """The applicant's dealer or HQ approves (→ active) or rejects (with a reason) an application."""
    merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
    if not can_review(actor, merchant):
        raise PermissionDenied("only HQ or the applicant's dealer may review this application")
    if merchant.status != "applied":
        raise FieldError("status", _("merchant %(name)s is not awaiting review") % {"name": merchant.name})
    reason = reason.strip()
    if not approve and not reason:
        raise FieldError("reason", _("a rejection needs a reason the applicant can act on"))
    before = _snapshot(merchant)
    merchant.status = "active" if approve else "rejected"
    merchant.status_reason = reason[:300]
    merchant.reviewed_by_id = actor.staff_id
    merchant.reviewed_at = timezone.now()
    merchant.save()
    name = "merchant_approved" if approve else "merchant_rejected"
    audit(
        actor=actor,
        action=f"merchant.{'approved' if approve else 'rejected'}",
        obj_type="merchant",
        obj_id=merchant.pk,
        summary={"before": before, "after": _snapshot(merchant)},
        reason=reason,
    )
    publish(
        name,
        person_id=merchant.applicant_id,
        dealer_id=merchant.review_dealer_id,
        properties={"merchant_id": merchant.pk, "reason": reason},
    )
    return merchant


@transaction.atomic
def merchant_create(*, actor: Actor, data: dict[str, Any], brand_ids: list[int]) -> Merchant:
    """HQ enrols a cross-industry partner (hotel chain, drone maker ...): active at once."""
    if actor.role not in HQ_ROLES:
        raise PermissionDenied("only HQ enrols cross-industry partners")
    brands = list(Brand.objects.filter(pk__in=brand_ids))
    if not brands or len(brands) != len(set(brand_ids)):
        raise FieldError("brands", f"unknown or missing brands {brand_ids}")
    cleaned = _clean(data)
    merchant = Merchant.objects.create(
        kind="cross_industry", status="active", reviewed_by_id=actor.staff_id, reviewed_at=timezone.now(), **cleaned
    )
    merchant.brands.set(brands)
    audit(actor=actor, action="merchant.created", obj_type="merchant", obj_id=merchant.pk, summary=_snapshot(merchant))
    publish("merchant_approved", properties={"merchant_id": merchant.pk, "kind": merchant.kind})
    return merchant


@transaction.atomic
def merchant_set_status(*, actor: Actor, merchant: Merchant, status: str, reason: str) -> Merchant:
    """Suspend an active merchant or reinstate a suspended one (HQ or its reviewing dealer)."""
    merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
    if not can_review(actor, merchant):
        raise PermissionDenied("only HQ or the merchant's dealer may change its status")
    allowed = {"suspended": "active", "active": "suspended"}
    if status not in allowed:
        raise FieldError("status", f"{status!r} must be 'suspended' or 'active'")
    if merchant.status != allowed[status]:
        raise FieldError("status", f"merchant {merchant.name} is {merchant.status}: cannot become {status}")
    if not reason.strip():
        raise FieldError("reason", "is required")
    before = _snapshot(merchant)
    merchant.status = status
    merchant.status_reason = reason.strip()[:300]
    merchant.save()
    audit(
        actor=actor,
        action=f"merchant.{status}",
        obj_type="merchant",
        obj_id=merchant.pk,
        summary={"before": before, "after": _snapshot(merchant)},
        reason=reason,
    )
    publish(
        "merchant_suspended" if status == "suspended" else "merchant_reinstated",
        dealer_id=merchant.review_dealer_id,
        properties={"merchant_id": merchant.pk, "reason": reason},
    )
    return merchant


@transaction.atomic
def merchant_operator_create(
    *, actor: Actor, merchant: Merchant, username: str, name: str, password: str, phone: str = ""
) -> Staff:
    """A login for the merchant page (/merchant/) acting for this merchant only; no console access."""
    merchant = Merchant.objects.get(pk=merchant.pk)
    if not can_review(actor, merchant):
        raise PermissionDenied("only HQ or the merchant's dealer may add merchant operators")
    if merchant.status != "active":
        raise FieldError("merchant", f"merchant {merchant.name} is {merchant.status}, not active")
    username = username.strip()
    if not username or User.objects.filter(username=username).exists():
        raise FieldError("username", f"{username!r} is empty or already taken")
    if len(password) < 10:
        raise FieldError("password", "must be at least 10 characters")
    if not name.strip():
        raise FieldError("name", "is required")
    user = User.objects.create_user(username=username, password=password)
    staff = Staff.objects.create(user=user, name=name.strip(), phone=phone, role=Role.MERCHANT_OPERATOR.value)
    staff.brands.set(merchant.brands.all())
    MerchantOperator.objects.create(staff=staff, merchant=merchant)
    audit(
        actor=actor,
        action="merchant.operator_created",
        obj_type="merchant",
        obj_id=merchant.pk,
        summary={"staff_id": staff.pk, "username": username},
    )
    return staff

"""Writes on people and vehicles. Each validates first, so a rejected input writes nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from hufen.common.actors import Actor, Scope
from hufen.common.audit import audit, diff
from hufen.common.errors import PermissionDenied
from hufen.common.events import publish
from hufen.common.names import name_initials, name_pinyin
from hufen.common.pii import (
    FieldError,
    hash_id_number,
    id_number_birth_date,
    id_number_gender,
    mask_id_number,
    mask_name,
    mask_phone,
    normalize_cn_mobile,
    normalize_email,
    validate_id_number,
    validate_plate,
    validate_vin,
)
from hufen.org.models import Dealer, Grid, Staff
from hufen.people.models import (
    ButlerAssignment,
    ContactPoint,
    Household,
    Ownership,
    Person,
    ServiceVisit,
    Vehicle,
    VehicleModel,
)


@dataclass(frozen=True)
class PersonInput:
    name: str
    phone: str = ""
    gender: str = ""
    birth_date: dt.date | None = None
    email: str = ""
    id_number: str = ""
    province: str = ""
    city: str = ""
    district: str = ""
    address: str = ""
    source: str = "manual"


def _clean_person(data: PersonInput) -> dict[str, Any]:
    name = " ".join(data.name.split())
    if not name:
        raise FieldError("name", "is empty")
    if len(name) > 60:
        raise FieldError("name", "is longer than 60 characters")
    fields: dict[str, Any] = {
        "name": name,
        "name_pinyin": name_pinyin(name),
        "name_initials": name_initials(name),
        "province": data.province.strip(),
        "city": data.city.strip(),
        "district": data.district.strip(),
        "address": data.address.strip(),
        "source": data.source,
        "birth_date": data.birth_date,
        "gender": data.gender or "U",
    }
    if fields["gender"] not in {"M", "F", "U"}:
        raise FieldError("gender", f"{data.gender!r} is not M, F or U")
    fields["phone"] = normalize_cn_mobile(data.phone) if data.phone else ""
    fields["email"] = normalize_email(data.email) if data.email else ""
    if data.id_number:
        id_number = validate_id_number(data.id_number)
        birth = id_number_birth_date(id_number)
        if data.birth_date and data.birth_date != birth:
            raise FieldError("birth_date", f"{data.birth_date} contradicts the ID number's birth date {birth}")
        gender = id_number_gender(id_number)
        if data.gender and data.gender in {"M", "F"} and data.gender != gender:
            raise FieldError("gender", "contradicts the gender encoded in the ID number")
        fields.update(
            id_number_hash=hash_id_number(id_number),
            id_number_hint=mask_id_number(id_number),
            birth_date=birth,
            gender=gender,
        )
    return fields


@transaction.atomic
def person_create(*, actor: Actor, data: PersonInput, household: Household | None = None) -> Person:
    # Only group-wide actors create persons: a person has no dealer link at birth, so a dealer-scoped
    # creator could not see what it created. Dealers' records arrive through imports and ONE ID.
    if not actor.has_perm("persons.create") or actor.scope != Scope.ALL:
        raise PermissionDenied(f"{actor.label} may not create persons")
    fields = _clean_person(data)
    person = Person.objects.create(household=household, **fields)
    if person.phone:
        ContactPoint.objects.create(
            person=person, kind="phone", value=person.phone, last4=person.phone[-4:], is_primary=True
        )
    if person.email:
        ContactPoint.objects.create(person=person, kind="email", value=person.email, is_primary=True)
    audit(
        actor=actor,
        action="person.create",
        obj_type="person",
        obj_id=person.pk,
        summary={"name": mask_name(person.name), "phone": mask_phone(person.phone), "source": person.source},
    )
    publish("person_created", person_id=person.pk, properties={"source": person.source})
    return person


def _masked_snapshot(person: Person) -> dict[str, Any]:
    return {
        "name": mask_name(person.name),
        "phone": mask_phone(person.phone),
        "gender": person.gender,
        "birth_date": person.birth_date.isoformat() if person.birth_date else None,
        "city": person.city,
        "district": person.district,
        "email": bool(person.email),
        "id_number": person.id_number_hint,
    }


@transaction.atomic
def person_update(*, actor: Actor, person: Person, data: PersonInput, reason: str = "") -> Person:
    fields = _clean_person(data)
    before = _masked_snapshot(person)
    for key, value in fields.items():
        if key == "source":
            continue
        setattr(person, key, value)
    person.save()
    if person.phone:
        ContactPoint.objects.get_or_create(
            person=person, kind="phone", value=person.phone, defaults={"last4": person.phone[-4:]}
        )
        ContactPoint.objects.filter(person=person, kind="phone").exclude(value=person.phone).update(is_primary=False)
        ContactPoint.objects.filter(person=person, kind="phone", value=person.phone).update(is_primary=True)
    audit(
        actor=actor,
        action="person.update",
        obj_type="person",
        obj_id=person.pk,
        summary=diff(before, _masked_snapshot(person)),
        reason=reason,
    )
    return person


@transaction.atomic
def person_add_phone(*, actor: Actor, person: Person, phone: str) -> ContactPoint:
    value = normalize_cn_mobile(phone)
    contact, created = ContactPoint.objects.get_or_create(
        person=person, kind="phone", value=value, defaults={"last4": value[-4:]}
    )
    if created:
        audit(
            actor=actor,
            action="person.add_phone",
            obj_type="person",
            obj_id=person.pk,
            summary={"phone": mask_phone(value)},
        )
    return contact


@transaction.atomic
def vehicle_register(
    *,
    actor: Actor,
    vin: str,
    model: VehicleModel,
    colour: str,
    plate: str = "",
    produced_on: dt.date | None = None,
) -> Vehicle:
    vin = validate_vin(vin)
    plate_value = validate_plate(plate) if plate else None
    if Vehicle.objects.filter(vin=vin).exists():
        raise FieldError("vin", f"{vin} is already registered")
    if plate_value and Vehicle.objects.filter(plate=plate_value).exists():
        raise FieldError("plate", f"{plate_value} is already on another vehicle")
    vehicle = Vehicle.objects.create(vin=vin, model=model, colour=colour, plate=plate_value, produced_on=produced_on)
    audit(
        actor=actor,
        action="vehicle.register",
        obj_type="vehicle",
        obj_id=vehicle.pk,
        summary={"vin": vin, "model": str(model)},
    )
    return vehicle


@transaction.atomic
def ownership_deliver(
    *,
    actor: Actor,
    person: Person,
    vehicle: Vehicle,
    dealer: Dealer | None,
    delivered_at: dt.datetime | None = None,
    role: str = "owner",
    previous_end_reason: str = "transfer",
) -> Ownership:
    """Record a delivery (or transfer) of a vehicle; the previous owner's ownership ends at that moment."""
    delivered_at = delivered_at or timezone.now()
    if role not in {"owner", "co_user"}:
        raise FieldError("role", f"{role!r} is not owner or co_user")
    # Lock the vehicle, not the ownership row: a waiter on an ownership row that another transaction
    # ends would find no current owner afterwards and collide on the one-current-owner constraint.
    Vehicle.objects.select_for_update().filter(pk=vehicle.pk).first()
    if role == "owner":
        current = Ownership.objects.filter(vehicle=vehicle, role="owner", ended_at__isnull=True).first()
        if current is not None:
            if current.person_id == person.pk:
                raise FieldError("person", "already owns this vehicle")
            if current.delivered_at > delivered_at:
                raise FieldError("delivered_at", "is before the current owner's delivery")
            current.ended_at = delivered_at
            current.end_reason = previous_end_reason
            current.save(update_fields=["ended_at", "end_reason"])
    ownership = Ownership.objects.create(
        person=person, vehicle=vehicle, dealer=dealer, role=role, delivered_at=delivered_at
    )
    audit(
        actor=actor,
        action="ownership.deliver",
        obj_type="ownership",
        obj_id=ownership.pk,
        summary={"person": person.pk, "vin": vehicle.vin, "dealer": dealer.code if dealer else None, "role": role},
    )
    publish(
        "vehicle_delivered",
        person_id=person.pk,
        dealer_id=dealer.pk if dealer else None,
        ts=delivered_at,
        properties={
            "vin": vehicle.vin,
            "series": vehicle.model.series,
            "brand_id": vehicle.model.brand_id,
            "role": role,
        },
    )
    return ownership


@transaction.atomic
def ownership_end(*, actor: Actor, ownership: Ownership, reason: str, ended_at: dt.datetime | None = None) -> Ownership:
    if ownership.ended_at is not None:
        raise FieldError("ownership", "has already ended")
    if reason not in dict(Ownership.END_REASONS):
        raise FieldError("reason", f"{reason!r} is not one of {', '.join(dict(Ownership.END_REASONS))}")
    ownership.ended_at = ended_at or timezone.now()
    ownership.end_reason = reason
    ownership.save(update_fields=["ended_at", "end_reason"])
    audit(actor=actor, action="ownership.end", obj_type="ownership", obj_id=ownership.pk, summary={"reason": reason})
    publish(
        "ownership_ended",
        person_id=ownership.person_id,
        dealer_id=ownership.dealer_id,
        properties={"vehicle_id": ownership.vehicle_id, "reason": reason},
    )
    return ownership


@transaction.atomic
def service_visit_record(
    *,
    actor: Actor,
    person: Person,
    vehicle: Vehicle,
    dealer: Dealer,
    kind: str,
    visited_at: dt.datetime | None = None,
    mileage_km: int | None = None,
) -> ServiceVisit:
    if kind not in dict(ServiceVisit.KIND_CHOICES):
        raise FieldError("kind", f"{kind!r} is not a service kind")
    visit = ServiceVisit.objects.create(
        person=person,
        vehicle=vehicle,
        dealer=dealer,
        kind=kind,
        visited_at=visited_at or timezone.now(),
        mileage_km=mileage_km,
    )
    audit(
        actor=actor,
        action="service_visit.record",
        obj_type="service_visit",
        obj_id=visit.pk,
        summary={"dealer": dealer.code, "kind": kind},
    )
    publish(
        "service_visited",
        person_id=person.pk,
        dealer_id=dealer.pk,
        ts=visit.visited_at,
        properties={"vin": vehicle.vin, "kind": kind},
    )
    return visit


@transaction.atomic
def butler_assign(*, actor: Actor, person: Person, grid: Grid, butler: Staff, reason: str = "") -> ButlerAssignment:
    """Serve a person by a butler in a grid, closing any open assignment: one butler at a time."""
    if butler.role != "butler":
        raise FieldError("butler", f"{butler.name} is not a butler")
    if butler.dealer_id != grid.dealer_id:
        raise FieldError("grid", "belongs to another dealer than the butler")
    now = timezone.now()
    # Lock the person row so two concurrent assignments serialise on it.
    Person.objects.select_for_update().filter(pk=person.pk).first()
    current = ButlerAssignment.objects.filter(person=person, ended_at__isnull=True).first()
    if current is not None:
        if current.butler_id == butler.pk and current.grid_id == grid.pk:
            return current
        current.ended_at = now
        current.save(update_fields=["ended_at"])
    assignment = ButlerAssignment.objects.create(person=person, grid=grid, butler=butler, started_at=now, reason=reason)
    audit(
        actor=actor,
        action="butler.assign",
        obj_type="person",
        obj_id=person.pk,
        summary={"grid": str(grid), "butler": butler.name, "previous_butler": current.butler_id if current else None},
        reason=reason,
    )
    publish(
        "butler_assigned",
        person_id=person.pk,
        dealer_id=grid.dealer_id,
        properties={"grid_id": grid.pk, "butler_id": butler.pk},
    )
    return assignment


PII_FIELDS = ("name", "phone", "email", "address")


@transaction.atomic
def person_reveal_pii(*, actor: Actor, person: Person, field: str, reason: str = "", ip: str | None = None) -> str:
    """Return one field in clear for a permitted actor, and audit that it was seen."""
    if not actor.has_perm("pii.reveal"):
        raise PermissionDenied(f"{actor.label} may not reveal personal data")
    if field not in PII_FIELDS:
        raise FieldError("field", f"{field!r} cannot be revealed (one of {', '.join(PII_FIELDS)})")
    if not Person.objects.visible_to(actor).filter(pk=person.pk).exists():
        raise PermissionDenied("person is outside your data scope")
    audit(
        actor=actor,
        action="pii.reveal",
        obj_type="person",
        obj_id=person.pk,
        summary={"field": field},
        reason=reason,
        ip=ip,
    )
    return str(getattr(person, field) or "")

"""Vehicles: `GET /vehicles` (by VIN or plate) and `GET /vehicles/{vin}` with its masked owner."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from hufen.api.auth import actor_of
from hufen.api.errors import with_errors
from hufen.api.pagination import PageParams, paginate
from hufen.api.people import require_persons_view
from hufen.api.types import Text, lookup_key
from hufen.common.actors import Actor
from hufen.common.errors import NotFound
from hufen.common.pii import mask_name, mask_phone
from hufen.people.models import Ownership, Vehicle
from hufen.people.selectors import person_search, vehicle_current_owner, vehicle_get, vehicle_list

router = Router(tags=["vehicles"])


class VehicleFilters(PageParams):
    q: Text = Field("", max_length=17, description="Whole VIN, its last six or more characters, or a plate.")


class VehicleOut(Schema):
    vin: str
    plate: str | None
    brand: str
    series: str
    model: str
    energy_type: str
    colour: str
    produced_on: dt.date | None

    @staticmethod
    def fields_of(vehicle: Vehicle) -> dict[str, object]:
        return {
            "vin": vehicle.vin,
            "plate": vehicle.plate,
            "brand": vehicle.model.brand.code,
            "series": vehicle.model.series,
            "model": vehicle.model.name,
            "energy_type": vehicle.model.energy_type,
            "colour": vehicle.colour,
            "produced_on": vehicle.produced_on,
        }


class VehiclePageOut(Schema):
    items: list[VehicleOut]
    next_cursor: str | None


class VehicleOwnerOut(Schema):
    person_id: int
    name: str = Field(description="Masked, e.g. 王*伟.")
    phone: str = Field(description="Masked, e.g. 138****5678.")
    dealer: str | None = Field(description="Code of the delivering dealer.")
    delivered_at: dt.datetime


class VehicleDetailOut(VehicleOut):
    current_owner: VehicleOwnerOut | None = Field(
        description="The current owner if that person is in your scope; null otherwise or when unowned."
    )


def _visible_owner(actor: Actor, ownership: Ownership | None) -> VehicleOwnerOut | None:
    # A vehicle is in scope when any of its owners ever was; its *current* owner may not be.
    if ownership is None:
        return None
    if not person_search(actor=actor).filter(pk=ownership.person_id).exists():
        return None
    person = ownership.person
    return VehicleOwnerOut(
        person_id=person.pk,
        name=mask_name(person.name),
        phone=mask_phone(person.phone),
        dealer=ownership.dealer.code if ownership.dealer else None,
        delivered_at=ownership.delivered_at,
    )


@router.get("", response=with_errors({200: VehiclePageOut}), summary="Find vehicles in your scope")
def vehicles_list(request: HttpRequest, filters: Query[VehicleFilters]) -> VehiclePageOut:
    actor = actor_of(request)
    require_persons_view(actor)
    page = paginate(vehicle_list(actor=actor, query=filters.q), params=filters, listing="vehicles")
    return VehiclePageOut(
        items=[VehicleOut.model_validate(VehicleOut.fields_of(v)) for v in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{vin}", response=with_errors({200: VehicleDetailOut}), summary="One vehicle by VIN")
def vehicles_get(request: HttpRequest, vin: str) -> VehicleDetailOut:
    actor = actor_of(request)
    require_persons_view(actor)
    key = lookup_key(vin, max_length=17)
    if key is None:
        raise NotFound(f"vehicle {vin} does not exist or is outside your data scope")
    vehicle = vehicle_get(actor=actor, vin=key)
    owner = _visible_owner(actor, vehicle_current_owner(vehicle))
    return VehicleDetailOut.model_validate({**VehicleOut.fields_of(vehicle), "current_owner": owner})

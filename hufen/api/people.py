"""Persons: search, the masked profile, and creating a person (HQ only, idempotent).

Every profile leaves here masked (`王*伟`, `138****5678`, ID-number hint only); revealing a field is a
separate, audited action that this API does not offer yet.

Who may create persons: actors whose scope is the whole group (HQ staff) and who may view persons.
A person is visible to a dealer or brand only through facts (an ownership, a service visit, a butler
assignment), so a person created by a dealer- or brand-scoped API client would vanish from its
creator's view at once; such clients get 403 until an endpoint records the fact that links them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from hufen.api.auth import actor_of
from hufen.api.errors import with_errors
from hufen.api.idempotency import run_idempotent
from hufen.api.merges import PersonMovedOut, absorbed_redirect
from hufen.api.pagination import PageParams, paginate
from hufen.api.types import Text
from hufen.common.actors import Actor, Scope
from hufen.common.errors import NotFound, PermissionDenied
from hufen.common.pii import mask_address, mask_email, mask_name, mask_phone
from hufen.people.models import Ownership, Person
from hufen.people.selectors import Person360, person_360, person_search
from hufen.people.services import PersonInput, person_create

router = Router(tags=["persons"])

MAX_ID = 2**63 - 1  # ids are 64-bit; a larger one names nothing (and would overflow the query)


def require_persons_view(actor: Actor) -> None:
    """Roles without `persons.view` (merchant operators) get 403 on every person endpoint."""
    if not actor.has_perm("persons.view"):
        raise PermissionDenied(f"{actor.label} may not view persons")


def require_person_create(actor: Actor) -> None:
    if actor.scope != Scope.ALL or not actor.has_perm("persons.create"):
        raise PermissionDenied("only HQ staff may create persons over the API")


# --- schemas ------------------------------------------------------------------------------------


class PersonFilters(PageParams):
    q: Text = Field(
        "",
        max_length=100,
        description="Name (汉字 prefix, pinyin or initials), last four or all phone digits, VIN or its "
        "last six, or plate: the console's search box.",
    )
    city: Text = Field("", max_length=30, description="Exact city, e.g. 杭州市.")


class PersonItemOut(Schema):
    id: int
    name: str = Field(description="Masked, e.g. 王*伟.")
    phone: str = Field(description="Masked, e.g. 138****5678.")
    gender: str
    city: str
    district: str

    @staticmethod
    def of(person: Person) -> PersonItemOut:
        return PersonItemOut(
            id=person.pk,
            name=mask_name(person.name),
            phone=mask_phone(person.phone),
            gender=person.gender,
            city=person.city,
            district=person.district,
        )


class PersonPageOut(Schema):
    items: list[PersonItemOut]
    next_cursor: str | None


class PersonVehicleOut(Schema):
    vin: str
    plate: str | None
    brand: str
    series: str
    model: str
    role: str
    dealer: str | None = Field(description="Code of the delivering dealer.")
    delivered_at: dt.datetime

    @staticmethod
    def of(ownership: Ownership) -> PersonVehicleOut:
        vehicle = ownership.vehicle
        return PersonVehicleOut(
            vin=vehicle.vin,
            plate=vehicle.plate,
            brand=vehicle.model.brand.code,
            series=vehicle.model.series,
            model=vehicle.model.name,
            role=ownership.role,
            dealer=ownership.dealer.code if ownership.dealer else None,
            delivered_at=ownership.delivered_at,
        )


class PersonDealerOut(Schema):
    code: str
    name: str


class PersonDetailOut(Schema):
    id: int
    name: str = Field(description="Masked, e.g. 王*伟.")
    phone: str = Field(description="Masked, e.g. 138****5678.")
    email: str = Field(description="Masked, e.g. w***@example.com.")
    id_number_hint: str = Field(description="Region and last four only; the number is never stored.")
    gender: str
    birth_year: int | None
    province: str
    city: str
    district: str
    address: str = Field(description="Masked after the street.")
    household_id: int | None
    household_role: str
    status: str
    vehicles: list[PersonVehicleOut] = Field(description="Vehicles the person owns or co-uses now.")
    current_butler_id: int | None = Field(description="Staff id of the butler serving the person now.")
    dealers: list[PersonDealerOut] = Field(description="Dealers where the person bought or was serviced.")
    created_at: dt.datetime

    @staticmethod
    def of(view: Person360) -> PersonDetailOut:
        p = view.person
        butler = view.current_butler
        return PersonDetailOut(
            id=p.pk,
            name=mask_name(p.name),
            phone=mask_phone(p.phone),
            email=mask_email(p.email),
            id_number_hint=p.id_number_hint,
            gender=p.gender,
            birth_year=p.birth_date.year if p.birth_date else None,
            province=p.province,
            city=p.city,
            district=p.district,
            address=mask_address(p.address),
            household_id=p.household_id,
            household_role=p.household_role,
            status=p.status,
            vehicles=[PersonVehicleOut.of(o) for o in view.current_ownerships],
            current_butler_id=butler.butler_id if butler else None,
            dealers=[PersonDealerOut(code=d.code, name=d.name) for d in view.dealers],
            created_at=p.created_at,
        )


class PersonCreateIn(Schema):
    name: Text = Field(max_length=60, examples=["王小伟"])
    phone: Text = Field("", max_length=32, description="Chinese mobile, e.g. 13812345678 or +8613812345678.")
    gender: Literal["M", "F", "U"] | None = None
    birth_date: dt.date | None = None
    email: Text = Field("", max_length=120)
    id_number: Text = Field("", max_length=32, description="18-character resident ID; stored only hashed.")
    province: Text = Field("", max_length=20)
    city: Text = Field("", max_length=30)
    district: Text = Field("", max_length=30)
    address: Text = Field("", max_length=200)

    def to_input(self) -> PersonInput:
        return PersonInput(
            name=self.name,
            phone=self.phone,
            gender=self.gender or "",
            birth_date=self.birth_date,
            email=self.email,
            id_number=self.id_number,
            province=self.province,
            city=self.city,
            district=self.district,
            address=self.address,
            source="api",
        )


# --- endpoints ----------------------------------------------------------------------------------


@router.get("", response=with_errors({200: PersonPageOut}), summary="Search persons in your scope")
def persons_list(request: HttpRequest, filters: Query[PersonFilters]) -> PersonPageOut:
    actor = actor_of(request)
    require_persons_view(actor)
    qs = person_search(actor=actor, query=filters.q, city=filters.city.strip())
    page = paginate(qs, params=filters, listing="persons")
    return PersonPageOut(items=[PersonItemOut.of(p) for p in page.items], next_cursor=page.next_cursor)


@router.get(
    "/{int:person_id}",
    response=with_errors({200: PersonDetailOut, 308: PersonMovedOut}),
    summary="A person's masked profile (308 to the live person for an id merged away)",
)
def persons_get(request: HttpRequest, person_id: int) -> PersonDetailOut | HttpResponse:
    actor = actor_of(request)
    require_persons_view(actor)
    if not 1 <= person_id <= MAX_ID:
        raise NotFound(f"person {person_id} does not exist")
    # An id merged away answers 308 (hufen/api/merges.py); checked only when the lookup did not find a
    # live person, so the ordinary profile costs no extra query.
    try:
        view = person_360(actor=actor, person_id=person_id)
    except NotFound:
        moved = absorbed_redirect(actor, person_id)
        if moved is None:
            raise
        return moved
    if view.person.status == "merged":
        return absorbed_redirect(actor, person_id) or PersonDetailOut.of(view)
    return PersonDetailOut.of(view)


@router.post(
    "",
    response=with_errors({201: PersonDetailOut}, 409),
    summary="Create a person (HQ staff; honours Idempotency-Key)",
)
def persons_create(request: HttpRequest, response: HttpResponse, payload: PersonCreateIn) -> Status[dict[str, Any]]:
    actor = actor_of(request)
    require_person_create(actor)

    def create() -> tuple[int, dict[str, Any]]:
        person = person_create(actor=actor, data=payload.to_input())
        out = PersonDetailOut.of(person_360(actor=actor, person_id=person.pk))
        return 201, out.model_dump(mode="json")

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)

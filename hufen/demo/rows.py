"""The generated rows: plain tuples in the column order of the `*_FIELDS` tuples."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hufen.demo.geo import City

Row = tuple[Any, ...]

HOUSEHOLD_FIELDS = ("id", "name", "province", "city", "district", "address", "created_at")
PERSON_FIELDS = (
    "id", "name", "name_pinyin", "name_initials", "gender", "birth_date", "phone", "email", "id_number_hash",
    "id_number_hint", "province", "city", "district", "address", "household_id", "household_role", "status",
    "merged_into_id", "source", "created_at", "updated_at",
)  # fmt: skip
CONTACT_FIELDS = ("person_id", "kind", "value", "last4", "is_primary", "verified_at")
VEHICLE_FIELDS = ("id", "vin", "model_id", "colour", "plate", "produced_on", "created_at")
OWNERSHIP_FIELDS = ("person_id", "vehicle_id", "role", "dealer_id", "delivered_at", "ended_at", "end_reason")
VISIT_FIELDS = ("person_id", "vehicle_id", "dealer_id", "kind", "visited_at", "mileage_km")
ASSIGNMENT_FIELDS = ("person_id", "grid_id", "butler_id", "started_at", "ended_at", "reason")


@dataclass
class Rows:
    households: list[Row] = field(default_factory=list)
    persons: list[Row] = field(default_factory=list)
    contacts: list[Row] = field(default_factory=list)
    vehicles: list[Row] = field(default_factory=list)
    ownerships: list[Row] = field(default_factory=list)
    visits: list[Row] = field(default_factory=list)
    assignments: list[Row] = field(default_factory=list)


@dataclass
class Place:
    city: City
    district: str
    address: str


@dataclass
class Counters:
    """Next ids and the per-WMI / per-plate-prefix sequence numbers, read from the database at start."""

    household: int
    person: int
    vehicle: int
    vin: dict[str, int]
    plate: dict[str, int]

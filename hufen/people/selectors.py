"""Reads on people and vehicles, always through `visible_to(actor)`."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.utils import timezone

from hufen.common.actors import Actor
from hufen.common.errors import NotFound
from hufen.common.names import name_pinyin
from hufen.people.models import ButlerAssignment, ContactPoint, Ownership, Person, ServiceVisit, Vehicle
from hufen.people.querysets import dealer_queryset_for

_PLATE_START = re.compile(r"^[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Z]")
_HAN = re.compile(r"[\u3400-\u9fff]")


def _prefix(field_name: str, value: str) -> Q:
    """An index-friendly "starts with" on both SQLite and PostgreSQL (a range, not LIKE)."""
    return Q(**{f"{field_name}__gte": value, f"{field_name}__lt": value + "\U0010ffff"})


def search_condition(query: str) -> Q | None:
    """How a console search box query reads: name, full pinyin or initials, last four phone digits,
    a whole phone, a VIN (whole or its last six), or a plate. None for an empty query."""
    q = "".join(query.split())
    if not q:
        return None
    upper = q.upper()
    if q.isdigit() and len(q) == 4:
        return Q(id__in=ContactPoint.objects.filter(kind="phone", last4=q).values("person_id"))
    if q.isdigit() and len(q) == 11:
        return Q(id__in=ContactPoint.objects.filter(kind="phone", value="+86" + q).values("person_id"))
    if q.startswith("+86") and q[1:].isdigit():
        return Q(id__in=ContactPoint.objects.filter(kind="phone", value=q).values("person_id"))
    if len(upper) == 17 and upper.isalnum() and upper.isascii():
        return Q(id__in=Ownership.objects.filter(vehicle__vin=upper).values("person_id"))
    if _PLATE_START.match(upper):
        return Q(id__in=Ownership.objects.filter(_prefix("vehicle__plate", upper)).values("person_id"))
    if len(upper) == 6 and upper.isalnum() and upper.isascii() and any(c.isdigit() for c in upper):
        return Q(id__in=Ownership.objects.filter(vehicle__vin__endswith=upper).values("person_id"))
    if _HAN.search(q):
        return _prefix("name", q)
    if q.isascii() and q.isalpha():
        lower = q.lower()
        return _prefix("name_pinyin", lower) | Q(name_initials=lower) | _prefix("name_pinyin", name_pinyin(lower))
    return Q(pk__in=[])


def person_search(*, actor: Actor, query: str = "", city: str = "", dealer_id: int | None = None) -> QuerySet[Person]:
    qs = Person.objects.visible_to(actor).filter(status="active")
    condition = search_condition(query)
    if condition is not None:
        qs = qs.filter(condition)
    if city:
        qs = qs.filter(city=city)
    if dealer_id:
        qs = qs.filter(id__in=Ownership.objects.filter(dealer_id=dealer_id).values("person_id"))
    return qs.order_by("id")


def person_get(*, actor: Actor, person_id: int) -> Person:
    person = Person.objects.visible_to(actor).select_related("household").filter(pk=person_id).first()
    if person is None:
        raise NotFound(f"person {person_id} does not exist or is outside your data scope")
    return person


@dataclass
class Person360:
    person: Person
    household_members: list[Person]
    ownerships: list[Ownership]
    current_ownerships: list[Ownership]
    service_visits: list[ServiceVisit]
    butler_assignments: list[ButlerAssignment]
    contacts: list[ContactPoint]
    dealers: list[Any] = field(default_factory=list)

    @property
    def current_butler(self) -> ButlerAssignment | None:
        return next((a for a in self.butler_assignments if a.ended_at is None), None)

    @property
    def is_owner(self) -> bool:
        return bool(self.current_ownerships)


def person_360(*, actor: Actor, person_id: int) -> Person360:
    person = person_get(actor=actor, person_id=person_id)
    members: list[Person] = []
    if person.household_id:
        members = list(Person.objects.visible_to(actor).filter(household_id=person.household_id).exclude(pk=person.pk))
    ownerships = list(
        Ownership.objects.filter(person=person)
        .select_related("vehicle__model__brand", "dealer")
        .order_by("-delivered_at")
    )
    visits = list(ServiceVisit.objects.filter(person=person).select_related("dealer", "vehicle__model")[:20])
    assignments = list(
        ButlerAssignment.objects.filter(person=person).select_related("butler", "grid__dealer").order_by("-started_at")
    )
    dealers = {o.dealer.pk: o.dealer for o in ownerships if o.dealer}
    for v in visits:
        dealers.setdefault(v.dealer.pk, v.dealer)
    return Person360(
        person=person,
        household_members=members,
        ownerships=ownerships,
        current_ownerships=[o for o in ownerships if o.ended_at is None],
        service_visits=visits,
        butler_assignments=assignments,
        contacts=list(person.contacts.all()),
        dealers=list(dealers.values()),
    )


def vehicle_list(*, actor: Actor, query: str = "") -> QuerySet[Vehicle]:
    qs = Vehicle.objects.visible_to(actor).select_related("model__brand")
    q = query.strip().upper()
    if q:
        qs = qs.filter(Q(vin=q) | Q(plate=q) | Q(vin__endswith=q) if len(q) >= 6 else Q(plate=q))
    return qs.order_by("id")


def vehicle_get(*, actor: Actor, vin: str) -> Vehicle:
    vehicle = vehicle_list(actor=actor).filter(vin=vin.strip().upper()).first()
    if vehicle is None:
        raise NotFound(f"vehicle {vin} does not exist or is outside your data scope")
    return vehicle


def vehicle_current_owner(vehicle: Vehicle) -> Ownership | None:
    return (
        Ownership.objects.filter(vehicle=vehicle, role="owner", ended_at__isnull=True)
        .select_related("person", "dealer")
        .first()
    )


@dataclass
class HomeFigures:
    persons: int
    owners: int
    dealers: int
    vehicles: int
    vehicles_by_brand: list[dict[str, Any]]
    vehicles_by_series: list[dict[str, Any]]
    new_owners_by_month: list[dict[str, Any]]


def home_figures(*, actor: Actor, months: int = 24) -> HomeFigures:
    """The brand's real figures for the console home page, within the actor's scope."""
    persons = Person.objects.visible_to_in_bulk(actor).filter(status="active")
    current = Ownership.objects.visible_to(actor).filter(ended_at__isnull=True)
    by_brand = list(
        current.filter(role="owner").values("vehicle__model__brand__name").annotate(n=Count("id")).order_by("-n")
    )
    by_series = list(
        current.filter(role="owner")
        .values("vehicle__model__brand__name", "vehicle__model__series")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    since = (timezone.now() - dt.timedelta(days=31 * months)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    by_month = list(
        Ownership.objects.visible_to(actor)
        .filter(role="owner", delivered_at__gte=since)
        .annotate(month=TruncMonth("delivered_at"))
        .values("month")
        .annotate(n=Count("id"))
        .order_by("month")
    )
    return HomeFigures(
        persons=persons.count(),
        owners=current.values("person_id").distinct().count(),
        dealers=dealer_queryset_for(actor).count(),
        vehicles=sum(r["n"] for r in by_brand),
        vehicles_by_brand=[{"brand": r["vehicle__model__brand__name"], "count": r["n"]} for r in by_brand],
        vehicles_by_series=[
            {"brand": r["vehicle__model__brand__name"], "series": r["vehicle__model__series"], "count": r["n"]}
            for r in by_series
        ],
        new_owners_by_month=[{"month": r["month"].strftime("%Y-%m"), "count": r["n"]} for r in by_month],
    )

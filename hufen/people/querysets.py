"""Data scopes: one `visible_to(actor)` per scoped model, used by every selector.

HQ sees everything; a region manager the persons of its region's dealers; dealer staff the persons
who bought or serviced at the dealer or sit in one of its grids; a butler only the persons currently
assigned to them; an API client its dealer, or the dealers that carry its brand.
A person "belongs" to a dealer through facts (ownership, service visit, grid assignment), so the
scope is derived at query time and cannot drift from them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models

from hufen.common.actors import Actor, Scope

if TYPE_CHECKING:
    from hufen.org.models import Dealer


def dealer_queryset_for(actor: Actor) -> models.QuerySet[Dealer]:
    Dealer = apps.get_model("org", "Dealer")
    scope = actor.scope
    qs: models.QuerySet[Any] = Dealer.objects.all()
    if scope == Scope.ALL:
        return qs
    if scope == Scope.REGION:
        return qs.filter(region_id=actor.region_id)
    if scope in (Scope.DEALER, Scope.GRID):
        return qs.filter(id=actor.dealer_id)
    if scope == Scope.BRAND:
        return qs.filter(brands__id__in=actor.brand_ids).distinct()
    return qs.none()


def _persons_of_dealers(dealer_ids: models.QuerySet[Any], *, bulk: bool) -> models.Q:
    """Persons linked to the dealers by a purchase, a service visit or a current grid assignment.

    Two equivalent forms, for two access patterns (measured at 1M persons, benchmarks/scope_queries.py):
    - correlated EXISTS for pages and lookups: a first page probes a few persons through the person
      indexes (region search ~450 ms with IN → ~5-80 ms);
    - `id IN (...)` for aggregates over the whole scope (counts, charts): the linked ids are read once
      instead of probing every person (region home figures ~75 s with EXISTS → ~5 s on SQLite).
    """
    Ownership = apps.get_model("people", "Ownership")
    ServiceVisit = apps.get_model("people", "ServiceVisit")
    ButlerAssignment = apps.get_model("people", "ButlerAssignment")
    sources = [
        Ownership.objects.filter(dealer_id__in=dealer_ids),
        ServiceVisit.objects.filter(dealer_id__in=dealer_ids),
        ButlerAssignment.objects.filter(grid__dealer_id__in=dealer_ids, ended_at__isnull=True),
    ]
    condition = models.Q(pk__in=[])
    for source in sources:
        if bulk:
            condition |= models.Q(id__in=source.values("person_id"))
        else:
            condition |= models.Q(models.Exists(source.filter(person_id=models.OuterRef("pk"))))
    return condition


def person_scope(actor: Actor, *, bulk: bool = False) -> models.Q | None:
    """The condition on Person for the actor's scope; None means everything."""
    scope = actor.scope
    if scope == Scope.ALL:
        return None
    if scope == Scope.GRID:
        ButlerAssignment = apps.get_model("people", "ButlerAssignment")
        mine = ButlerAssignment.objects.filter(butler_id=actor.staff_id, ended_at__isnull=True)
        return models.Q(id__in=mine.values("person_id"))
    if scope in (Scope.REGION, Scope.DEALER, Scope.BRAND):
        return _persons_of_dealers(dealer_queryset_for(actor).values("id"), bulk=bulk)
    if scope == Scope.SELF:
        return models.Q(pk=actor.person_id)
    return models.Q(pk__in=[])


class PersonQuerySet(models.QuerySet[Any]):
    def visible_to(self, actor: Actor) -> PersonQuerySet:
        """For pages and lookups."""
        condition = person_scope(actor)
        return self if condition is None else self.filter(condition)

    def visible_to_in_bulk(self, actor: Actor) -> PersonQuerySet:
        """The same persons, shaped for aggregating the whole scope or nesting in another filter."""
        condition = person_scope(actor, bulk=True)
        return self if condition is None else self.filter(condition)


def _visible_person_ids(actor: Actor) -> models.QuerySet[Any]:
    Person = apps.get_model("people", "Person")
    return Person.objects.visible_to_in_bulk(actor).values("id")


class VehicleQuerySet(models.QuerySet[Any]):
    def visible_to(self, actor: Actor) -> VehicleQuerySet:
        if actor.scope == Scope.ALL:
            return self
        Ownership = apps.get_model("people", "Ownership")
        owned = Ownership.objects.filter(person_id__in=_visible_person_ids(actor))
        return self.filter(id__in=owned.values("vehicle_id"))


class OwnershipQuerySet(models.QuerySet[Any]):
    def visible_to(self, actor: Actor) -> OwnershipQuerySet:
        if actor.scope == Scope.ALL:
            return self
        return self.filter(person_id__in=_visible_person_ids(actor))


class HouseholdQuerySet(models.QuerySet[Any]):
    def visible_to(self, actor: Actor) -> HouseholdQuerySet:
        if actor.scope == Scope.ALL:
            return self
        Person = apps.get_model("people", "Person")
        return self.filter(id__in=Person.objects.visible_to_in_bulk(actor).values("household_id"))

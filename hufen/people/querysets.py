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


def _persons_of_dealers(dealer_ids: models.QuerySet[Any]) -> models.Q:
    Ownership = apps.get_model("people", "Ownership")
    ServiceVisit = apps.get_model("people", "ServiceVisit")
    ButlerAssignment = apps.get_model("people", "ButlerAssignment")
    return (
        models.Q(id__in=Ownership.objects.filter(dealer_id__in=dealer_ids).values("person_id"))
        | models.Q(id__in=ServiceVisit.objects.filter(dealer_id__in=dealer_ids).values("person_id"))
        | models.Q(
            id__in=ButlerAssignment.objects.filter(grid__dealer_id__in=dealer_ids, ended_at__isnull=True).values(
                "person_id"
            )
        )
    )


class PersonQuerySet(models.QuerySet[Any]):
    def visible_to(self, actor: Actor) -> PersonQuerySet:
        scope = actor.scope
        if scope == Scope.ALL:
            return self
        if scope == Scope.GRID:
            ButlerAssignment = apps.get_model("people", "ButlerAssignment")
            mine = ButlerAssignment.objects.filter(butler_id=actor.staff_id, ended_at__isnull=True)
            return self.filter(id__in=mine.values("person_id"))
        if scope in (Scope.REGION, Scope.DEALER, Scope.BRAND):
            dealers = dealer_queryset_for(actor).values("id")
            return self.filter(_persons_of_dealers(dealers))
        return self.none()


class VehicleQuerySet(models.QuerySet[Any]):
    def visible_to(self, actor: Actor) -> VehicleQuerySet:
        if actor.scope == Scope.ALL:
            return self
        Person = apps.get_model("people", "Person")
        Ownership = apps.get_model("people", "Ownership")
        persons = Person.objects.visible_to(actor).values("id")
        return self.filter(id__in=Ownership.objects.filter(person_id__in=persons).values("vehicle_id"))


class OwnershipQuerySet(models.QuerySet[Any]):
    def visible_to(self, actor: Actor) -> OwnershipQuerySet:
        if actor.scope == Scope.ALL:
            return self
        Person = apps.get_model("people", "Person")
        return self.filter(person_id__in=Person.objects.visible_to(actor).values("id"))


class HouseholdQuerySet(models.QuerySet[Any]):
    def visible_to(self, actor: Actor) -> HouseholdQuerySet:
        if actor.scope == Scope.ALL:
            return self
        Person = apps.get_model("people", "Person")
        return self.filter(id__in=Person.objects.visible_to(actor).values("household_id"))

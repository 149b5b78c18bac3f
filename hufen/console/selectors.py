"""Console read shapes: rows and panels built on the core selectors and scoped querysets.

Each function takes objects that a scoped selector already returned (or the actor), and fetches
what a page needs about them in a fixed number of queries, so pages stay N+1-free.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import Count
from django.utils import timezone

from hufen.common.actors import Actor, Role, Scope
from hufen.common.pii import mask_name, mask_phone
from hufen.console.labels import ROLE_LABELS, label
from hufen.org.models import Dealer, Grid, Staff
from hufen.org.selectors import dealer_list, dealer_staff_counts
from hufen.people.models import Ownership, Person
from hufen.people.selectors import HomeFigures, home_figures, person_search

# Home figures and dealer owner counts aggregate the actor's whole scope (a million persons for HQ):
# computed at most this often per scope, not on every visit.
AGGREGATE_SECONDS = 120

# --- header -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffHeader:
    name: str
    role: str
    scope: str  # the region, dealer or grids the actor's data scope covers; "" for all data
    dealer_code: str = ""  # the actor's own dealer, for the "My dealer" menu entry


def staff_header(actor: Actor) -> StaffHeader:
    role = label(ROLE_LABELS, actor.role)
    staff = None
    if actor.staff_id is not None:
        staff = Staff.objects.select_related("region", "dealer").filter(pk=actor.staff_id).first()
    if staff is None:
        return StaffHeader(name=actor.label, role=role, scope="")
    scope = ""
    if actor.scope == Scope.REGION and staff.region:
        scope = staff.region.name
    elif actor.scope == Scope.DEALER and staff.dealer:
        scope = f"{staff.dealer.code} {staff.dealer.name}"
    elif actor.scope == Scope.GRID and staff.dealer:
        grids = list(Grid.objects.filter(butler_id=staff.pk).values_list("name", flat=True))
        scope = " · ".join([f"{staff.dealer.code} {staff.dealer.name}", *grids])
    dealer_code = staff.dealer.code if staff.dealer else ""
    return StaffHeader(name=staff.name, role=role, scope=scope, dealer_code=dealer_code)


# --- home ---------------------------------------------------------------------------------------


def scope_key(actor: Actor) -> str:
    """Actors with equal keys see exactly the same persons (what `visible_to` depends on)."""
    scope = actor.scope
    if scope == Scope.REGION:
        return f"region:{actor.region_id}"
    if scope == Scope.DEALER:
        return f"dealer:{actor.dealer_id}"
    if scope == Scope.GRID:
        return f"grid:{actor.staff_id}"
    if scope == Scope.BRAND:
        return "brand:" + ",".join(str(b) for b in sorted(actor.brand_ids))
    return str(scope)


def home_figures_cached(*, actor: Actor) -> tuple[HomeFigures, dt.datetime]:
    """The actor's home figures and when they were counted, shared by actors of the same scope."""
    key = f"console:home-figures:{scope_key(actor)}"
    hit = cache.get(key)
    if hit is None:
        hit = (home_figures(actor=actor), timezone.now())
        cache.set(key, hit, AGGREGATE_SECONDS)
    figures, as_of = hit
    return figures, as_of


# --- persons ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DealerRef:
    code: str
    name: str


@dataclass(frozen=True)
class PersonRow:
    """One person in a list or an export: masked, never in clear."""

    id: int
    name: str
    phone: str
    city: str
    vehicles: list[str] = field(default_factory=list)
    dealers: list[DealerRef] = field(default_factory=list)


def person_rows(persons: Sequence[Person]) -> list[PersonRow]:
    """Rows for persons that a scoped selector returned, with their current vehicles and dealers."""
    ids = [p.pk for p in persons]
    vehicles: dict[int, list[str]] = defaultdict(list)
    dealers: dict[int, dict[str, DealerRef]] = defaultdict(dict)
    current = (
        Ownership.objects.filter(person_id__in=ids, ended_at__isnull=True)
        .select_related("vehicle__model", "dealer")
        .order_by("person_id", "-delivered_at")
    )
    for o in current:
        vehicles[o.person_id].append(o.vehicle.model.series)
        if o.dealer:
            dealers[o.person_id].setdefault(o.dealer.code, DealerRef(code=o.dealer.code, name=o.dealer.name))
    return [
        PersonRow(
            id=p.pk,
            name=mask_name(p.name),
            phone=mask_phone(p.phone),
            city=p.city,
            vehicles=vehicles[p.pk],
            dealers=list(dealers[p.pk].values()),
        )
        for p in persons
    ]


def person_rows_for_export(*, actor: Actor, query: str, limit: int, chunk: int = 1000) -> Iterator[PersonRow]:
    """Rows of a search, at most `limit`, fetched in keyset chunks so memory stays flat."""
    qs = person_search(actor=actor, query=query).only("id", "name", "phone", "city")
    last = 0
    left = limit
    while left > 0:
        batch = list(qs.filter(pk__gt=last)[: min(chunk, left)])
        if not batch:
            return
        yield from person_rows(batch)
        last = batch[-1].pk
        left -= len(batch)


# --- dealers ------------------------------------------------------------------------------------


def dealer_owner_counts(*, actor: Actor, dealer_ids: Sequence[int]) -> dict[int, int]:
    """Persons with a current ownership sold at each dealer, as far as the actor may see them."""
    ids = sorted(dealer_ids)
    if not ids:
        return {}
    key = f"console:dealer-owners:{scope_key(actor)}:{','.join(map(str, ids))}"
    counts: dict[int, int] | None = cache.get(key)
    if counts is None:
        rows = (
            Ownership.objects.visible_to(actor)
            .filter(dealer_id__in=ids, ended_at__isnull=True)
            .values("dealer_id")
            .annotate(n=Count("person_id", distinct=True))
            .order_by()
        )
        counts = {r["dealer_id"]: r["n"] for r in rows}
        cache.set(key, counts, AGGREGATE_SECONDS)
    return counts


@dataclass(frozen=True)
class GridRow:
    name: str
    districts: list[str]
    butler: str


@dataclass(frozen=True)
class DealerPage:
    dealer: Dealer
    owners: int
    staff_counts: list[tuple[str, int]]
    grids: list[GridRow]


def dealer_page(*, actor: Actor, dealer: Dealer) -> DealerPage:
    """What the dealer page shows about a dealer that `dealer_get` returned for the actor."""
    counts = dealer_staff_counts(actor=actor, dealer=dealer)
    order = [Role.DEALER_MANAGER, Role.BUTLER]
    staff_counts = [(label(ROLE_LABELS, r), counts[r]) for r in order if r in counts]
    staff_counts += [(label(ROLE_LABELS, r), n) for r, n in sorted(counts.items()) if r not in order]
    grids = [
        GridRow(name=g.name, districts=list(g.districts or []), butler=g.butler.name if g.butler else "")
        for g in Grid.objects.filter(dealer=dealer).select_related("butler").order_by("name")
    ]
    owners = dealer_owner_counts(actor=actor, dealer_ids=[dealer.pk]).get(dealer.pk, 0)
    return DealerPage(dealer=dealer, owners=owners, staff_counts=staff_counts, grids=grids)


def visible_dealer_codes(*, actor: Actor, dealer_ids: Sequence[int]) -> set[str]:
    """Which of these dealers the actor may open (to link only to pages that will not 404)."""
    if not dealer_ids:
        return set()
    visible = dealer_list(actor=actor).prefetch_related(None).filter(id__in=list(dealer_ids))
    return set(visible.values_list("code", flat=True))

"""Segments of a brand's members for issuing coupons: the filters (`Segment`), their live members,
and saved segments that HQ — or a region or dealer manager, within its own data scope — names once
and reuses (`coupons_issue_to_saved_segment` in coupons.py).

A saved segment keeps the scope it was saved in: a dealer's segment only ever reaches the members
that dealer can see, whoever later issues to it, and a dealer cannot name another dealer's code.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from hufen.common.actors import Actor, Role, Scope
from hufen.common.audit import audit
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.events import publish
from hufen.common.models import DomainEvent
from hufen.membership.models import Member
from hufen.membership.selectors import members_visible_to
from hufen.org.models import Brand, Dealer
from hufen.partners.models import SavedSegment
from hufen.people.models import Ownership, VehicleModel
from hufen.people.querysets import dealer_queryset_for

SEGMENT_ROLES = frozenset({Role.HQ_ADMIN, Role.HQ_OPERATOR, Role.SYSTEM, Role.REGION_MANAGER, Role.DEALER_MANAGER})
MAX_ACTIVE_DAYS = 366


@dataclass(frozen=True)
class Segment:
    """Which members of a brand: every filter given must hold (empty = all).

    - `min_tier_rank`: the member's tier rank at least this;
    - `cities`: the person's city (e.g. "杭州市");
    - `series`: the person currently owns a car of one of these series of the brand (e.g. "星河 S7");
    - `dealer_codes`: the person's current car was delivered by one of these dealers;
    - `member_since`: joined the programme on or before this day (brand time zone);
    - `active_within_days`: did something themselves in the last N days — a business fact in ONE DATA
      from a channel other than the platform's own jobs (a check-in, a perk, a redeemed coupon ...).
    """

    min_tier_rank: int = 0
    cities: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    dealer_codes: tuple[str, ...] = ()
    member_since: dt.date | None = None
    active_within_days: int | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "min_tier_rank": self.min_tier_rank,
            "cities": list(self.cities),
            "series": list(self.series),
            "dealer_codes": list(self.dealer_codes),
            "member_since": self.member_since.isoformat() if self.member_since else None,
            "active_within_days": self.active_within_days,
        }


def _whole(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FieldError(
            field, _("must be a whole number from %(low)d to %(high)d") % {"low": low, "high": high}, value
        )
    return value


def segment_members(
    *, actor: Actor, brand: Brand, segment: Segment, now: dt.datetime | None = None
) -> QuerySet[Member]:
    """The segment's active members among those `actor` may see, checked against the brand's
    catalogue: an unknown series or dealer code is an error naming it (a typo must not silently
    reach nobody), and a dealer code outside the actor's dealers is refused."""
    _whole(segment.min_tier_rank, "min_tier_rank", 0, 100)
    members = members_visible_to(actor).filter(
        program__brand_id=brand.pk, status="active", tier__rank__gte=segment.min_tier_rank
    )
    if segment.cities:
        cities = [c.strip() for c in segment.cities if c.strip()]
        if len(cities) != len(segment.cities):
            raise FieldError("cities", _("must not contain empty names"))
        members = members.filter(person__city__in=cities)
    current = Ownership.objects.filter(ended_at__isnull=True, vehicle__model__brand_id=brand.pk)
    if segment.series:
        known = set(
            VehicleModel.objects.filter(brand_id=brand.pk, series__in=segment.series).values_list("series", flat=True)
        )
        unknown = [s for s in segment.series if s not in known]
        if unknown:
            raise FieldError("series", _("not a series of this brand: %(names)s") % {"names": ", ".join(unknown)})
        current = current.filter(vehicle__model__series__in=segment.series)
    if segment.dealer_codes:
        known = set(Dealer.objects.filter(code__in=segment.dealer_codes).values_list("code", flat=True))
        unknown = [c for c in segment.dealer_codes if c not in known]
        if unknown:
            raise FieldError("dealer_codes", _("unknown dealer: %(codes)s") % {"codes": ", ".join(unknown)})
        mine = set(dealer_queryset_for(actor).filter(code__in=segment.dealer_codes).values_list("code", flat=True))
        outside = [c for c in segment.dealer_codes if c not in mine]
        if outside:
            raise FieldError("dealer_codes", _("outside your data scope: %(codes)s") % {"codes": ", ".join(outside)})
        current = current.filter(dealer__code__in=segment.dealer_codes)
    if segment.series or segment.dealer_codes:
        members = members.filter(person_id__in=current.values("person_id"))
    if segment.member_since is not None:
        if not isinstance(segment.member_since, dt.date):
            raise FieldError("member_since", _("must be a date"))
        end = dt.datetime.combine(segment.member_since + dt.timedelta(days=1), dt.time(), tzinfo=_zone(brand))
        members = members.filter(joined_at__lt=end)
    if segment.active_within_days is not None:
        days = _whole(segment.active_within_days, "active_within_days", 1, MAX_ACTIVE_DAYS)
        since = (now or timezone.now()) - dt.timedelta(days=days)
        active = DomainEvent.objects.filter(ts__gte=since, person_id__isnull=False).exclude(channel="system")
        members = members.filter(person_id__in=active.values("person_id"))
    return members


def _zone(brand: Brand) -> dt.tzinfo:
    return zoneinfo.ZoneInfo(brand.time_zone)


# --- saved segments ---------------------------------------------------------------------------------


def _require_segment_staff(actor: Actor) -> None:
    if actor.role not in SEGMENT_ROLES or actor.scope == Scope.NONE:
        raise PermissionDenied(_("only HQ, region and dealer managers keep member segments"))


def segments_visible_to(actor: Actor) -> QuerySet[SavedSegment]:
    """HQ all; a region manager the segments saved in its region or by its dealers; a dealer
    manager its dealer's; nobody else any."""
    qs = SavedSegment.objects.filter(archived=False).select_related("brand")
    if actor.role not in SEGMENT_ROLES:
        return qs.none()
    if actor.scope == Scope.ALL:
        return qs
    if actor.scope == Scope.REGION:
        dealers = dealer_queryset_for(actor).values("id")
        return qs.filter(Q(owner_region_id=actor.region_id) | Q(owner_dealer_id__in=dealers))
    if actor.scope == Scope.DEALER:
        return qs.filter(owner_dealer_id=actor.dealer_id)
    return qs.none()


def segment_get(*, actor: Actor, segment_id: int) -> SavedSegment:
    segment = segments_visible_to(actor).filter(pk=segment_id).first()
    if segment is None:
        raise NotFound(_("segment %(id)s does not exist or is outside your data scope") % {"id": segment_id})
    return segment


def filters_of(saved: SavedSegment) -> Segment:
    return Segment(
        min_tier_rank=saved.min_tier_rank,
        cities=tuple(saved.cities),
        series=tuple(saved.series),
        dealer_codes=tuple(saved.dealer_codes),
        member_since=saved.member_since,
        active_within_days=saved.active_within_days,
    )


def owner_scope(saved: SavedSegment) -> Actor | None:
    """The data scope the segment was saved in, as an actor to intersect with (None: HQ's, all)."""
    if saved.owner_dealer_id is not None:
        return Actor(
            kind="system", role=Role.DEALER_MANAGER, label=f"segment:{saved.pk}", dealer_id=saved.owner_dealer_id
        )
    if saved.owner_region_id is not None:
        return Actor(
            kind="system", role=Role.REGION_MANAGER, label=f"segment:{saved.pk}", region_id=saved.owner_region_id
        )
    return None


def saved_segment_members(*, actor: Actor, saved: SavedSegment, now: dt.datetime | None = None) -> QuerySet[Member]:
    """The saved segment's members now: its filters, within the actor's scope and the scope it was
    saved in."""
    members = segment_members(actor=actor, brand=saved.brand, segment=filters_of(saved), now=now)
    owner = owner_scope(saved)
    if owner is not None:
        members = members.filter(person_id__in=members_visible_to(owner).values("person_id"))
    return members


def segment_count(*, actor: Actor, saved: SavedSegment, now: dt.datetime | None = None) -> int:
    segment_get(actor=actor, segment_id=saved.pk)
    return saved_segment_members(actor=actor, saved=saved, now=now).count()


@transaction.atomic
def segment_save(*, actor: Actor, brand: Brand, name: str, segment: Segment) -> tuple[SavedSegment, int]:
    """Save a named segment of `brand` in the actor's scope; returns it with its live count."""
    _require_segment_staff(actor)
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise FieldError("name", _("is required (at most 60 characters)"), name)
    count = segment_members(actor=actor, brand=brand, segment=segment).count()  # validates every filter
    scoped = actor.scope != Scope.ALL
    try:
        with transaction.atomic():
            saved = SavedSegment.objects.create(
                brand=brand,
                name=name,
                min_tier_rank=segment.min_tier_rank,
                cities=list(segment.cities),
                series=list(segment.series),
                dealer_codes=list(segment.dealer_codes),
                member_since=segment.member_since,
                active_within_days=segment.active_within_days,
                owner_region_id=actor.region_id if scoped and actor.scope == Scope.REGION else None,
                owner_dealer_id=actor.dealer_id if scoped and actor.scope == Scope.DEALER else None,
                created_by=actor.label[:150],
            )
    except IntegrityError as exc:
        raise FieldError("name", _("a segment named %(name)s already exists for this brand") % {"name": name}) from exc
    summary = {"brand": brand.code, "name": name, "count": count, **segment.describe()}
    audit(actor=actor, action="segment.save", obj_type="segment", obj_id=saved.pk, summary=summary)
    publish("segment_saved", properties={"segment_id": saved.pk, **summary})
    return saved, count


@transaction.atomic
def segment_archive(*, actor: Actor, segment_id: int) -> SavedSegment:
    _require_segment_staff(actor)
    saved = segment_get(actor=actor, segment_id=segment_id)
    saved.archived = True
    saved.save(update_fields=["archived", "updated_at"])
    audit(actor=actor, action="segment.archive", obj_type="segment", obj_id=saved.pk, summary={"name": saved.name})
    return saved

"""Portal reads: everything about the signed-in member and nobody else.

Each read starts from `request.member` (the session's member) and checks it against the actor's own
scope (`members_visible_to`, Scope.SELF), so a forged id in a URL can only ever find the member's own
rows or nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet, Sum
from django.utils import timezone

from hufen.common.actors import Actor, Scope
from hufen.common.errors import NotFound, PermissionDenied
from hufen.common.pii import mask_name
from hufen.membership.models import BenefitItem, Member, PointsEntry, PointsLot, Redemption, TierDefinition
from hufen.membership.reasons import REASONS
from hufen.membership.selectors import members_visible_to
from hufen.people.models import Ownership
from hufen.portal.models import ProgramConsent, SmsMessage

# Lots expiring within this many days are highlighted on the points page.
EXPIRING_SOON_DAYS = 60


def own_member(*, actor: Actor, member: Member) -> Member:
    """The member, if it is the actor's own; every portal read goes through this check."""
    if actor.member_id != member.pk:
        raise PermissionDenied(f"{actor.label} is not member {member.pk}")
    found = (
        members_visible_to(actor)
        .filter(pk=member.pk)
        .select_related("program__brand", "tier", "person", "account")
        .first()
    )
    if found is None:
        raise NotFound(f"member {member.pk} does not exist or is outside your data scope")
    return found


@dataclass(frozen=True)
class VehicleRow:
    vehicle_id: int
    series: str
    model: str
    plate: str
    colour: str
    brand: str


@dataclass(frozen=True)
class MemberCard:
    number: str
    masked_name: str
    tier_code: str
    tier_name: str
    next_tier_name: str
    balance: int
    program_name: str
    brand_name: str
    joined_at: dt.datetime
    status: str
    vehicles: list[VehicleRow]


def member_card(*, actor: Actor, member: Member) -> MemberCard:
    member = own_member(actor=actor, member=member)
    balance = member.account.balance if hasattr(member, "account") else 0
    next_tier = TierDefinition.objects.filter(program_id=member.program_id, rank__gt=member.tier.rank).order_by("rank")
    owned = (
        Ownership.objects.visible_to(actor)
        .filter(person_id=member.person_id, ended_at__isnull=True)
        .select_related("vehicle__model__brand")
        .order_by("-delivered_at", "-id")
    )
    vehicles = [
        VehicleRow(
            vehicle_id=o.vehicle_id,
            series=o.vehicle.model.series,
            model=o.vehicle.model.name,
            plate=o.vehicle.plate or "",
            colour=o.vehicle.colour,
            brand=o.vehicle.model.brand.name,
        )
        for o in owned
    ]
    upcoming = next_tier.first()
    return MemberCard(
        number=member.number,
        masked_name=mask_name(member.person.name),
        tier_code=member.tier.code,
        tier_name=member.tier.name,
        next_tier_name=upcoming.name if upcoming else "",
        balance=balance,
        program_name=member.program.name,
        brand_name=member.program.brand.name,
        joined_at=member.joined_at,
        status=member.status,
        vehicles=vehicles,
    )


def reason_label(code: str) -> str:
    reason = REASONS.get(code)
    return reason.label if reason else code


def points_entries(*, actor: Actor, member: Member) -> QuerySet[PointsEntry]:
    """The member's ledger, newest first (paged by id, keyset)."""
    member = own_member(actor=actor, member=member)
    return PointsEntry.objects.filter(account__member=member).order_by("-id")


@dataclass(frozen=True)
class ExpiringLot:
    remaining: int
    expires_at: dt.datetime


def lots_expiring_soon(*, actor: Actor, member: Member, now: dt.datetime | None = None) -> list[ExpiringLot]:
    member = own_member(actor=actor, member=member)
    now = now or timezone.now()
    rows = PointsLot.objects.filter(
        account__member=member,
        remaining__gt=0,
        expires_at__gt=now,
        expires_at__lte=now + dt.timedelta(days=EXPIRING_SOON_DAYS),
    ).order_by("expires_at", "id")
    return [ExpiringLot(remaining=r.remaining, expires_at=r.expires_at) for r in rows]


def expiring_entry_ids(
    *, actor: Actor, member: Member, entry_ids: list[int], now: dt.datetime | None = None
) -> set[int]:
    """Which of these award entries still hold points that expire within EXPIRING_SOON_DAYS."""
    member = own_member(actor=actor, member=member)
    now = now or timezone.now()
    rows = PointsLot.objects.filter(
        account__member=member,
        entry_id__in=entry_ids,
        remaining__gt=0,
        expires_at__gt=now,
        expires_at__lte=now + dt.timedelta(days=EXPIRING_SOON_DAYS),
    ).values_list("entry_id", flat=True)
    return set(rows)


@dataclass(frozen=True)
class CatalogueRow:
    item: BenefitItem
    locked: bool  # the member's tier is below the item's
    needs_tier: str
    available: bool  # in stock, in its validity window
    affordable: bool
    limit_left: int | None  # None: no per-member limit


def benefit_catalogue(*, actor: Actor, member: Member, now: dt.datetime | None = None) -> list[CatalogueRow]:
    """The program's active items, each marked locked / out of stock / affordable for this member."""
    member = own_member(actor=actor, member=member)
    now = now or timezone.now()
    balance = member.account.balance if hasattr(member, "account") else 0
    items = list(
        BenefitItem.objects.filter(program_id=member.program_id, active=True)
        .exclude(valid_until__lte=now)
        .select_related("min_tier")
        .order_by("points_price", "id")
    )
    taken = dict(
        Redemption.objects.filter(member=member, item__in=items)
        .exclude(status="cancelled")
        .values_list("item_id")
        .annotate(s=Sum("quantity"))
        .values_list("item_id", "s")
    )
    rows = []
    for item in items:
        locked = item.min_tier is not None and item.min_tier.rank > member.tier.rank
        started = item.valid_from is None or item.valid_from <= now
        limit_left = None
        if item.per_member_limit is not None:
            limit_left = max(0, item.per_member_limit - int(taken.get(item.pk) or 0))
        rows.append(
            CatalogueRow(
                item=item,
                locked=locked,
                needs_tier=item.min_tier.name if item.min_tier else "",
                available=item.stock > 0 and started,
                affordable=balance >= item.points_price,
                limit_left=limit_left,
            )
        )
    return rows


def catalogue_item(*, actor: Actor, member: Member, item_id: int) -> CatalogueRow:
    """One item of the member's own program (another brand's item is not found)."""
    for row in benefit_catalogue(actor=actor, member=member):
        if row.item.pk == item_id:
            return row
    raise NotFound(f"benefit {item_id} is not offered in your program")


def my_redemptions(*, actor: Actor, member: Member) -> QuerySet[Redemption]:
    member = own_member(actor=actor, member=member)
    return Redemption.objects.filter(member=member).select_related("item").order_by("-id")


def my_redemption(*, actor: Actor, member: Member, redemption_id: int) -> Redemption:
    redemption = my_redemptions(actor=actor, member=member).filter(pk=redemption_id).first()
    if redemption is None:
        raise NotFound(f"redemption {redemption_id} does not exist or is not yours")
    return redemption


def sms_outbox_page(*, actor: Actor, before: int | None, size: int) -> list[SmsMessage]:
    """Newest first, keyset-paged: HQ only (the demo's gateway shows codes in clear)."""
    if actor.scope != Scope.ALL:
        raise PermissionDenied(f"{actor.label} may not read the SMS outbox")
    qs = SmsMessage.objects.order_by("-id")
    if before is not None:
        qs = qs.filter(id__lt=before)
    return list(qs[:size])


def member_consents(*, actor: Actor, member: Member) -> list[ProgramConsent]:
    """A member's consents to its program's terms, newest first, for staff who may see the member
    (console member page). Scoped by construction: a member outside the actor's scope has none."""
    if not actor.has_perm("membership.view"):
        raise PermissionDenied(f"{actor.label} may not membership.view")
    return list(
        ProgramConsent.objects.filter(
            person_id=member.person_id,
            brand_id=member.program.brand_id,
            person_id__in=members_visible_to(actor).filter(pk=member.pk).values("person_id"),
        ).order_by("-accepted_at", "-id")
    )

"""Members and tiers: joining, tier upgrades on award, the tier review job.

The ledger's writes live in ledger.py and the catalogue's in benefits.py (split to keep files small).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from hufen.common.actors import Actor
from hufen.common.audit import audit
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.events import publish
from hufen.membership.models import Member, PointsAccount, PointsEntry, Program, TierDefinition, TierHistory
from hufen.membership.programs import program_for_brand, qualifying_window
from hufen.org.models import Brand
from hufen.people.models import Person

CHANNELS = frozenset({"api", "h5", "import", "dealer", "console", "app", "wechat"})


@transaction.atomic
def member_join(*, actor: Actor, person: Person, brand: Brand, channel: str) -> Member:
    """Enrol `person` in `brand`'s program. Joining again returns the existing member."""
    if not actor.has_perm("membership.join"):
        raise PermissionDenied(f"{actor.label} may not enrol members")
    if channel not in CHANNELS:
        raise FieldError("channel", f"must be one of {', '.join(sorted(CHANNELS))}")
    if not Person.objects.visible_to(actor).filter(pk=person.pk).exists():
        raise NotFound(f"person {person.pk} does not exist or is outside your data scope")
    if person.status != "active":
        raise FieldError("person", f"person {person.pk} is {person.status}")
    program = program_for_brand(brand)
    existing = Member.objects.filter(program=program, person=person).first()
    if existing is not None:
        return existing
    # The program row hands out member numbers; locking it also queues concurrent joins of one person.
    program = Program.objects.select_for_update().get(pk=program.pk)
    existing = Member.objects.filter(program=program, person=person).first()
    if existing is not None:
        return existing
    number = f"{program.number_prefix}{program.next_number:09d}"
    program.next_number += 1
    program.save(update_fields=["next_number"])
    entry_tier = TierDefinition.objects.filter(program=program).order_by("rank").first()
    if entry_tier is None:
        raise FieldError("brand", f"program {program.name} has no tiers")
    now = timezone.now()
    try:
        with transaction.atomic():
            member = Member.objects.create(
                program=program, person=person, number=number, tier=entry_tier, channel=channel, joined_at=now
            )
    except IntegrityError:
        return Member.objects.get(program=program, person=person)
    PointsAccount.objects.create(member=member)
    TierHistory.objects.create(member=member, to_tier=entry_tier, reason="join", changed_at=now)
    audit(actor=actor, action="member.join", obj_type="member", obj_id=member.pk, summary={"number": number})
    publish(
        "member_joined",
        person_id=person.pk,
        channel=channel,
        properties={"member_id": member.pk, "member_number": number, "brand": brand.code},
    )
    return member


def qualifying_points(member: Member, *, as_of: dt.datetime, review: bool = False) -> int:
    """Points earned in the qualifying window, net of reversed awards."""
    start, end = qualifying_window(member.program, as_of, review=review)
    window = PointsEntry.objects.filter(account__member=member, created_at__gte=start, created_at__lt=end)
    earned = window.filter(kind="award").aggregate(s=Sum("amount"))["s"] or 0
    reversed_awards = window.filter(kind="reverse", reverses__kind="award").aggregate(s=Sum("amount"))["s"] or 0
    return int(earned + reversed_awards)


def tier_for(program: Program, points: int) -> TierDefinition:
    tier = TierDefinition.objects.filter(program=program, threshold__lte=points).order_by("-rank").first()
    if tier is None:
        raise FieldError("tier", f"program {program.name} has no entry tier")
    return tier


def _change_tier(
    *, actor: Actor, member: Member, to: TierDefinition, reason: str, points: int, now: dt.datetime
) -> None:
    before = member.tier
    member.tier = to
    member.save(update_fields=["tier"])
    TierHistory.objects.create(
        member=member, from_tier=before, to_tier=to, reason=reason, qualifying_points=points, changed_at=now
    )
    audit(
        actor=actor,
        action=f"member.tier_{reason}",
        obj_type="member",
        obj_id=member.pk,
        summary={"tier": {"before": before.code, "after": to.code}, "qualifying_points": points},
    )
    publish(
        "member_tier_changed",
        person_id=member.person_id,
        properties={"member_id": member.pk, "from": before.code, "to": to.code, "reason": reason},
    )


def member_upgrade_check(*, actor: Actor, member: Member, now: dt.datetime) -> None:
    """Upgrade at once when qualifying points cross a higher threshold; never downgrade here."""
    points = qualifying_points(member, as_of=now + dt.timedelta(microseconds=1))
    target = tier_for(member.program, points)
    # The caller's copy may be stale (another award or the review job moved the tier): decide on
    # the locked row, so an upgrade can never set a tier lower than the current one.
    fresh = Member.objects.select_for_update().select_related("tier").get(pk=member.pk)
    if target.rank > fresh.tier.rank:
        _change_tier(actor=actor, member=fresh, to=target, reason="upgrade", points=points, now=now)
        member.tier = target


@dataclass(frozen=True)
class ReviewResult:
    reviewed: int
    downgraded: int
    upgraded: int


def members_review_tiers(*, actor: Actor, as_of: dt.datetime) -> ReviewResult:
    """The review date's job: set each member's tier to what the qualifying period earned.

    Idempotent: a member already at the earned tier is left alone, so a second run changes nothing.
    """
    reviewed = downgraded = upgraded = 0
    for member_id in Member.objects.filter(status__in=["active", "frozen"]).values_list("id", flat=True).iterator():
        with transaction.atomic():
            member = Member.objects.select_for_update().select_related("program__brand", "tier").get(pk=member_id)
            points = qualifying_points(member, as_of=as_of, review=True)
            target = tier_for(member.program, points)
            reviewed += 1
            if target.rank < member.tier.rank:
                _change_tier(actor=actor, member=member, to=target, reason="review", points=points, now=as_of)
                downgraded += 1
            elif target.rank > member.tier.rank:
                _change_tier(actor=actor, member=member, to=target, reason="upgrade", points=points, now=as_of)
                upgraded += 1
    return ReviewResult(reviewed=reviewed, downgraded=downgraded, upgraded=upgraded)


@transaction.atomic
def member_set_status(*, actor: Actor, member: Member, status: str, reason: str) -> Member:
    if not actor.has_perm("membership.manage"):
        raise PermissionDenied(f"{actor.label} may not change a member's status")
    if status not in {"active", "frozen", "closed"}:
        raise FieldError("status", "must be active, frozen or closed")
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status == "closed":
        raise FieldError("status", "a closed membership cannot be changed")
    before = member.status
    member.status = status
    member.save(update_fields=["status"])
    audit(
        actor=actor,
        action="member.status",
        obj_type="member",
        obj_id=member.pk,
        summary={"status": {"before": before, "after": status}},
        reason=reason,
    )
    publish("member_status_changed", person_id=member.person_id, properties={"member_id": member.pk, "status": status})
    return member

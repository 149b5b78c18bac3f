"""Coupons on Member Day: HQ attaches a coupon batch to one Member Day or to every Member Day of the
batch's brand, and a job reacts to the `memberday_checked_in` business fact by issuing one coupon to
each member who checked in after the attachment was made (attach before the day to reach everyone).

The reaction reads the event outbox (`common.DomainEvent`, where memberday's check-in publishes in
its own transaction) by id behind a cursor. Ids are taken at insert but rows become visible at commit,
so a lower id can appear after a higher one: the cursor only moves past an id once `LOOKBACK` has
passed since it was seen, and every run re-reads the events after it. Re-reading is harmless: each
(batch, occurrence, member) gets one `MemberDayCouponGrant` row under a unique constraint, written in
the same transaction as the coupon, so replays and concurrent jobs issue once.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hufen.common.actors import SYSTEM, Actor
from hufen.common.audit import audit
from hufen.common.errors import FieldError, NotFound
from hufen.common.events import publish
from hufen.common.models import DomainEvent
from hufen.memberday.selectors import occurrence_get
from hufen.membership.models import Member
from hufen.membership.selectors import members_visible_to
from hufen.partners.coupons import _issue_one, _require_hq
from hufen.partners.models import CouponBatch, MemberDayCoupon, MemberDayCouponGrant, ReactionCursor

EVENT = "memberday_checked_in"
CURSOR = "memberday_coupons"
LOOKBACK = dt.timedelta(minutes=10)
READ_BATCH = 2_000


# --- attaching a batch to Member Day -------------------------------------------------------------


@transaction.atomic
def memberday_coupon_attach(
    *, actor: Actor, batch: CouponBatch, occurrence_id: int | None, min_tier_rank: int = 0
) -> MemberDayCoupon:
    """Every member who checks in on that Member Day (None: on every Member Day of the batch's brand)
    and is at or above `min_tier_rank` gets one coupon of `batch`, while the batch lasts."""
    _require_hq(actor)
    batch = CouponBatch.objects.select_for_update().select_related("brand").get(pk=batch.pk)
    if isinstance(min_tier_rank, bool) or not isinstance(min_tier_rank, int) or not 0 <= min_tier_rank <= 100:
        raise FieldError("min_tier_rank", _("must be a whole number from 0 to 100"), min_tier_rank)
    if occurrence_id is not None:
        try:
            occurrence = occurrence_get(actor=actor, occurrence_id=occurrence_id)
        except NotFound as exc:
            raise FieldError("occurrence", _("Member Day %(id)s does not exist") % {"id": occurrence_id}) from exc
        if occurrence.brand_id != batch.brand_id:
            raise FieldError("occurrence", _("this Member Day belongs to another brand than the batch"))
        if occurrence.ends_at <= batch.valid_from or occurrence.starts_at >= batch.valid_until:
            raise FieldError("occurrence", _("the batch is not valid on this Member Day"))
    live = MemberDayCoupon.objects.filter(batch=batch, occurrence_id=occurrence_id, active=True)
    if live.exists():
        raise FieldError("occurrence", _("this batch is already attached to that Member Day"))
    link = MemberDayCoupon.objects.create(
        batch=batch, occurrence_id=occurrence_id, min_tier_rank=min_tier_rank, created_by=actor.label[:150]
    )
    summary = {"batch_id": batch.pk, "occurrence_id": occurrence_id, "min_tier_rank": min_tier_rank}
    audit(actor=actor, action="memberday_coupon.attach", obj_type="memberday_coupon", obj_id=link.pk, summary=summary)
    publish("memberday_coupon_attached", properties={"link_id": link.pk, **summary})
    return link


@transaction.atomic
def memberday_coupon_detach(*, actor: Actor, link_id: int) -> MemberDayCoupon:
    """Stop issuing for this attachment; coupons already issued stay with their owners."""
    _require_hq(actor)
    link = MemberDayCoupon.objects.select_for_update().filter(pk=link_id, active=True).first()
    if link is None:
        raise NotFound(_("Member Day coupon %(id)s does not exist or was already stopped") % {"id": link_id})
    link.active = False
    link.save(update_fields=["active"])
    audit(
        actor=actor,
        action="memberday_coupon.detach",
        obj_type="memberday_coupon",
        obj_id=link.pk,
        summary={"batch_id": link.batch_id, "occurrence_id": link.occurrence_id},
    )
    publish("memberday_coupon_detached", properties={"link_id": link.pk, "batch_id": link.batch_id})
    return link


# --- the reaction ----------------------------------------------------------------------------------


@dataclass
class ReactionResult:
    events: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    already_decided: int = 0
    position: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "outcomes": dict(sorted(self.outcomes.items())),
            "already_decided": self.already_decided,
            "position": self.position,
        }


def memberday_coupons_issue(*, actor: Actor = SYSTEM, now: dt.datetime | None = None) -> ReactionResult:
    """Judge the check-ins published since the cursor against the live attachments. Safe to run
    twice, over the same events, and concurrently."""
    _require_hq(actor)
    now = now or timezone.now()
    cursor = _cursor_start(now)
    result = ReactionResult(position=cursor.position)
    links = list(MemberDayCoupon.objects.filter(active=True).select_related("batch"))
    highest = cursor.position
    last = cursor.position
    while True:
        events = list(
            DomainEvent.objects.filter(name=EVENT, id__gt=last)
            .order_by("id")
            .only("id", "event_id", "ts", "properties")[:READ_BATCH]
        )
        if not events:
            break
        last = highest = events[-1].pk
        result.events += len(events)
        if links:
            _judge(actor, events, links, now, result)
    _cursor_finish(cursor.pk, highest, now)
    return result


def _cursor_start(now: dt.datetime) -> ReactionCursor:
    with transaction.atomic():
        cursor, _created = ReactionCursor.objects.select_for_update().get_or_create(name=CURSOR)
        if cursor.pending_at is not None and cursor.pending_at <= now - LOOKBACK:
            cursor.position = max(cursor.position, cursor.pending_position)
            cursor.pending_at = None
            cursor.save(update_fields=["position", "pending_at", "updated_at"])
    return cursor


def _cursor_finish(cursor_id: int, highest: int, now: dt.datetime) -> None:
    with transaction.atomic():
        cursor = ReactionCursor.objects.select_for_update().get(pk=cursor_id)
        if cursor.pending_at is None and highest > cursor.position:
            cursor.pending_position = highest
            cursor.pending_at = now
            cursor.save(update_fields=["pending_position", "pending_at", "updated_at"])


def _links_for(
    links: list[MemberDayCoupon], event: DomainEvent, brand_id: int, occurrence_id: int
) -> list[MemberDayCoupon]:
    """The attachments a check-in earns: same brand, that Member Day (or every one), and made before
    the check-in — what counts never depends on when the job happens to run."""
    return [
        link
        for link in links
        if link.batch.brand_id == brand_id
        and link.occurrence_id in (None, occurrence_id)
        and link.created_at <= event.ts
    ]


def _judge(
    actor: Actor, events: list[DomainEvent], links: list[MemberDayCoupon], now: dt.datetime, result: ReactionResult
) -> None:
    facts: list[tuple[DomainEvent, int, int]] = []
    for event in events:
        props = event.properties if isinstance(event.properties, dict) else {}
        occurrence_id, member_id = props.get("occurrence_id"), props.get("member_id")
        if isinstance(occurrence_id, int) and isinstance(member_id, int):
            facts.append((event, occurrence_id, member_id))
    members = {
        m.pk: m
        for m in members_visible_to(SYSTEM)
        .filter(pk__in={member_id for _e, _o, member_id in facts})
        .select_related("program", "tier")
    }
    batch_ids = {link.batch_id for link in links}
    decided = set(
        MemberDayCouponGrant.objects.filter(
            batch_id__in=batch_ids,
            member_id__in={m for _e, _o, m in facts},
            occurrence_id__in={o for _e, o, _m in facts},
        ).values_list("batch_id", "occurrence_id", "member_id")
    )
    for event, occurrence_id, member_id in facts:
        member = members.get(member_id)
        if member is None:
            continue
        for link in _links_for(links, event, member.program.brand_id, occurrence_id):
            if (link.batch_id, occurrence_id, member_id) in decided:
                result.already_decided += 1
                continue
            outcome = _grant(actor, link, event, occurrence_id, member, now)
            if outcome is None:  # a concurrent job decided it first
                result.already_decided += 1
            else:
                result.outcomes[outcome] += 1
            decided.add((link.batch_id, occurrence_id, member_id))


def _grant(
    actor: Actor, link: MemberDayCoupon, event: DomainEvent, occurrence_id: int, member: Member, now: dt.datetime
) -> str | None:
    """One decision in its own transaction: the grant row claims (batch, occurrence, member) first,
    so a concurrent job waits on it and then finds it taken."""
    batch = link.batch
    if member.status != "active":
        outcome = "not_member"
    elif member.tier.rank < link.min_tier_rank:
        outcome = "below_tier"
    elif not batch.valid_from <= event.ts < batch.valid_until:
        outcome = "not_valid"
    else:
        outcome = "issued"
    try:
        with transaction.atomic():
            grant = MemberDayCouponGrant.objects.create(
                link=link,
                batch=batch,
                occurrence_id=occurrence_id,
                member_id=member.pk,
                event_id=str(event.event_id),
                outcome=outcome,
                created_at=now,
            )
            if outcome == "issued":
                try:
                    with transaction.atomic():
                        coupon = _issue_one(
                            actor,
                            batch,
                            member,
                            via="member_day",
                            key=f"member_day:{occurrence_id}:{member.pk}",
                            now=now,
                        )
                except FieldError:
                    grant.outcome = outcome = "out_of_stock"
                    grant.save(update_fields=["outcome"])
                else:
                    grant.coupon = coupon
                    grant.save(update_fields=["coupon"])
                    audit(
                        actor=actor,
                        action="coupon.issued_on_member_day",
                        obj_type="coupon",
                        obj_id=coupon.pk,
                        summary={"batch_id": batch.pk, "occurrence_id": occurrence_id, "member_id": member.pk},
                    )
    except IntegrityError:
        return None
    return outcome

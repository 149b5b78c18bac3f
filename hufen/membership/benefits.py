"""Benefits catalogue and redemption: points and stock are reserved together or not at all.

Lock order, the same in every write, so two writers never wait on each other in a circle:
benefit item row → redemption row → points account row.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from hufen.common.actors import Actor, Scope
from hufen.common.audit import audit
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.events import publish
from hufen.membership.errors import IdempotencyConflict
from hufen.membership.ledger import points_reverse, points_spend
from hufen.membership.models import BenefitItem, Member, Redemption, TierDefinition
from hufen.people.models import Person


def _require_in_scope(actor: Actor, member_id: int, person_id: int) -> None:
    """Redeeming acts on a member's points: only for members whose person the actor may see
    (a member actor: only their own membership)."""
    if actor.scope == Scope.ALL:
        return
    if actor.member_id is not None and actor.member_id != member_id:
        raise NotFound(f"member {member_id} does not exist or is outside your data scope")
    if not Person.objects.visible_to(actor).filter(pk=person_id).exists():
        raise NotFound(f"member {member_id} does not exist or is outside your data scope")


MAX_QUANTITY = 100


@transaction.atomic
def benefit_redeem(
    *,
    actor: Actor,
    member: Member,
    item: BenefitItem,
    quantity: int,
    idempotency_key: str,
    now: dt.datetime | None = None,
) -> Redemption:
    if not actor.has_perm("benefits.redeem"):
        raise PermissionDenied(f"{actor.label} may not redeem benefits")
    _require_in_scope(actor, member.pk, member.person_id)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise FieldError("quantity", f"must be a whole number from 1 to {MAX_QUANTITY}")
    key = (idempotency_key or "").strip()
    if not key or len(key) > 180:
        raise FieldError("idempotency_key", "must be 1 to 180 characters")
    item = BenefitItem.objects.select_for_update().get(pk=item.pk)
    first = Redemption.objects.filter(member=member, idempotency_key=key).first()
    if first is not None:
        if first.item_id != item.pk or first.quantity != quantity:
            raise IdempotencyConflict(key, f"idempotency key {key!r} was already used for another redemption")
        return first
    now = now or timezone.now()
    _check_redeemable(member, item, quantity, now)
    points = item.points_price * quantity
    spend = points_spend(
        actor=actor,
        member=member,
        amount=points,
        reason="redemption",
        idempotency_key=f"redemption:{key}",
        ref_type="benefit_item",
        ref_id=str(item.pk),
        now=now,
    )
    item.stock -= quantity
    item.save(update_fields=["stock"])
    redemption = Redemption.objects.create(
        member=member,
        item=item,
        quantity=quantity,
        points=points,
        cash_fen=item.cash_price_fen * quantity,
        spend_entry=spend,
        idempotency_key=key,
        created_at=now,
        updated_at=now,
    )
    audit(
        actor=actor,
        action="benefit.redeem",
        obj_type="redemption",
        obj_id=redemption.pk,
        summary={"item": item.code, "quantity": quantity, "points": points},
    )
    publish(
        "benefit_redeemed",
        person_id=member.person_id,
        properties={"member_id": member.pk, "redemption_id": redemption.pk, "item": item.code, "points": points},
    )
    return redemption


def _check_redeemable(member: Member, item: BenefitItem, quantity: int, now: dt.datetime) -> None:
    if item.program_id != member.program_id:
        raise FieldError("item", f"{item.code} belongs to another brand's program")
    if not item.active:
        raise FieldError("item", f"{item.code} is not offered")
    if item.valid_from and now < item.valid_from:
        raise FieldError("item", f"{item.code} can be redeemed from {item.valid_from:%Y-%m-%d}")
    if item.valid_until and now >= item.valid_until:
        raise FieldError("item", f"{item.code} expired on {item.valid_until:%Y-%m-%d}")
    if item.min_tier_id is not None:
        required = TierDefinition.objects.get(pk=item.min_tier_id)
        tier = TierDefinition.objects.get(pk=member.tier_id)
        if tier.rank < required.rank:
            raise FieldError("item", f"{item.code} needs tier {required.name} or higher")
    if item.stock < quantity:
        raise FieldError("quantity", f"only {item.stock} left in stock")
    if item.per_member_limit is not None:
        # Counted under the item's row lock, so concurrent redemptions cannot both slip under the limit.
        taken = (
            Redemption.objects.filter(member=member, item=item)
            .exclude(status="cancelled")
            .aggregate(s=Sum("quantity"))["s"]
            or 0
        )
        if taken + quantity > item.per_member_limit:
            raise FieldError("quantity", f"limit is {item.per_member_limit} per member; {taken} already redeemed")


@transaction.atomic
def redemption_cancel(*, actor: Actor, redemption: Redemption, reason: str = "") -> Redemption:
    """Give back both the points (to the lots they came from) and the stock. Cancelling twice is a no-op."""
    if not actor.has_perm("benefits.redeem"):
        raise PermissionDenied(f"{actor.label} may not cancel redemptions")
    _require_in_scope(actor, redemption.member_id, redemption.member.person_id)
    item = BenefitItem.objects.select_for_update().get(pk=redemption.item_id)
    redemption = Redemption.objects.select_for_update().get(pk=redemption.pk)
    if redemption.status == "cancelled":
        return redemption
    if redemption.status != "reserved":
        raise FieldError("status", f"a {redemption.status} redemption cannot be cancelled")
    points_reverse(
        actor=actor,
        entry=redemption.spend_entry,
        reason="redemption_cancelled",
        idempotency_key=f"redemption-cancel:{redemption.pk}",
    )
    item.stock += redemption.quantity
    item.save(update_fields=["stock"])
    redemption.status = "cancelled"
    redemption.updated_at = timezone.now()
    redemption.save(update_fields=["status", "updated_at"])
    audit(actor=actor, action="benefit.cancel", obj_type="redemption", obj_id=redemption.pk, reason=reason)
    publish(
        "redemption_cancelled",
        person_id=Member.objects.values_list("person_id", flat=True).get(pk=redemption.member_id),
        properties={"redemption_id": redemption.pk},
    )
    return redemption


@transaction.atomic
def redemption_fulfil(*, actor: Actor, redemption: Redemption) -> Redemption:
    redemption = Redemption.objects.select_for_update().get(pk=redemption.pk)
    if redemption.status == "fulfilled":
        return redemption
    if redemption.status != "reserved":
        raise FieldError("status", f"a {redemption.status} redemption cannot be fulfilled")
    redemption.status = "fulfilled"
    redemption.updated_at = timezone.now()
    redemption.save(update_fields=["status", "updated_at"])
    audit(actor=actor, action="benefit.fulfil", obj_type="redemption", obj_id=redemption.pk)
    publish(
        "redemption_fulfilled",
        person_id=Member.objects.values_list("person_id", flat=True).get(pk=redemption.member_id),
        properties={"redemption_id": redemption.pk},
    )
    return redemption


@transaction.atomic
def benefit_create(
    *,
    actor: Actor,
    member_program_id: int,
    code: str,
    name: str,
    points_price: int,
    stock: int,
    cash_price_fen: int = 0,
    per_member_limit: int | None = None,
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
    min_tier: TierDefinition | None = None,
    description: str = "",
) -> BenefitItem:
    if not actor.has_perm("membership.manage"):
        raise PermissionDenied(f"{actor.label} may not manage the benefits catalogue")
    if points_price < 1:
        raise FieldError("points_price", "must be at least 1 point")
    if stock < 0:
        raise FieldError("stock", "must not be negative")
    if valid_from and valid_until and valid_until <= valid_from:
        raise FieldError("valid_until", "must be after valid_from")
    item = BenefitItem.objects.create(
        program_id=member_program_id,
        code=code,
        name=name,
        description=description,
        points_price=points_price,
        cash_price_fen=cash_price_fen,
        stock=stock,
        per_member_limit=per_member_limit,
        valid_from=valid_from,
        valid_until=valid_until,
        min_tier=min_tier,
    )
    audit(actor=actor, action="benefit.create", obj_type="benefit_item", obj_id=item.pk, summary={"code": code})
    return item

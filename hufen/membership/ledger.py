"""The points ledger: award, spend, reverse, expire. Writes only; reads live in selectors.py.

Rules that make it trustworthy:
- entries are append-only; a correction is a reversing entry that mirrors the original;
- every write locks the account row (`select_for_update`) first, so writers to one account queue up
  and the cached balance changes only together with its entry, in one transaction;
- the balance can never go negative (checked here, and by a database constraint);
- an idempotency key is unique per account: the same key returns the first entry, the same key with
  another amount or reason is an `IdempotencyConflict`, never a second write;
- each award creates a lot; spends and expiries take from lots oldest-expiry-first and record each
  take as a `LotMovement`, so reversing a spend gives the points back to the very lots it took.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from hufen.common.actors import Actor
from hufen.common.audit import audit
from hufen.common.errors import FieldError
from hufen.common.events import publish
from hufen.membership.errors import IdempotencyConflict
from hufen.membership.models import LotMovement, Member, PointsAccount, PointsEntry, PointsLot
from hufen.membership.programs import lot_expires_at
from hufen.membership.reasons import reason_for

MAX_AMOUNT = 100_000_000  # one entry of more than 100M points is a typo, not a business event
MAX_KEY = 200


def _check_amount(amount: object) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise FieldError("amount", "must be a whole number of points")
    if amount <= 0:
        raise FieldError("amount", f"must be positive, got {amount}")
    if amount > MAX_AMOUNT:
        raise FieldError("amount", f"must be at most {MAX_AMOUNT}")
    return amount


def _check_key(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > MAX_KEY:
        raise FieldError("idempotency_key", f"must be 1 to {MAX_KEY} characters")
    return key


def _check_active(member: Member) -> None:
    # Read the status now (under the account lock), not from the caller's possibly stale copy.
    status = Member.objects.values_list("status", flat=True).get(pk=member.pk)
    if status != "active":
        raise FieldError("member", f"member {member.number} is {status}")


def lock_account(member: Member) -> PointsAccount:
    return PointsAccount.objects.select_for_update().get(member_id=member.pk)


def _replay(account: PointsAccount, key: str, *, kind: str, amount: int, reason: str) -> PointsEntry | None:
    """The entry already written under `key`, if any; a different request under it is a conflict."""
    first = PointsEntry.objects.filter(account=account, idempotency_key=key).first()
    if first is None:
        return None
    if first.kind != kind or first.amount != amount or first.reason != reason:
        raise IdempotencyConflict(
            key, f"idempotency key {key!r} was already used for {first.kind} {first.amount} ({first.reason})"
        )
    return first


def _append(
    account: PointsAccount,
    *,
    actor: Actor,
    kind: str,
    amount: int,
    reason: str,
    key: str,
    now: dt.datetime,
    ref_type: str = "",
    ref_id: str = "",
    reverses: PointsEntry | None = None,
) -> PointsEntry:
    account.balance += amount
    if account.balance < 0:
        raise FieldError("amount", "the balance cannot go negative")
    account.save(update_fields=["balance", "updated_at"])
    return PointsEntry.objects.create(
        account=account,
        kind=kind,
        amount=amount,
        reason=reason,
        ref_type=ref_type[:40],
        ref_id=str(ref_id)[:64],
        idempotency_key=key,
        actor_label=actor.label[:150],
        reverses=reverses,
        balance_after=account.balance,
        created_at=now,
    )


def _take(entry: PointsEntry, lots: list[PointsLot], amount: int) -> None:
    """Take `amount` from `lots` in the given order, recording each take."""
    left = amount
    for lot in lots:
        if left == 0:
            break
        take = min(lot.remaining, left)
        if take <= 0:
            continue
        lot.remaining -= take
        lot.save(update_fields=["remaining"])
        LotMovement.objects.create(entry=entry, lot=lot, amount=take)
        left -= take
    if left:
        raise AssertionError(f"lots short by {left} points for entry {entry.pk}")


def _event(name: str, member: Member, entry: PointsEntry) -> None:
    publish(
        name,
        person_id=member.person_id,
        properties={
            "member_id": member.pk,
            "member_number": member.number,
            "entry_id": entry.pk,
            "amount": entry.amount,
            "reason": entry.reason,
            "balance_after": entry.balance_after,
            "ref_type": entry.ref_type,
            "ref_id": entry.ref_id,
        },
        ts=entry.created_at,
    )


def _audit(actor: Actor, action: str, entry: PointsEntry) -> None:
    audit(
        actor=actor,
        action=action,
        obj_type="points_entry",
        obj_id=entry.pk,
        summary={"account_id": entry.account_id, "amount": entry.amount, "reason": entry.reason},
    )


@transaction.atomic
def points_award(
    *,
    actor: Actor,
    member: Member,
    amount: int,
    reason: str,
    idempotency_key: str,
    ref_type: str = "",
    ref_id: str = "",
    now: dt.datetime | None = None,
) -> PointsEntry:
    amount = _check_amount(amount)
    reason_for(reason, "award")
    key = _check_key(idempotency_key)
    account = lock_account(member)
    first = _replay(account, key, kind="award", amount=amount, reason=reason)
    if first is not None:
        return first
    _check_active(member)
    now = now or timezone.now()
    entry = _append(
        account,
        actor=actor,
        kind="award",
        amount=amount,
        reason=reason,
        key=key,
        now=now,
        ref_type=ref_type,
        ref_id=ref_id,
    )
    PointsLot.objects.create(
        account=account, entry=entry, amount=amount, remaining=amount, expires_at=lot_expires_at(member.program, now)
    )
    _audit(actor, "points.award", entry)
    _event("points_earned", member, entry)
    from hufen.membership.services import member_upgrade_check

    member_upgrade_check(actor=actor, member=member, now=now)
    return entry


@transaction.atomic
def points_spend(
    *,
    actor: Actor,
    member: Member,
    amount: int,
    reason: str,
    idempotency_key: str,
    ref_type: str = "",
    ref_id: str = "",
    now: dt.datetime | None = None,
) -> PointsEntry:
    amount = _check_amount(amount)
    reason_for(reason, "spend")
    key = _check_key(idempotency_key)
    account = lock_account(member)
    first = _replay(account, key, kind="spend", amount=-amount, reason=reason)
    if first is not None:
        return first
    _check_active(member)
    now = now or timezone.now()
    # Only lots still valid at `now` can pay; overdue lots wait for the expiry job.
    lots = list(account.lots.filter(remaining__gt=0, expires_at__gt=now).order_by("expires_at", "id"))
    available = sum(lot.remaining for lot in lots)
    if amount > available:
        raise FieldError("amount", f"{amount} points exceed the available balance of {available}")
    entry = _append(
        account,
        actor=actor,
        kind="spend",
        amount=-amount,
        reason=reason,
        key=key,
        now=now,
        ref_type=ref_type,
        ref_id=ref_id,
    )
    _take(entry, lots, amount)
    _audit(actor, "points.spend", entry)
    _event("points_spent", member, entry)
    return entry


@transaction.atomic
def points_reverse(
    *,
    actor: Actor,
    entry: PointsEntry,
    reason: str = "correction",
    idempotency_key: str = "",
    now: dt.datetime | None = None,
) -> PointsEntry:
    """Reverse an award or a spend with its negative mirror. Reversing twice is refused."""
    reason_for(reason, "reverse")
    account = PointsAccount.objects.select_for_update().get(pk=entry.account_id)
    member = Member.objects.select_related("program__brand").get(pk=account.member_id)
    entry = PointsEntry.objects.get(pk=entry.pk)
    key = _check_key(idempotency_key or f"reverse:{entry.pk}")
    if entry.kind not in ("award", "spend"):
        raise FieldError("entry", f"a {entry.kind} entry cannot be reversed")
    # Only a caller's own key replays; a second reversal without one is refused below.
    first = _replay(account, key, kind="reverse", amount=-entry.amount, reason=reason) if idempotency_key else None
    if first is not None:
        if first.reverses_id != entry.pk:
            raise IdempotencyConflict(key, f"idempotency key {key!r} was already used for another reversal")
        return first
    if PointsEntry.objects.filter(reverses=entry).exists():
        raise FieldError("entry", f"entry {entry.pk} is already reversed")
    now = now or timezone.now()
    if entry.kind == "award":
        lot = PointsLot.objects.get(entry=entry)
        if lot.remaining != lot.amount:
            raise FieldError(
                "entry",
                f"{lot.amount - lot.remaining} points of award {entry.pk} were already spent or expired; "
                "reverse those spends first",
            )
    mirror = _append(
        account,
        actor=actor,
        kind="reverse",
        amount=-entry.amount,
        reason=reason,
        key=key,
        now=now,
        ref_type="points_entry",
        ref_id=str(entry.pk),
        reverses=entry,
    )
    if entry.kind == "award":
        _take(mirror, [lot], entry.amount)
    else:
        for move in entry.movements.select_related("lot").order_by("id"):
            lot = move.lot
            lot.remaining += move.amount
            lot.save(update_fields=["remaining"])
            LotMovement.objects.create(entry=mirror, lot=lot, amount=-move.amount)
    _audit(actor, "points.reverse", mirror)
    _event("points_reversed", member, mirror)
    return mirror


def points_expire_due(*, actor: Actor, as_of: dt.datetime) -> list[PointsEntry]:
    """Expire every lot whose validity ended at or before `as_of`: one entry per account.

    Safe to run twice: a second run finds no lot with points left past its date. Each account is
    its own transaction, so a long run holds one lock at a time.
    """
    due = PointsLot.objects.filter(remaining__gt=0, expires_at__lte=as_of)
    account_ids = sorted(set(due.values_list("account_id", flat=True)))
    entries = []
    for account_id in account_ids:
        entry = _expire_account(actor=actor, account_id=account_id, as_of=as_of)
        if entry is not None:
            entries.append(entry)
    return entries


@transaction.atomic
def _expire_account(*, actor: Actor, account_id: int, as_of: dt.datetime) -> PointsEntry | None:
    account = PointsAccount.objects.select_for_update().get(pk=account_id)
    lots = list(account.lots.filter(remaining__gt=0, expires_at__lte=as_of).order_by("expires_at", "id"))
    total = sum(lot.remaining for lot in lots)
    if total == 0:
        return None
    done = account.entries.filter(Q(kind="expire")).count()
    key = f"expire:{as_of.isoformat()}:{done}"
    entry = _append(account, actor=actor, kind="expire", amount=-total, reason="expiry", key=key, now=as_of)
    _take(entry, lots, total)
    _audit(actor, "points.expire", entry)
    _event("points_expired", Member.objects.get(pk=account.member_id), entry)
    return entry

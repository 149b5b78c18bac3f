"""The batched award path: many awards in one transaction with set-based SQL.

`points_award_batch` gives the same guarantees as `ledger.points_award`, item by item, at a fixed
number of statements per batch instead of a dozen per award:

- the accounts of the batch are locked (`SELECT ... FOR UPDATE`, in id order, so two batches never
  deadlock) before anything is read or written; a single award to one of them waits, and so does a
  concurrent batch, which then finds the first one's entries and replays them;
- the idempotency key stays unique per account: one read finds the keys already used; the same key
  replays the first entry, the same key with another amount or reason is reported as a conflict
  (never a second write); a key repeated inside the batch counts once;
- entries and lots are bulk inserted, the balances move in one UPDATE, audit rows and
  `points_earned` events are bulk inserted — all in the caller's transaction;
- the tier-upgrade check runs once per member of the batch: one qualifying-points query per program,
  and `member_upgrade_check` (under the member's row lock) only for members who cross a threshold.

A member who is no longer active is skipped (outcome `member_inactive`), as `points_award` refuses
it. Bad input (amount, reason, key) is an error naming the item, and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from hufen.common.actors import Actor
from hufen.common.bulk import insert_rows, update_rows
from hufen.common.errors import FieldError
from hufen.common.models import AuditEvent, DomainEvent
from hufen.membership.ledger import _check_amount, _check_key
from hufen.membership.models import Member, PointsAccount, PointsEntry, PointsLot, TierDefinition
from hufen.membership.programs import lot_expires_at, qualifying_window
from hufen.membership.reasons import reason_for

MAX_BATCH = 5_000

AWARDED = "awarded"
REPLAYED = "replayed"
CONFLICT = "conflict"
INACTIVE = "member_inactive"


@dataclass(frozen=True)
class AwardItem:
    member_id: int
    amount: int
    reason: str
    idempotency_key: str
    ref_type: str = ""
    ref_id: str = ""
    earned_at: dt.datetime | None = None  # when the points were earned (default: the batch's `now`)


@dataclass(frozen=True)
class AwardOutcome:
    """What became of one item: `awarded` (a new entry), `replayed` (the key's first entry, same
    request), `conflict` (the key's first entry was another request: `entry` is that first entry),
    `member_inactive` (skipped, no entry)."""

    item: AwardItem
    status: str
    entry: PointsEntry | None


def _validate(items: Sequence[AwardItem]) -> list[AwardItem]:
    if len(items) > MAX_BATCH:
        raise FieldError("items", f"at most {MAX_BATCH} awards per batch, got {len(items)}")
    clean = []
    for i, item in enumerate(items):
        try:
            amount = _check_amount(item.amount)
            reason_for(item.reason, "award")
            key = _check_key(item.idempotency_key)
        except FieldError as exc:
            raise FieldError(f"items[{i}].{exc.field}", exc.reason) from exc
        if isinstance(item.member_id, bool) or not isinstance(item.member_id, int) or item.member_id < 1:
            raise FieldError(f"items[{i}].member_id", "must be a member id")
        clean.append(
            AwardItem(
                item.member_id, amount, item.reason, key, item.ref_type[:40], str(item.ref_id)[:64], item.earned_at
            )
        )
    return clean


def _same(entry: PointsEntry, item: AwardItem) -> bool:
    return entry.kind == "award" and entry.amount == item.amount and entry.reason == item.reason


@transaction.atomic
def points_award_batch(
    *, actor: Actor, items: Sequence[AwardItem], now: dt.datetime | None = None
) -> list[AwardOutcome]:
    """Award every item in one transaction; outcomes in the order of `items`. Safe to run twice."""
    clean = _validate(items)
    if not clean:
        return []
    now = now or timezone.now()
    accounts = {
        a.member_id: a
        for a in PointsAccount.objects.select_for_update(of=("self",))
        .select_related("member__program__brand", "member__tier")
        .filter(member_id__in={i.member_id for i in clean})
        .order_by("id")
    }
    for i, item in enumerate(clean):
        if item.member_id not in accounts:
            raise FieldError(f"items[{i}].member_id", f"member {item.member_id} does not exist or has no account")
    used = {
        (e.account_id, e.idempotency_key): e
        for e in PointsEntry.objects.filter(
            account_id__in=[a.pk for a in accounts.values()], idempotency_key__in={i.idempotency_key for i in clean}
        )
    }
    fresh: dict[tuple[int, str], PointsEntry] = {}
    plan: list[tuple[AwardItem, str, tuple[int, str]]] = []
    for item in clean:
        account = accounts[item.member_id]
        pair = (account.pk, item.idempotency_key)
        first = used.get(pair) or fresh.get(pair)
        if first is not None:
            plan.append((item, REPLAYED if _same(first, item) else CONFLICT, pair))
            continue
        if account.member.status != "active":
            plan.append((item, INACTIVE, pair))
            continue
        account.balance += item.amount
        fresh[pair] = PointsEntry(
            account=account,
            kind="award",
            amount=item.amount,
            reason=item.reason,
            ref_type=item.ref_type,
            ref_id=item.ref_id,
            idempotency_key=item.idempotency_key,
            actor_label=actor.label[:150],
            balance_after=account.balance,
            created_at=item.earned_at or now,
        )
        plan.append((item, AWARDED, pair))
    if fresh:
        _write(actor, list(fresh.values()), accounts, now)
    outcomes = []
    for item, status, pair in plan:
        entry = None if status == INACTIVE else (fresh.get(pair) or used.get(pair))
        outcomes.append(AwardOutcome(item, status, entry))
    return outcomes


def _write(actor: Actor, entries: list[PointsEntry], accounts: dict[int, PointsAccount], now: dt.datetime) -> None:
    insert_rows(entries)
    expiry: dict[tuple[int, dt.datetime], dt.datetime] = {}
    lots = []
    for e in entries:
        program = e.account.member.program
        slot = (program.pk, e.created_at)
        if slot not in expiry:
            expiry[slot] = lot_expires_at(program, e.created_at)
        lots.append(PointsLot(account=e.account, entry=e, amount=e.amount, remaining=e.amount, expires_at=expiry[slot]))
    insert_rows(lots)
    touched = list({e.account_id: e.account for e in entries}.values())
    for account in touched:
        account.updated_at = now
    update_rows(touched, ["balance", "updated_at"])
    insert_rows(
        [
            AuditEvent(
                actor_kind=actor.kind,
                actor_label=actor.label[:150],
                actor_user_id=actor.user_id,
                actor_api_client_id=actor.api_client_id,
                action="points.award",
                object_type="points_entry",
                object_id=str(e.pk),
                summary={"account_id": e.account_id, "amount": e.amount, "reason": e.reason},
            )
            for e in entries
        ]
    )
    insert_rows([_earned_event(e) for e in entries])
    # Judged as of the latest award (an item earned "later" than the batch's clock still counts).
    _upgrade_checks(actor, [a.member for a in touched], max([now, *(e.created_at for e in entries)]))


def _earned_event(entry: PointsEntry) -> DomainEvent:
    member = entry.account.member
    properties = {
        "member_id": member.pk,
        "member_number": member.number,
        "entry_id": entry.pk,
        "amount": entry.amount,
        "reason": entry.reason,
        "balance_after": entry.balance_after,
        "ref_type": entry.ref_type,
        "ref_id": entry.ref_id,
    }
    return DomainEvent(
        event_id=uuid.uuid4(),
        name="points_earned",
        ts=entry.created_at,
        person_id=member.person_id,
        channel="system",
        properties=json.loads(DjangoJSONEncoder().encode(properties)),
    )


def qualifying_points_many(members: list[Member], *, as_of: dt.datetime) -> dict[int, int]:
    """Qualifying points (awards net of reversed awards in the window) per member: one query per program."""
    by_program: dict[int, list[Member]] = {}
    for m in members:
        by_program.setdefault(m.program_id, []).append(m)
    points: dict[int, int] = {m.pk: 0 for m in members}
    for group in by_program.values():
        start, end = qualifying_window(group[0].program, as_of, review=False)
        rows = (
            PointsEntry.objects.filter(
                account__member_id__in=[m.pk for m in group], created_at__gte=start, created_at__lt=end
            )
            .filter(Q(kind="award") | Q(kind="reverse", reverses__kind="award"))
            .values("account__member_id")
            .annotate(total=Sum("amount"))
        )
        for row in rows:
            points[row["account__member_id"]] = int(row["total"] or 0)
    return points


def _upgrade_checks(actor: Actor, members: list[Member], now: dt.datetime) -> None:
    """Once per member of the batch: upgrade those whose qualifying points reach a higher tier."""
    from hufen.membership.services import member_upgrade_check

    points = qualifying_points_many(members, as_of=now + dt.timedelta(microseconds=1))
    tiers: dict[int, list[TierDefinition]] = {}
    for t in TierDefinition.objects.filter(program_id__in={m.program_id for m in members}).order_by("-rank"):
        tiers.setdefault(t.program_id, []).append(t)
    for member in members:
        target = next((t for t in tiers.get(member.program_id, []) if t.threshold <= points[member.pk]), None)
        if target is not None and target.rank > member.tier.rank:
            member_upgrade_check(actor=actor, member=member, now=now)


__all__ = ["AwardItem", "AwardOutcome", "points_award_batch", "qualifying_points_many"]

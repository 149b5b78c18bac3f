"""Paying check-ins: the award drain turns pending check-ins into ledger entries, in batches.

A check-in commits as `pending` (checkin.py); `memberday_award_pending` then pays them through the
ledger's batched award path, one transaction per batch:

1. take up to `batch` pending check-ins, oldest first, locking them with `FOR UPDATE SKIP LOCKED`, so
   that concurrent drains (two schedulers, a scheduler and `hufen memberday award-pending`) work on
   disjoint rows instead of queueing;
2. `points_award_batch` with the key `memberday:<occurrence>:checkin` per member — a drain killed
   after its ledger write but before its commit leaves nothing (one transaction), and a batch that
   meets an already paid key replays its entry instead of paying again;
3. mark the check-ins `awarded` with their entry (or `skipped` when the member is no longer active)
   in one UPDATE, and audit the batch.

Safe to run twice, concurrently, and to kill at any point.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from hufen.common.actors import SYSTEM, Actor
from hufen.common.audit import audit
from hufen.common.bulk import update_rows
from hufen.common.errors import FieldError
from hufen.memberday.models import CheckIn
from hufen.membership.ledger_batch import INACTIVE, AwardItem, points_award_batch

BATCH = 500


def checkin_key(occurrence_id: int) -> str:
    """The ledger idempotency key of a member's check-in award (unique per account)."""
    return f"memberday:{occurrence_id}:checkin"


@dataclass
class DrainResult:
    batches: int = 0
    checkins: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    points: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "batches": self.batches,
            "checkins": self.checkins,
            "outcomes": dict(sorted(self.outcomes.items())),
            "points": self.points,
            "seconds": self.seconds,
        }


def memberday_award_pending(*, actor: Actor = SYSTEM, batch: int = BATCH, limit: int | None = None) -> DrainResult:
    """Pay pending check-ins in batches until none is left (or `limit` check-ins were handled)."""
    if not 1 <= batch <= 5_000:
        raise FieldError("batch", "must be 1 to 5,000")
    if limit is not None and limit < 1:
        raise FieldError("limit", "must be at least 1")
    began = time.monotonic()
    result = DrainResult()
    while limit is None or result.checkins < limit:
        size = batch if limit is None else min(batch, limit - result.checkins)
        handled = _award_batch(actor, size, result)
        if handled == 0:
            break
        result.batches += 1
        result.checkins += handled
        if handled < size:
            break
    result.seconds = round(time.monotonic() - began, 3)
    return result


@transaction.atomic
def _award_batch(actor: Actor, size: int, result: DrainResult) -> int:
    checkins = list(
        CheckIn.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(points_status="pending")
        .order_by("id")[:size]
    )
    if not checkins:
        return 0
    items = [
        AwardItem(
            member_id=c.member_id,
            amount=c.points,
            reason="check_in",
            idempotency_key=checkin_key(c.occurrence_id),
            ref_type="memberday_occurrence",
            ref_id=str(c.occurrence_id),
            earned_at=c.checked_in_at,
        )
        for c in checkins
    ]
    outcomes = points_award_batch(actor=actor, items=items, now=timezone.now())
    counts: dict[str, int] = {}
    for checkin, outcome in zip(checkins, outcomes, strict=True):
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        if outcome.status == INACTIVE or outcome.entry is None:
            checkin.points_status = "skipped"
            continue
        checkin.points_status = "awarded"
        checkin.entry_id = outcome.entry.pk
        if outcome.status == "awarded":
            result.points += outcome.entry.amount
    update_rows(checkins, ["points_status", "entry_id"])
    for status, n in counts.items():
        result.outcomes[status] = result.outcomes.get(status, 0) + n
    audit(
        actor=actor,
        action="memberday.award_pending",
        obj_type="memberday_checkin",
        obj_id=checkins[0].pk,
        summary={"checkins": len(checkins), "last_id": checkins[-1].pk, "outcomes": counts},
    )
    return len(checkins)

"""Periodic membership work, for the one scheduler: apply earning rules, expire lots.

Every job is safe to run twice and safe to kill (see earning.py and ledger.points_expire_due).
`hufen points earn --every 60` runs the earning job on a timer; a deployment that runs
`hufen events run-scheduler` can call `membership_earn()` from the same loop.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django_tasks import task

from hufen.common.actors import SYSTEM
from hufen.membership.earning import points_earn
from hufen.membership.ledger import points_expire_due


def membership_earn(*, lake_url: str | None = None) -> dict[str, Any]:
    """Judge the events received since the watermark against the active earning rules."""
    return points_earn(actor=SYSTEM, lake_url=lake_url).as_dict()


def membership_expire() -> dict[str, Any]:
    entries = points_expire_due(actor=SYSTEM, as_of=timezone.now())
    return {"accounts": len(entries), "points": -sum(e.amount for e in entries)}


@task()
def earn_task() -> dict[str, Any]:
    """The earning job as a django-tasks task (enqueue with `earn_task.enqueue()`, e.g. on commit)."""
    return membership_earn()

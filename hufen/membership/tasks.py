"""Periodic membership work, for the one scheduler: apply earning rules, expire lots.

Every job is safe to run twice and safe to kill (see earning.py and ledger.points_expire_due).
Both are registered with the one scheduler (`hufen scheduler run`, see apps.py): `membership.earn`
every 5 minutes and `membership.expire` daily at 02:30 brand time. `hufen points earn --every 60`
still runs the earning job on its own timer where no scheduler runs.
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


@task()
def expire_task() -> dict[str, Any]:
    """The expiry job as a django-tasks task: lots past their date get their expiry entries."""
    return membership_expire()

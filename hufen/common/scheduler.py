"""One scheduler for every app's periodic jobs.

Apps register their jobs in `AppConfig.ready()`:

    from hufen.common import scheduler

    scheduler.register("tracking.flush", flush_task, every=dt.timedelta(minutes=1))
    scheduler.register("membership.expire", expire_task, daily_at=dt.time(2, 30))  # brand time zone

`action` is a django-tasks task (the scheduler calls `.enqueue()`, a worker — `hufen db_worker` —
runs it) or any callable that enqueues something quickly. `hufen scheduler run` wakes every few
seconds and starts each job whose current slot has not run yet:

- `every=`: slots are the multiples of the interval since the epoch (UTC), so every scheduler agrees;
- `daily_at=`: one slot a day at that local time in `HUFEN_BRAND_TIME_ZONE`; a scheduler started
  after the time still runs today's slot (only the latest slot is caught up, never a backlog).

A slot is claimed by inserting a `tracking.ScheduledRun(job, slot)` row under a unique constraint,
in its own transaction before the action runs: two schedulers (or a restarted one) never start the
same slot twice. A job whose action raises is recorded with the error and not retried in that slot.
Claim rows older than `RUN_RETENTION` are deleted by `runs_purge` (the daily job `scheduler.purge`):
a job every 5 s claims ~17,000 slots a day.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

log = logging.getLogger(__name__)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
RUN_RETENTION = dt.timedelta(days=14)


@dataclass(frozen=True)
class Job:
    name: str
    action: Any  # a django-tasks Task (enqueued) or a callable
    every: dt.timedelta | None = None
    daily_at: dt.time | None = None

    def slot(self, now: dt.datetime) -> str:
        """The slot `now` falls in, as text (the key of the claim row)."""
        if self.every is not None:
            step = int(self.every.total_seconds())
            start = EPOCH + dt.timedelta(seconds=int((now - EPOCH).total_seconds()) // step * step)
            return start.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert self.daily_at is not None
        local = now.astimezone(ZoneInfo(settings.HUFEN_BRAND_TIME_ZONE))
        day = local.date() if local.time() >= self.daily_at else local.date() - dt.timedelta(days=1)
        return f"{day.isoformat()}T{self.daily_at.strftime('%H:%M')}"

    def start(self, inline: bool = False) -> Any:
        """Enqueue the task (or, with `inline`, run it here and now), or call the callable."""
        if hasattr(self.action, "enqueue"):
            if inline:
                return self.action.call()
            result = self.action.enqueue()
            return {"enqueued": str(getattr(result, "id", ""))}
        return self.action()


_JOBS: dict[str, Job] = {}


def register(
    name: str,
    action: Any,
    *,
    every: dt.timedelta | None = None,
    daily_at: dt.time | None = None,
) -> Job:
    """Declare a periodic job. Registering the same name with the same schedule again is a no-op
    (`ready()` can run twice in tests); a different schedule under a taken name is an error."""
    if (every is None) == (daily_at is None):
        raise ValueError(f"{name}: give exactly one of every= or daily_at=")
    if every is not None and every.total_seconds() < 1:
        raise ValueError(f"{name}: every= must be at least one second")
    if not name or len(name) > 100:
        raise ValueError("a job name is 1-100 characters")
    job = Job(name, action, every, daily_at)
    known = _JOBS.get(name)
    if known is not None and (known.every, known.daily_at) != (every, daily_at):
        raise ValueError(f"{name}: already registered with another schedule")
    _JOBS[name] = job
    return job


def unregister(name: str) -> None:
    _JOBS.pop(name, None)


def jobs() -> list[Job]:
    return [_JOBS[name] for name in sorted(_JOBS)]


@dataclass(frozen=True)
class Started:
    job: str
    slot: str
    ok: bool
    outcome: str


def _claim(job: Job, slot: str, now: dt.datetime) -> bool:
    from hufen.tracking.models import ScheduledRun

    try:
        with transaction.atomic():
            ScheduledRun.objects.create(job=job.name, slot=slot, started_at=now)
    except IntegrityError:
        return False
    return True


def run_due(
    *, now: dt.datetime | None = None, only: Callable[[Job], bool] | None = None, inline: bool = False
) -> list[Started]:
    """Start every job whose current slot nobody has claimed yet; returns what this call started."""
    from hufen.tracking.models import ScheduledRun

    now = now or timezone.now()
    started: list[Started] = []
    for job in jobs():
        if only is not None and not only(job):
            continue
        slot = job.slot(now)
        if not _claim(job, slot, now):
            continue
        try:
            outcome, ok = repr(job.start(inline))[:2000], True
        except Exception:  # a failing job is recorded; the other jobs still run
            outcome, ok = traceback.format_exc()[-2000:], False
            log.exception("scheduled job %s (%s) failed", job.name, slot)
        ScheduledRun.objects.filter(job=job.name, slot=slot).update(finished_at=timezone.now(), ok=ok, outcome=outcome)
        started.append(Started(job.name, slot, ok, outcome))
    return started


def runs_purge(*, now: dt.datetime | None = None, keep: dt.timedelta = RUN_RETENTION) -> int:
    """Delete the claim rows of slots started before `now - keep`; the number deleted. A slot that
    old can no longer be claimed again (every job only ever claims its current slot)."""
    from hufen.tracking.models import ScheduledRun

    cutoff = (now or timezone.now()) - keep
    deleted, _ = ScheduledRun.objects.filter(started_at__lt=cutoff).delete()
    return deleted

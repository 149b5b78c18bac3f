"""Periodic tracking work: ship the outbox, flush the write-ahead store, compact the lake.

Every step is safe to run twice and safe to kill. The jobs are registered with the shared scheduler
(`hufen.common.scheduler`, see apps.py): `tracking.flush` every minute, `tracking.compact` hourly;
`hufen scheduler run` enqueues them and a django-tasks worker runs them.
"""

from __future__ import annotations

from typing import Any

from django_tasks import task

from hufen.tracking.services import lake_compact, outbox_ship, pending_flush


def tracking_flush(*, lake_url: str | None = None) -> dict[str, int]:
    """Outbox into the store, store into the lake: minutes from an event to the analytics."""
    shipped = outbox_ship()
    flushed = pending_flush(lake_url=lake_url)
    return {"shipped": shipped, **flushed}


def tracking_compact(*, lake_url: str | None = None) -> dict[str, int]:
    tracking_flush(lake_url=lake_url)
    return lake_compact(lake_url=lake_url)


@task()
def flush_task() -> dict[str, Any]:
    return tracking_flush()


@task()
def compact_task() -> dict[str, Any]:
    return tracking_compact()


@task()
def scheduler_purge_task() -> dict[str, Any]:
    from hufen.common.scheduler import runs_purge

    return {"deleted": runs_purge()}

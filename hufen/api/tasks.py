"""Periodic API housekeeping for the one scheduler: forget Idempotency-Key responses past retention."""

from __future__ import annotations

from django_tasks import task

from hufen.api.idempotency import idempotency_purge


@task()
def purge_task() -> int:
    return idempotency_purge()

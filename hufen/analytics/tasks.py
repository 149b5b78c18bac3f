"""Periodic analytics work: refresh the incremental daily summaries after new, late or compacted events.

Registered with the shared scheduler (see apps.py) every 15 minutes, after the tracking jobs that
write and compact the lake. Only the local days whose raw files changed are rebuilt; until then the
queries read those days from the raw events, so a late run costs speed, never correctness.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django_tasks import task

from hufen.analytics.summaries import build_daily_summaries


def analytics_summarize(*, lake_url: str | None = None) -> dict[str, int]:
    lake = lake_url or settings.LAKE_URL
    if not os.path.isdir(os.path.join(lake, "events")):
        return {"rebuilt": 0, "kept": 0, "dropped": 0}
    return build_daily_summaries(lake, settings.HUFEN_BRAND_TIME_ZONE)


@task()
def summarize_task() -> dict[str, Any]:
    return analytics_summarize()

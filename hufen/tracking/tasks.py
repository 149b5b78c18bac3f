"""Periodic tracking work: ship the outbox, flush the write-ahead store, compact the lake.

Every step is safe to run twice and safe to kill; `hufen events run-scheduler` calls them on a timer.
"""

from __future__ import annotations

from hufen.tracking.services import lake_compact, outbox_ship, pending_flush


def tracking_flush(*, lake_url: str | None = None) -> dict[str, int]:
    """Outbox into the store, store into the lake: minutes from an event to the analytics."""
    shipped = outbox_ship()
    flushed = pending_flush(lake_url=lake_url)
    return {"shipped": shipped, **flushed}


def tracking_compact(*, lake_url: str | None = None) -> dict[str, int]:
    tracking_flush(lake_url=lake_url)
    return lake_compact(lake_url=lake_url)

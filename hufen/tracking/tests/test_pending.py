"""The write-ahead store's insert: stored once per event_id, answered right, whatever the transaction.

On PostgreSQL the insert goes through a session-local staging table (COPY, then one INSERT ... ON
CONFLICT); these tests prove it leaves nothing behind between calls, survives rollbacks, and dedupes
concurrent batches. They run on SQLite too, except the race.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.testing.concurrency import race, require_postgres
from hufen.tracking.models import PendingEvent
from hufen.tracking.services import IngestResult, events_ingest


def batch(first: int, count: int, prefix: str = "p") -> list[dict[str, Any]]:
    ts = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    return [
        {"event_id": f"{prefix}{i}", "event": "app_active", "ts": ts, "anonymous_id": f"dev-{i % 7}", "channel": "app"}
        for i in range(first, first + count)
    ]


def statuses(raws: list[dict[str, Any]]) -> dict[str, int]:
    result = events_ingest(actor=SYSTEM, raw_events=raws)
    return {s: result.count(s) for s in ("accepted", "duplicate", "rejected")}


@pytest.mark.django_db
def test_two_batches_in_one_transaction_are_answered_each_on_its_own() -> None:
    with transaction.atomic():
        assert statuses(batch(0, 300)) == {"accepted": 300, "duplicate": 0, "rejected": 0}
        assert statuses(batch(200, 300)) == {"accepted": 200, "duplicate": 100, "rejected": 0}
    assert PendingEvent.objects.count() == 500


@pytest.mark.django_db
def test_a_rolled_back_batch_stores_nothing_and_the_next_one_works() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        assert statuses(batch(0, 50))["accepted"] == 50
        raise RuntimeError("the caller's transaction fails after the insert")
    assert PendingEvent.objects.count() == 0
    assert statuses(batch(0, 50))["accepted"] == 50
    assert statuses(batch(0, 50))["duplicate"] == 50


@pytest.mark.django_db
def test_stored_rows_are_the_validated_events() -> None:
    raw = {
        "event_id": "p-props",
        "event": "page_viewed",
        "ts": "2026-11-22T08:00:00+08:00",
        "anonymous_id": "dev-汉",
        "channel": "mini_program",
        "properties": {"page": "/首页", "tab": "a\tb\\c\nd"},
    }
    assert statuses([raw])["accepted"] == 1
    row = PendingEvent.objects.get()
    assert (row.event, row.anonymous_id, row.channel) == ("page_viewed", "dev-汉", "mini_program")
    assert row.ts == dt.datetime(2026, 11, 22, 0, 0, tzinfo=dt.UTC)
    assert row.properties == '{"page":"/首页","tab":"a\\tb\\\\c\\nd"}'
    assert row.person_id is None and row.dealer_id is None


@pytest.mark.django_db
def test_a_nul_character_rejects_its_event_not_the_batch() -> None:
    """PostgreSQL text cannot hold U+0000: the event saying so is rejected, its batch is stored."""
    good, bad = batch(0, 2, prefix="nul")
    bad["anonymous_id"] = "dev\x00"
    result = events_ingest(actor=SYSTEM, raw_events=[good, bad])
    assert [(o.status, o.field) for o in result.outcomes] == [("accepted", None), ("rejected", "anonymous_id")]
    assert list(PendingEvent.objects.values_list("event_id", flat=True)) == ["nul0"]


def test_concurrent_batches_store_each_event_once(pg_world: World) -> None:
    require_postgres()

    # Eight requests, each overlapping the next by half: 2,250 distinct events in all.
    def job(first: int) -> Callable[[], object]:
        return lambda: events_ingest(actor=SYSTEM, raw_events=batch(first, 500))

    jobs = [job(first) for first in range(0, 2000, 250)]
    accepted: list[str] = []
    for result in race(jobs):
        assert isinstance(result, IngestResult), result
        accepted += [o.event_id or "" for o in result.outcomes if o.status == "accepted"]
        assert result.count("accepted") + result.count("duplicate") == 500
    assert sorted(accepted) == sorted(f"p{i}" for i in range(2250))  # each acknowledged exactly once
    assert PendingEvent.objects.count() == 2250

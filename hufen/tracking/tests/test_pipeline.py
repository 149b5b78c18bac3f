"""The outbox, the write-ahead store and the lake: flush, dedupe against the lake, compaction."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.events import publish
from hufen.common.models import DomainEvent
from hufen.tracking import lake
from hufen.tracking.models import IdentityLink, PendingEvent
from hufen.tracking.services import events_ingest, lake_compact, outbox_ship, pending_flush
from hufen.tracking.tasks import tracking_compact
from hufen.tracking.tests.helpers import lake_rows, raw_event

pytestmark = pytest.mark.django_db
DAY1 = dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # 15:30 UTC on the 20th
DAY2 = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)


def test_flush_writes_hive_partitions_with_the_contract_schema(lake_url: str, world: World) -> None:
    person = world.persons["a1_owner"]
    events_ingest(
        actor=SYSTEM,
        raw_events=[
            raw_event(event_id="e1", ts=DAY1.isoformat(), person_id=person.pk, properties={"k": "值"}),
            raw_event(event_id="e2", ts=DAY2.isoformat()),
        ],
    )
    assert pending_flush() == {"written": 2, "duplicates": 0}
    assert PendingEvent.objects.count() == 0
    dates = sorted(p.name for p in lake.partitions(lake_url))
    assert dates == ["date=2026-11-20", "date=2026-11-21"]
    import pyarrow.parquet as pq

    [file] = lake.partition_files(Path(lake_url) / "events" / "date=2026-11-20")
    stored = pq.read_schema(file).remove_metadata()
    assert stored == lake.STORED_SCHEMA and stored.names[: len(lake.COLUMNS)] == lake.COLUMNS
    rows = lake_rows(lake_url)
    assert [r["event_id"] for r in rows] == ["e1", "e2"]
    assert rows[0]["person_id"] == person.pk and json.loads(rows[0]["properties"]) == {"k": "值"}
    assert rows[0]["ts"] == DAY1 and str(rows[0]["date"]) == "2026-11-20"


def test_event_already_in_the_lake_is_not_written_again(lake_url: str) -> None:
    event = raw_event(ts=DAY2.isoformat())
    events_ingest(actor=SYSTEM, raw_events=[event])
    pending_flush()
    # Compacted away from the store, then retried by the client: the lake still holds it once.
    assert events_ingest(actor=SYSTEM, raw_events=[event]).count("accepted") == 1
    assert pending_flush() == {"written": 0, "duplicates": 1}
    assert lake_rows(lake_url, "SELECT count(*) AS n FROM events")[0]["n"] == 1


def test_flush_fills_persons_of_devices_identified_since(lake_url: str, world: World) -> None:
    events_ingest(actor=SYSTEM, raw_events=[raw_event(anonymous_id="dev-9", ts=DAY2.isoformat())])
    IdentityLink.objects.create(anonymous_id="dev-9", person_id=world.persons["prospect"].pk, linked_at=DAY2)
    pending_flush()
    assert lake_rows(lake_url)[0]["person_id"] == world.persons["prospect"].pk


def test_outbox_is_shipped_once(lake_url: str, world: World) -> None:
    person = world.persons["a1_owner"]
    before = DomainEvent.objects.count()  # the world's own deliveries
    publish("vehicle_delivered", person_id=person.pk, dealer_id=world.dealers["A1"].pk, properties={"vin": "X"})
    assert outbox_ship() == before + 1
    assert outbox_ship() == 0
    DomainEvent.objects.update(shipped_at=None)  # as if the job died after copying, before marking
    outbox_ship()
    pending_flush()
    rows = lake_rows(lake_url, "SELECT event, count(*) AS n, count(DISTINCT event_id) AS d FROM events GROUP BY 1")
    assert sum(r["n"] for r in rows) == before + 1 and all(r["n"] == r["d"] for r in rows)
    delivered = lake_rows(lake_url, "SELECT * FROM events WHERE properties LIKE '%\"X\"%'")
    assert delivered[0]["channel"] == "system" and delivered[0]["person_id"] == person.pk


def test_compaction_merges_small_files_and_is_safe_twice(lake_url: str) -> None:
    for _ in range(3):
        events_ingest(actor=SYSTEM, raw_events=[raw_event(ts=DAY2.isoformat()) for _ in range(5)])
        pending_flush()
    directory = Path(lake_url) / "events" / "date=2026-11-21"
    assert len(lake.partition_files(directory)) == 3
    first = lake_compact()
    assert (first["partitions"], first["files_in"], first["rows"]) == (1, 3, 15)
    assert lake_compact()["partitions"] == 0
    assert len(lake.partition_files(directory)) == 1
    assert lake_rows(lake_url, "SELECT count(DISTINCT event_id) AS n FROM events")[0]["n"] == 15


def test_scheduled_compaction_ships_flushes_and_compacts(lake_url: str) -> None:
    publish("person_created", person_id=None, ts=DAY2)
    events_ingest(actor=SYSTEM, raw_events=[raw_event(ts=DAY2.isoformat())])
    tracking_compact()
    assert PendingEvent.objects.count() == 0
    assert not DomainEvent.objects.filter(shipped_at__isnull=True).exists()
    assert lake_rows(lake_url, "SELECT count(*) AS n FROM events")[0]["n"] >= 2


def test_recover_finishes_a_half_done_compaction(lake_url: str) -> None:
    events_ingest(actor=SYSTEM, raw_events=[raw_event(ts=DAY2.isoformat()) for _ in range(4)])
    pending_flush()
    events_ingest(actor=SYSTEM, raw_events=[raw_event(ts=DAY2.isoformat()) for _ in range(4)])
    pending_flush()
    directory = Path(lake_url) / "events" / "date=2026-11-21"
    files = lake.partition_files(directory)
    # The state a kill after the rename leaves: the merged file, the old files and the journal.
    merged = lake.write_atomic(
        directory, lake.pa.concat_tables([lake.pq.ParquetFile(f).read() for f in files]), "compact"
    )
    (directory / lake.JOURNAL).write_text(json.dumps({"output": merged.name, "replaces": [f.name for f in files]}))
    (directory / "part-x.parquet.tmp").write_bytes(b"torn")
    lake_compact()
    assert lake.partition_files(directory) == [merged]
    assert lake_rows(lake_url, "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events") == [{"n": 8, "d": 8}]


def test_cli_jobs_and_one_scheduler_tick(lake_url: str) -> None:
    from io import StringIO

    from django.core.management import call_command

    publish("person_created", ts=DAY2)
    out = StringIO()
    call_command("events", "ship-outbox", "--json", stdout=out)
    assert json.loads(out.getvalue())["shipped"] >= 1
    out = StringIO()
    call_command("events", "run-scheduler", "--once", stdout=out)
    tick = json.loads(out.getvalue().splitlines()[0])
    assert tick["job"] == "compact" and PendingEvent.objects.count() == 0
    assert lake_rows(lake_url, "SELECT count(*) AS n FROM events WHERE event = 'person_created'") == [{"n": 1}]

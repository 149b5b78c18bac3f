"""Write events in the lake's contract shape (tests, benchmarks and demos generate their own data)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("person_id", pa.int64()),
        ("anonymous_id", pa.string()),
        ("dealer_id", pa.int64()),
        ("channel", pa.string()),
        ("properties", pa.string()),
        ("received_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class Event:
    event: str
    ts: dt.datetime  # aware
    person_id: int | None
    dealer_id: int | None = None
    channel: str | None = None
    properties: str | None = None
    event_id: str = ""


def write_table(lake: str, table: pa.Table, name: str = "part") -> int:
    """Split a table in the contract's schema by UTC date of ts and write one file per date."""
    table = table.cast(SCHEMA)
    dates = pc.strftime(table["ts"], format="%Y-%m-%d")
    written = 0
    for d in pc.unique(dates).to_pylist():
        part = table.filter(pc.equal(dates, d))
        folder = os.path.join(lake, "events", f"date={d}")
        os.makedirs(folder, exist_ok=True)
        pq.write_table(part, os.path.join(folder, f"{name}.parquet"))
        written += part.num_rows
    return written


def write_events(lake: str, events: Iterable[Event], name: str = "part") -> int:
    rows = list(events)
    os.makedirs(os.path.join(lake, "events"), exist_ok=True)
    if not rows:
        return 0
    now = dt.datetime.now(dt.UTC)
    table = pa.table(
        {
            "event_id": [e.event_id or f"e{i}" for i, e in enumerate(rows)],
            "event": [e.event for e in rows],
            "ts": [e.ts for e in rows],
            "person_id": [e.person_id for e in rows],
            "anonymous_id": [None for _ in rows],
            "dealer_id": [e.dealer_id for e in rows],
            "channel": [e.channel for e in rows],
            "properties": [e.properties for e in rows],
            "received_at": [now for _ in rows],
        },
        schema=SCHEMA,
    )
    return write_table(lake, table, name)

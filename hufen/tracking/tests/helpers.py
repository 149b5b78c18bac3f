"""Building raw events and reading the lake back in tests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import duckdb

from hufen.tracking.lake import events_glob


def raw_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "event": "app_active",
        "ts": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(),
        "anonymous_id": "dev-1",
        "channel": "app",
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not None}


def lake_rows(lake_url: str, sql: str = "SELECT * FROM events ORDER BY ts, event_id") -> list[dict[str, Any]]:
    con = duckdb.connect()
    try:
        con.execute(
            f"CREATE VIEW events AS SELECT * FROM read_parquet('{events_glob(lake_url)}', hive_partitioning = true)"
        )
        # Through Arrow: DuckDB's own TIMESTAMPTZ conversion would need pytz.
        rows: list[dict[str, Any]] = con.sql(sql).to_arrow_table().to_pylist()
        return rows
    finally:
        con.close()

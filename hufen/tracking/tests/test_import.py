"""`hufen events import`: JSONL, CSV and Parquet; bad rows reported by number; all or nothing."""

from __future__ import annotations

import csv
import datetime as dt
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from hufen.tracking.models import RejectedEvent
from hufen.tracking.tests.helpers import lake_rows, raw_event

pytestmark = pytest.mark.django_db
TS = "2026-11-21T09:00:00+08:00"


def run_import(path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    out = StringIO()
    try:
        call_command("events", "import", str(path), "--json", *extra, stdout=out)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, json.loads(out.getvalue())


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_jsonl_import_with_duplicates(tmp_path: Path, lake_url: str) -> None:
    events = [raw_event(ts=TS) for _ in range(5)]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in [*events, events[0]]) + "\n")
    code, summary = run_import(path)
    assert code == 0 and (summary["accepted"], summary["duplicates"], summary["rejected"]) == (5, 1, 0)
    code, summary = run_import(path)  # the same file again: all already in the lake
    assert (summary["accepted"], summary["duplicates"]) == (0, 6)
    assert lake_rows(lake_url, "SELECT count(*) AS n FROM events") == [{"n": 5}]


def test_csv_with_a_broken_row_applies_nothing(tmp_path: Path, lake_url: str) -> None:
    path = write_csv(
        tmp_path / "events.csv",
        [
            ["event_id", "event", "ts", "anonymous_id", "properties"],
            ["a1", "page_viewed", TS, "d1", '{"page": "/"}'],
            ["a2", "page_viewed", TS, "d1"],  # a column short
            ["a3", "page_viewed", "2026-11-21 09:00", "d1", '{"page": "/"}'],  # no offset
            ["a4", "app_active", TS, "d2", ""],
        ],
    )
    code, summary = run_import(path)
    assert code == 1 and summary["applied"] is False and summary["accepted"] == 0
    assert [(e["row"], e["field"]) for e in summary["errors"]] == [(3, "row"), (4, "ts")]
    assert not (Path(lake_url) / "events").exists() or not list((Path(lake_url) / "events").glob("date=*"))
    assert RejectedEvent.objects.count() == 0


def test_csv_skip_bad_rows_writes_the_rest_and_keeps_dead_letters(tmp_path: Path, lake_url: str) -> None:
    path = write_csv(
        tmp_path / "events.csv",
        [["event_id", "event", "ts", "anonymous_id"], ["b1", "app_active", TS, "d1"], ["b2", "nope", TS, "d1"]],
    )
    code, summary = run_import(path, "--skip-bad-rows")
    assert code == 1 and summary["applied"] is True and summary["accepted"] == 1
    assert [r["event_id"] for r in lake_rows(lake_url)] == ["b1"]
    dead = RejectedEvent.objects.get()
    assert (dead.source, dead.batch_index, dead.field) == ("import", 3, "event")


def test_parquet_import_and_naive_timestamps(tmp_path: Path, lake_url: str) -> None:
    aware = dt.datetime(2026, 11, 21, 1, tzinfo=dt.UTC)
    table = pa.table(
        {
            "event_id": ["p1", "p2"],
            "event": ["app_active", "app_active"],
            "ts": pa.array([aware, aware], pa.timestamp("us", tz="UTC")),
            "anonymous_id": ["d1", "d2"],
        }
    )
    pq.write_table(table, tmp_path / "ok.parquet")
    assert run_import(tmp_path / "ok.parquet")[1]["accepted"] == 2
    naive = table.set_column(2, "ts", pa.array([aware.replace(tzinfo=None)] * 2, pa.timestamp("us")))
    pq.write_table(naive, tmp_path / "naive.parquet")
    code, summary = run_import(tmp_path / "naive.parquet")
    assert code == 1 and summary["errors"][0] == {
        "row": 1,
        "field": "ts",
        "reason": "needs a UTC offset (e.g. +08:00 or Z)",
    }


def test_bad_jsonl_line_and_unknown_format(tmp_path: Path, lake_url: str) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps(raw_event(ts=TS)) + "\n{not json\n")
    code, summary = run_import(path)
    assert code == 1 and summary["errors"][0]["row"] == 2 and summary["errors"][0]["field"] == "line"
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="format"):
        call_command("events", "import", str(write_csv(tmp_path / "e.txt", [["x"]])))


def test_jsonl_nul_in_a_device_id_is_a_row_error(tmp_path: Path, lake_url: str) -> None:
    path = tmp_path / "events.jsonl"
    rows = [raw_event(event_id="n1", ts=TS), raw_event(event_id="n2", ts=TS, anonymous_id="dev\x00")]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code, summary = run_import(path, "--skip-bad-rows")
    assert code == 1 and summary["accepted"] == 1
    assert [(e["row"], e["field"]) for e in summary["errors"]] == [(2, "anonymous_id")]
    assert [r["event_id"] for r in lake_rows(lake_url)] == ["n1"]

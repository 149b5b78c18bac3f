"""Incremental daily summaries: one Parquet file per local day of (day, pid, dealer_id, event, n).

A year of activity then reads ~365 small files instead of every raw event. A day is rebuilt only when
the raw files it is made of (the UTC dates its local day overlaps) changed since it was built; the
manifest remembers each source file's size and modification time.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
from zoneinfo import ZoneInfo

SUMMARY = "summaries/daily_person_events"


def _utc_dates(day: dt.date, tz: str) -> list[dt.date]:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)
    end = (start + dt.timedelta(days=1) - dt.timedelta(microseconds=1)).astimezone(dt.UTC)
    return sorted({start.date(), end.date()})


def _signature(lake: str, dates: list[dt.date]) -> dict[str, list[int]]:
    sig: dict[str, list[int]] = {}
    for d in dates:
        for path in sorted(glob.glob(os.path.join(lake, "events", f"date={d.isoformat()}", "*.parquet"))):
            st = os.stat(path)
            sig[os.path.relpath(path, lake)] = [st.st_mtime_ns, st.st_size]
    return sig


def source_days(lake: str, tz: str) -> list[dt.date]:
    """Every local day that has raw events (from the UTC partitions present)."""
    days: set[dt.date] = set()
    for path in glob.glob(os.path.join(lake, "events", "date=*")):
        utc = dt.date.fromisoformat(os.path.basename(path).removeprefix("date="))
        days.update({utc - dt.timedelta(days=1), utc, utc + dt.timedelta(days=1)})
    return sorted(d for d in days if any(_signature(lake, _utc_dates(d, tz)).values()))


def build_daily_summaries(lake: str, tz: str = "Asia/Shanghai", threads: int | None = None) -> dict[str, int]:
    """Build or refresh the daily summaries; returns how many days were rebuilt and kept."""
    import duckdb

    root = os.path.join(lake, SUMMARY)
    os.makedirs(root, exist_ok=True)
    manifest_path = os.path.join(root, "_manifest.json")
    manifest: dict[str, dict[str, list[int]]] = {}
    if os.path.exists(manifest_path):
        with open(manifest_path, encoding="utf-8") as fh:
            manifest = json.load(fh)
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET TimeZone = '{tz}'")
    rebuilt = kept = 0
    for day in source_days(lake, tz):
        sig = _signature(lake, _utc_dates(day, tz))
        key = day.isoformat()
        target_dir = os.path.join(root, f"date={key}")
        target = os.path.join(target_dir, "part.parquet")
        if manifest.get(key) == sig and os.path.exists(target):
            kept += 1
            continue
        os.makedirs(target_dir, exist_ok=True)
        files = ", ".join("'" + os.path.join(lake, p).replace("'", "''") + "'" for p in sig)
        tmp = target + ".tmp"
        con.execute(
            f"COPY (SELECT CAST(timezone('{tz}', ts) AS DATE) AS day, person_id AS pid, dealer_id, event, "
            f"count(*)::BIGINT AS n FROM read_parquet([{files}]) WHERE person_id IS NOT NULL "
            f"AND CAST(timezone('{tz}', ts) AS DATE) = DATE '{key}' GROUP BY ALL ORDER BY pid) "
            f"TO '{tmp}' (FORMAT parquet)"
        )
        os.replace(tmp, target)
        manifest[key] = sig
        rebuilt += 1
    tmp_manifest = manifest_path + ".tmp"
    with open(tmp_manifest, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh)
    os.replace(tmp_manifest, manifest_path)
    return {"rebuilt": rebuilt, "kept": kept}

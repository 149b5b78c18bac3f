"""Incremental daily summaries: per local day, Parquet files shaped for the questions asked of a year.

For each local day D (brand time zone) with raw events, three files under `summaries/<kind>/date=D/`:

- `events_compact`: the day's events with a person, only the columns the funnels, retention and
  activity read (person_id, ts, event, dealer_id, channel), sorted by person and time. Queries read it
  instead of the raw files (no event ids, properties or receipt times to decode).
- `daily_persons`: (day, pid, dealer_id, pfirst) distinct, sorted by person, `pfirst` marking one row
  per person: exact DAU is a count per day.
- `daily_event_counts`: (day, dealer_id, event, n): the event-count charts.
- `funnel_steps/<name>` for each named funnel (`queries.NAMED_FUNNELS`): only the events the funnel
  names, as (person_id, us, step, dealer_id, channel) with integer times and step numbers, sorted by
  person, time and step: the funnel reads exactly the rows it walks, already in order per day.

A day is rebuilt only when the raw files it is made of (the UTC dates its local day overlaps) changed
since it was built: the manifest remembers each source file's size and modification time. A late
event or a compaction rewrites a raw file, so the days it touches are stale until the next build;
queries read those days from the raw events instead (`fresh_days`).
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import zlib
from collections.abc import Iterable
from zoneinfo import ZoneInfo

ROOT = "summaries"
COMPACT = "summaries/events_compact"
PERSONS = "summaries/daily_persons"
COUNTS = "summaries/daily_event_counts"
FUNNEL_STEPS = "summaries/funnel_steps"
MANIFEST = "summaries/_manifest.json"
SHAPE_VERSION = 1


def _funnels() -> dict[str, tuple[str, ...]]:
    from hufen.analytics.queries import NAMED_FUNNELS

    return dict(NAMED_FUNNELS)


def funnel_kind(name: str) -> str:
    return f"{FUNNEL_STEPS}/{name}"


def kinds() -> tuple[str, ...]:
    return (COMPACT, PERSONS, COUNTS, *(funnel_kind(n) for n in sorted(_funnels())))


def _shape() -> list[int]:
    """Changes when the summaries' layout or the named funnels change: every day is then rebuilt."""
    return [SHAPE_VERSION, zlib.crc32(json.dumps(_funnels(), sort_keys=True).encode())]


def _day_signature(lake: str, day: dt.date, tz: str) -> dict[str, list[int]]:
    sig = _signature(lake, utc_dates(day, tz))
    if sig:
        sig["#shape"] = _shape()
    return sig


def utc_dates(day: dt.date, tz: str) -> list[dt.date]:
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


def _read_manifest(lake: str) -> dict[str, dict[str, list[int]]]:
    path = os.path.join(lake, MANIFEST)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as fh:
        data: dict[str, dict[str, list[int]]] = json.load(fh)
    return data


def summary_file(lake: str, kind: str, day: dt.date) -> str:
    return os.path.join(lake, kind, f"date={day.isoformat()}", "part.parquet")


def source_days(lake: str, tz: str) -> list[dt.date]:
    """Every local day that has raw events (from the UTC partitions present)."""
    days: set[dt.date] = set()
    for path in glob.glob(os.path.join(lake, "events", "date=*")):
        utc = dt.date.fromisoformat(os.path.basename(path).removeprefix("date="))
        days.update({utc - dt.timedelta(days=1), utc, utc + dt.timedelta(days=1)})
    return sorted(d for d in days if any(_signature(lake, utc_dates(d, tz)).values()))


def fresh_days(lake: str, tz: str, days: Iterable[dt.date]) -> set[dt.date]:
    """The days among `days` whose summaries exist and were built from the raw files present now.

    A day with no raw events at all counts as fresh when no summary was ever needed for it: it has
    nothing to read either way.
    """
    manifest = _read_manifest(lake)
    fresh: set[dt.date] = set()
    every = kinds()
    for day in days:
        sig = _day_signature(lake, day, tz)
        built = manifest.get(day.isoformat())
        if not sig:
            if built is None:
                fresh.add(day)
            continue
        if built == sig and all(os.path.exists(summary_file(lake, k, day)) for k in every):
            fresh.add(day)
    return fresh


def build_daily_summaries(lake: str, tz: str = "Asia/Shanghai", threads: int | None = None) -> dict[str, int]:
    """Build or refresh the daily summaries; returns how many days were rebuilt, kept and dropped."""
    import duckdb

    os.makedirs(os.path.join(lake, ROOT), exist_ok=True)
    manifest = _read_manifest(lake)
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    rebuilt = kept = 0
    wanted = source_days(lake, tz)
    every = kinds()
    funnels = _funnels()
    for day in wanted:
        sig = _day_signature(lake, day, tz)
        key = day.isoformat()
        if manifest.get(key) == sig and all(os.path.exists(summary_file(lake, k, day)) for k in every):
            kept += 1
            continue
        files = ", ".join("'" + os.path.join(lake, p).replace("'", "''") + "'" for p in sig if not p.startswith("#"))
        lo = int(dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).timestamp()) * 1_000_000
        hi = lo + int((utc_span_seconds(day, tz)) * 1_000_000)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE d AS SELECT person_id, ts, event, dealer_id, channel "
            f"FROM read_parquet([{files}]) WHERE person_id IS NOT NULL "
            f"AND epoch_us(ts) >= {lo} AND epoch_us(ts) < {hi} ORDER BY person_id, ts, event"
        )
        outputs = {
            COMPACT: "SELECT * FROM d",  # already in (person, time) order
            PERSONS: (
                f"SELECT DATE '{key}' AS day, pid, dealer_id, "
                "row_number() OVER (PARTITION BY pid ORDER BY dealer_id NULLS LAST) = 1 AS pfirst "
                "FROM (SELECT DISTINCT person_id AS pid, dealer_id FROM d) AS x ORDER BY pid, dealer_id NULLS LAST"
            ),
            COUNTS: (
                f"SELECT DATE '{key}' AS day, dealer_id, event, count(*)::BIGINT AS n FROM d "
                "GROUP BY ALL ORDER BY dealer_id, event"
            ),
        }
        for name, steps in funnels.items():
            numbered = [(k, e) for k, step in enumerate(steps) for e in step.split("|")]
            case = " ".join(f"WHEN '{e}' THEN {k}" for k, e in numbered)
            names = ", ".join(f"'{e}'" for _, e in numbered)
            outputs[funnel_kind(name)] = (
                f"SELECT person_id, epoch_us(ts) AS us, CAST(CASE event {case} END AS TINYINT) AS step, dealer_id, "
                f"channel FROM d WHERE event IN ({names}) ORDER BY person_id, us, step"
            )
        for kind, select in outputs.items():
            target = summary_file(lake, kind, day)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            tmp = target + ".tmp"
            con.execute(f"COPY ({select}) TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)")
            os.replace(tmp, target)
        manifest[key] = sig
        rebuilt += 1
    # Days whose raw events are all gone: their summaries would count events that no longer exist.
    dropped = 0
    keep = {d.isoformat() for d in wanted}
    for key in sorted(set(manifest) - keep):
        for kind in every:
            path = summary_file(lake, kind, dt.date.fromisoformat(key))
            if os.path.exists(path):
                os.remove(path)
        del manifest[key]
        dropped += 1
    con.close()
    tmp_manifest = os.path.join(lake, MANIFEST) + ".tmp"
    with open(tmp_manifest, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh)
    os.replace(tmp_manifest, os.path.join(lake, MANIFEST))
    return {"rebuilt": rebuilt, "kept": kept, "dropped": dropped}


def utc_span_seconds(day: dt.date, tz: str) -> int:
    """Length of the local day in seconds (23 or 25 hours across a daylight-saving change)."""
    zone = ZoneInfo(tz)
    start = dt.datetime(day.year, day.month, day.day, tzinfo=zone)
    nxt = day + dt.timedelta(days=1)
    end = dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
    return int(end.timestamp() - start.timestamp())

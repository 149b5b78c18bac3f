"""The daily summaries: the same answers as the raw events and as ClickHouse, incremental after late
events and compaction, and raw events read for the days with no fresh summary."""

from __future__ import annotations

import datetime as dt
import os
import random
import tempfile
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hufen.analytics import chains
from hufen.analytics import queries as q
from hufen.analytics.engines import ClickHouseEngine, DuckDBEngine
from hufen.analytics.lakegen import Event, write_events
from hufen.analytics.summaries import COMPACT, PERSONS, build_daily_summaries, fresh_days, summary_file
from hufen.analytics.tests.test_portability import window_funnel
from hufen.tracking.lake import compact_partition

TZ = ZoneInfo("Asia/Shanghai")
STEPS = q.NAMED_FUNNELS["acquisition"]
RNG = q.Range(dt.date(2026, 1, 1), dt.date(2026, 1, 20))
WINDOW_US = 3 * 86400 * 1_000_000


def messy_events(seed: int, count: int = 3000, prefix: str = "m") -> list[Event]:
    """Steps out of order, repeated steps, restarted chains, equal timestamps, events written with
    several UTC offsets, persons near the Shanghai midnight, a few without a person."""
    rnd = random.Random(seed)
    names = [*STEPS, "app_active", "member_joined", "page_viewed"]
    zones = [dt.UTC, TZ, ZoneInfo("America/Los_Angeles"), dt.timezone(dt.timedelta(hours=5, minutes=30))]
    start = dt.datetime(2025, 12, 31, 15, 0, tzinfo=dt.UTC)
    out: list[Event] = []
    for i in range(count):
        when = start + dt.timedelta(seconds=rnd.randrange(0, 24 * 86400))
        if rnd.random() < 0.1 and out:  # the same microsecond as an earlier event of another step
            when = out[-1].ts
        out.append(
            Event(
                rnd.choice(names),
                when.astimezone(rnd.choice(zones)),
                rnd.choice([None, *range(1, 60)]) if rnd.random() < 0.05 else rnd.randrange(1, 60),
                rnd.choice([1, 2, 3, None]),
                rnd.choice(["app", "wechat", None]),
                event_id=f"{prefix}{i}",
            )
        )
    return out


def everything(engine: Any, scope: q.Scope, summary: bool) -> dict[str, Any]:
    spec = q.FunnelSpec(STEPS, WINDOW_US)
    return {
        "funnel": q.funnel(engine, scope, spec, RNG),
        "funnel_channel": q.funnel(engine, scope, q.FunnelSpec(STEPS, WINDOW_US, "channel"), RNG),
        "retention": q.retention(engine, scope, RNG, "lead_created", "app_active", "day", 7),
        "active": q.active(engine, scope, RNG, summary=summary),
        "dau": q.daily_active(engine, scope, RNG),
    }


def test_summaries_raw_and_clickhouse_agree_on_messy_data() -> None:
    lake = tempfile.mkdtemp()
    events = messy_events(5)
    write_events(lake, events)
    for scope in (q.Scope(), q.Scope(frozenset({1, 3}))):
        raw = everything(DuckDBEngine(lake, use_summaries=False), scope, summary=False)
        assert raw == everything(ClickHouseEngine(lake), scope, summary=False)
        assert raw["funnel"]["steps"][0]["count"] > 0 and raw["funnel"]["steps"][2]["count"] > 0
        # No summaries yet: every day comes from the raw events, with or without `summary`.
        assert everything(DuckDBEngine(lake), scope, summary=True) == raw
    assert build_daily_summaries(lake) == {"rebuilt": 26, "kept": 0, "dropped": 0}
    for scope in (q.Scope(), q.Scope(frozenset({1, 3}))):
        raw = everything(ClickHouseEngine(lake), scope, summary=False)
        assert everything(DuckDBEngine(lake), scope, summary=True) == raw
        assert everything(DuckDBEngine(lake), scope, summary=False) == raw
        assert everything(ClickHouseEngine(lake), scope, summary=True) == raw
    # DAU against a restatement in Python (local days, distinct persons).
    expected: dict[str, set[int]] = {}
    for e in events:
        if e.person_id is not None:
            expected.setdefault(e.ts.astimezone(TZ).date().isoformat(), set()).add(e.person_id)
    dau = q.daily_active(DuckDBEngine(lake), q.Scope(), RNG)
    assert dau == {d.isoformat(): len(expected.get(d.isoformat(), set())) for d in RNG.days()}


def test_late_events_and_compaction_stay_exact_and_rebuild_only_their_days() -> None:
    lake = tempfile.mkdtemp()
    write_events(lake, messy_events(8, prefix="a"))
    build_daily_summaries(lake)
    days = RNG.days()
    assert fresh_days(lake, "Asia/Shanghai", days) == set(days)
    before = q.daily_active(DuckDBEngine(lake), q.Scope(), RNG)
    # A late batch for the UTC date 2026-01-05: the local days 01-05 and 01-06 overlap it.
    late_ts = dt.datetime(2026, 1, 5, 16, 30, tzinfo=dt.UTC)
    late = [
        Event("lead_created", late_ts, 501, 1, "app", event_id="late1"),
        Event("store_visited", late_ts + dt.timedelta(hours=1), 501, 1, "app", event_id="late2"),
        Event("test_drive", late_ts + dt.timedelta(hours=2), 501, 1, "app", event_id="late3"),
        Event("app_active", late_ts - dt.timedelta(hours=10), 502, 2, "app", event_id="late4"),
    ]
    write_events(lake, late, name="late")
    stale = set(days) - fresh_days(lake, "Asia/Shanghai", days)
    assert stale == {dt.date(2026, 1, 5), dt.date(2026, 1, 6)}
    ref = everything(ClickHouseEngine(lake), q.Scope(), summary=False)
    assert everything(DuckDBEngine(lake), q.Scope(), summary=True) == ref  # stale days read raw
    assert ref["dau"]["2026-01-05"] == before["2026-01-05"] + 1 and ref["dau"]["2026-01-06"] == before["2026-01-06"] + 1
    assert build_daily_summaries(lake)["rebuilt"] == 2
    assert everything(DuckDBEngine(lake), q.Scope(), summary=True) == ref
    # Compaction (the tracking job) rewrites the partition: its days are stale, then rebuilt.
    part = Path(lake) / "events" / "date=2026-01-05"
    assert compact_partition(part)["files_in"] == 2
    assert set(days) - fresh_days(lake, "Asia/Shanghai", days) == {dt.date(2026, 1, 5), dt.date(2026, 1, 6)}
    assert everything(DuckDBEngine(lake), q.Scope(), summary=True) == ref
    assert build_daily_summaries(lake) == {"rebuilt": 2, "kept": 24, "dropped": 0}
    assert everything(DuckDBEngine(lake), q.Scope(), summary=True) == ref
    # A partition removed altogether: its days' summaries go too.
    last = sorted((Path(lake) / "events").glob("date=*"))[-1]
    gone = dt.date.fromisoformat(last.name[5:]) + dt.timedelta(days=1)  # its local day has no other UTC date
    for f in last.glob("*.parquet"):
        f.unlink()
    assert os.path.exists(summary_file(lake, COMPACT, gone))
    result = build_daily_summaries(lake)
    assert result["dropped"] == 1 and not os.path.exists(summary_file(lake, COMPACT, gone))
    assert everything(DuckDBEngine(lake), q.Scope(), summary=True) == everything(
        ClickHouseEngine(lake), q.Scope(), summary=False
    )


def test_summary_files_are_sorted_by_person_and_time() -> None:
    lake = tempfile.mkdtemp()
    write_events(lake, messy_events(3, count=800))
    build_daily_summaries(lake)
    day = dt.date(2026, 1, 3)
    compact = pq.read_table(summary_file(lake, COMPACT, day))
    keys = list(zip(compact["person_id"].to_pylist(), compact["ts"].to_pylist(), strict=True))
    assert keys == sorted(keys) and compact.num_rows > 0
    persons = pq.read_table(summary_file(lake, PERSONS, day))
    pids = persons["pid"].to_pylist()
    assert pids == sorted(pids) and sum(persons["pfirst"].to_pylist()) == len(set(pids))


def test_chain_walk_equals_the_oracle_with_medians() -> None:
    rnd = np.random.default_rng(4)
    n, window = 3, 50
    pid = rnd.integers(1, 30, 2000)
    us = rnd.integers(0, 400, 2000)
    step = rnd.integers(0, n, 2000).astype(np.int8)
    walked = chains.walk(pid, us, step, np.zeros(2000, dtype=np.int64), n, window)
    depths, medians = chains.summarize(walked, n)
    expected = [0] * n
    gaps: list[list[int]] = [[] for _ in range(n - 1)]
    for p in np.unique(pid).tolist():
        rows = [(int(t), "abc"[s]) for t, s, q_ in zip(us, step, pid, strict=True) if q_ == p]
        if not any(e == "a" for _, e in rows):
            continue
        depth = window_funnel(rows, ("a", "b", "c"), window)
        for k in range(depth):
            expected[k] += 1
        # The deepest, earliest-started greedy chain.
        ordered = sorted((t, "abc".index(e)) for t, e in rows)
        for t0, s0 in ordered:
            if s0 != 0:
                continue
            chain = [t0]
            for k in range(1, n):
                nxt = [t for t, s in ordered if s == k and t >= chain[-1]]
                if not nxt or nxt[0] > t0 + window:
                    break
                chain.append(nxt[0])
            if len(chain) == depth:
                for k in range(1, depth):
                    gaps[k - 1].append(chain[k] - chain[k - 1])
                break
    assert depths == {0: expected}
    assert medians == {0: [sorted(g)[(len(g) - 1) // 2] if g else None for g in gaps]}


def test_persons_out_of_time_order_are_sorted_before_the_walk() -> None:
    pid = np.array([2, 1, 1, 2, 1], dtype=np.int64)
    us = np.array([5, 9, 1, 5, 1], dtype=np.int64)
    step = np.array([1, 1, 1, 0, 0], dtype=np.int8)
    order = chains.person_time_order(pid, us, step)
    got = list(zip(pid[order].tolist(), us[order].tolist(), step[order].tolist(), strict=True))
    assert got == [(1, 1, 0), (1, 1, 1), (1, 9, 1), (2, 5, 0), (2, 5, 1)]


def test_funnel_on_a_lake_written_by_tracking_with_extra_columns() -> None:
    """The lake's own writer adds columns (source_person_id); the summaries and queries ignore them."""
    lake = tempfile.mkdtemp()
    events = messy_events(11, count=400)
    write_events(lake, events)
    for part in (Path(lake) / "events").glob("date=*"):
        compact_partition(part, force=True)
    table = pq.read_table(next((Path(lake) / "events").glob("date=*/*.parquet")))
    assert "source_person_id" in table.column_names and isinstance(table.schema, pa.Schema)
    build_daily_summaries(lake)
    spec = q.FunnelSpec(STEPS, WINDOW_US)
    assert q.funnel(DuckDBEngine(lake), q.Scope(), spec, RNG) == q.funnel(ClickHouseEngine(lake), q.Scope(), spec, RNG)


def test_wau_and_mau_over_gaps_equal_a_restatement_on_both_engines() -> None:
    """Days with no events at all: the windows still count the persons seen within them."""
    lake = tempfile.mkdtemp()
    base = dt.datetime(2026, 1, 1, 2, 0, tzinfo=TZ)
    active_on = {0: [1, 2], 1: [2], 9: [3, 1], 10: [1], 38: [4], 45: [2, 4, 5]}
    events = [
        Event("app_active", base + dt.timedelta(days=d, minutes=p), p, p % 2 + 1, event_id=f"g{d}-{p}")
        for d, persons in active_on.items()
        for p in persons
    ]
    write_events(lake, events)
    rng = q.Range(dt.date(2026, 1, 1), dt.date(2026, 2, 28))

    def window(day: int, w: int) -> int:
        return len({p for d, ps in active_on.items() if day - w < d <= day for p in ps})

    expected = [(d.isoformat(), window(i, 1), window(i, 7), window(i, 30)) for i, d in enumerate(rng.days())]
    for built in (False, True):
        if built:
            build_daily_summaries(lake)
        for engine in (DuckDBEngine(lake), ClickHouseEngine(lake)):
            for summary in (False, True):
                got = q.active(engine, q.Scope(), rng, summary=summary)["days"]
                assert [(r["day"], r["dau"], r["wau"], r["mau"]) for r in got] == expected, (engine.name, summary)


def test_person_time_order_equals_a_lexsort_for_day_runs_and_for_shuffled_rows() -> None:
    rnd = np.random.default_rng(9)
    runs: list[tuple[Any, Any, Any]] = []
    for _ in range(40):  # day files: each sorted by (pid, us, step)
        pid = rnd.integers(1, 500, 300)
        us = rnd.integers(0, 1000, 300) + len(runs) * 1000
        step = rnd.integers(0, 4, 300).astype(np.int8)
        o = np.lexsort((step, us, pid))
        runs.append((pid[o], us[o], step[o]))
    pid = np.concatenate([r[0] for r in runs])
    us = np.concatenate([r[1] for r in runs])
    step = np.concatenate([r[2] for r in runs]).astype(np.int8)
    perm = rnd.permutation(len(pid))
    for p, u, s in ((pid, us, step), (pid[perm], us[perm], step[perm])):
        got = chains.person_time_order(p, u, s)
        want = np.lexsort((s, u, p))
        assert np.array_equal(np.stack([p[got], u[got], s[got]]), np.stack([p[want], u[want], s[want]]))


def test_the_summarize_job_is_on_the_scheduler_and_refreshes_only_what_changed() -> None:
    from hufen.analytics.tasks import analytics_summarize
    from hufen.common import scheduler

    assert {j.name: j for j in scheduler.jobs()}["analytics.summarize"].every == dt.timedelta(minutes=15)
    lake = tempfile.mkdtemp()
    assert analytics_summarize(lake_url=lake) == {"rebuilt": 0, "kept": 0, "dropped": 0}  # no lake yet
    write_events(lake, [Event("app_active", dt.datetime(2026, 1, 3, 12, tzinfo=dt.UTC), 1, event_id="j1")])
    # The UTC date 2026-01-03 overlaps the local (Shanghai) days 01-03 and 01-04.
    assert analytics_summarize(lake_url=lake) == {"rebuilt": 2, "kept": 0, "dropped": 0}
    assert analytics_summarize(lake_url=lake) == {"rebuilt": 0, "kept": 2, "dropped": 0}

"""The same queries on DuckDB and ClickHouse (chdb) over the same Parquet give identical results,
and the funnel equals a pure-Python windowFunnel on small inputs."""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hufen.analytics import queries as q
from hufen.analytics.engines import ClickHouseEngine, DuckDBEngine
from hufen.analytics.lakegen import Event, write_events

STEPS = ("a_step", "b_step", "c_step")
T0 = dt.datetime(2026, 3, 1, 15, 59, 0, tzinfo=dt.UTC)  # near midnight in Shanghai
RANGE = q.Range(dt.date(2026, 3, 1), dt.date(2026, 3, 10))
WINDOW_S = 120


def window_funnel(events: Sequence[tuple[int, str]], steps: Sequence[str], window: int) -> int:
    """ClickHouse windowFunnel default mode, restated: the oracle. events: (seconds, name)."""
    index = {s: i for i, s in enumerate(steps)}
    ordered = sorted((t, index[e]) for t, e in events if e in index)
    best = 0
    for t0, i0 in ordered:
        if i0 != 0:
            continue
        level, last = 1, (t0, 0)
        for t, i in ordered:
            if i == level and (t, i) >= last and t <= t0 + window:
                level, last = level + 1, (t, i)
                if level == len(steps):
                    break
        best = max(best, level)
    return best


def both(lake: str) -> tuple[DuckDBEngine, ClickHouseEngine]:
    return DuckDBEngine(lake), ClickHouseEngine(lake)


event_st = st.tuples(
    st.integers(1, 4),  # person
    st.sampled_from([*STEPS, "other"]),
    st.integers(0, 400),  # seconds after T0: crosses 16:00Z = midnight Shanghai
    st.sampled_from([1, 2, None]),
    st.sampled_from(["app", "web", None]),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event_st, max_size=25))
def test_funnel_matches_oracle_and_clickhouse(rows: list[tuple[int, str, int, int | None, str | None]]) -> None:
    lake = tempfile.mkdtemp()
    write_events(
        lake,
        [Event(e, T0 + dt.timedelta(seconds=s), p, d, c, f'{{"src": "{c}"}}' if c else None) for p, e, s, d, c in rows],
    )
    duck, ch = both(lake)
    spec = q.FunnelSpec(STEPS, WINDOW_S * 1_000_000)
    got = q.funnel_depths(duck, q.Scope(), spec, RANGE)
    assert got == q.funnel_depths(ch, q.Scope(), spec, RANGE)
    expected = [0, 0, 0]
    for person in {r[0] for r in rows}:
        depth = window_funnel([(s, e) for p, e, s, _, _ in rows if p == person], STEPS, WINDOW_S)
        for k in range(depth):
            expected[k] += 1
    assert got.get("", [0, 0, 0]) == expected
    for by in ("channel", "dealer", "prop:src"):
        spec_by = q.FunnelSpec(STEPS, WINDOW_S * 1_000_000, by)
        assert q.funnel(duck, q.Scope(), spec_by, RANGE) == q.funnel(ch, q.Scope(), spec_by, RANGE)
    for period in q.PERIODS:
        assert q.retention(duck, q.Scope(), RANGE, "a_step", "b_step", period, 3) == q.retention(
            ch, q.Scope(), RANGE, "a_step", "b_step", period, 3
        )


@pytest.mark.parametrize(
    ("rows", "depth"),
    [
        ([(0, "a_step"), (0, "b_step"), (0, "c_step")], 3),  # equal timestamps chain
        ([(0, "b_step"), (0, "a_step")], 2),  # same second, listed out of order
        ([(0, "a_step"), (WINDOW_S, "b_step"), (WINDOW_S, "c_step")], 3),  # exactly at the window
        ([(0, "a_step"), (WINDOW_S + 1, "b_step")], 1),  # one second late
        ([(5, "b_step"), (0, "a_step"), (10, "c_step")], 3),  # stored out of order
        ([(0, "a_step"), (1, "c_step"), (2, "b_step")], 2),  # c before b
        ([(0, "a_step"), (100, "a_step"), (110, "b_step"), (210, "c_step")], 3),  # restarted chain wins
        ([(0, "a_step"), (10, "b_step"), (100, "a_step"), (200, "c_step")], 2),
    ],
)
def test_funnel_edge_cases(rows: list[tuple[int, str]], depth: int) -> None:
    assert window_funnel(rows, STEPS, WINDOW_S) == depth
    lake = tempfile.mkdtemp()
    write_events(lake, [Event(e, T0 + dt.timedelta(seconds=s), 7) for s, e in rows])
    expected = {"": [1 if k < depth else 0 for k in range(3)]}
    spec = q.FunnelSpec(STEPS, WINDOW_S * 1_000_000)
    for engine in both(lake):
        assert q.funnel_depths(engine, q.Scope(), spec, RANGE) == expected


def test_shanghai_day_boundary() -> None:
    """15:59:59Z is 23:59:59 in Shanghai, 16:00:00Z the next local day."""
    lake = tempfile.mkdtemp()
    day = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    write_events(
        lake,
        [
            Event("a_step", day + dt.timedelta(hours=15, minutes=59, seconds=59), 1),
            Event("b_step", day + dt.timedelta(hours=16), 1),
            Event("a_step", day + dt.timedelta(hours=16), 2),
        ],
    )
    rng = q.Range(dt.date(2026, 3, 1), dt.date(2026, 3, 2))
    for engine in both(lake):
        res = q.retention(engine, q.Scope(), rng, "a_step", "b_step", "day", 2)
        assert res["cohorts"] == [
            {"cohort": "2026-03-01", "size": 1, "retained": [0, 1], "rates": [0.0, 1.0]},
            {"cohort": "2026-03-02", "size": 1, "retained": [0, 0], "rates": [0.0, 0.0]},
        ]
        days = q.active(engine, q.Scope(), rng)["days"]
        assert [(d["day"], d["dau"], d["events"]) for d in days] == [("2026-03-01", 1, 1), ("2026-03-02", 2, 2)]


def test_seeded_larger_set_identical_on_both_engines() -> None:
    rnd = random.Random(2026)
    names = [*q.NAMED_FUNNELS["acquisition"], "member_joined", "app_active", "post_created"]
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    events = [
        Event(
            rnd.choice(names),
            start + dt.timedelta(seconds=rnd.randrange(0, 75 * 86400)),
            rnd.randrange(1, 400),
            rnd.choice([1, 2, 3, None]),
            rnd.choice(["app", "wechat", None]),
        )
        for _ in range(6000)
    ]
    events += events[:50]  # a few duplicates slipped through
    lake = tempfile.mkdtemp()
    write_events(lake, events)
    duck, ch = both(lake)
    rng = q.Range(dt.date(2026, 1, 1), dt.date(2026, 3, 10))
    labels = ((1, "east"), (2, "east"), (3, "west"))
    for by in (None, "region", "channel"):
        spec = q.FunnelSpec(q.NAMED_FUNNELS["acquisition"], 7 * 86400 * 1_000_000, by, labels)
        assert q.funnel(duck, q.Scope(), spec, rng) == q.funnel(ch, q.Scope(), spec, rng)
    scope = q.Scope(frozenset({1, 2}))
    for period in q.PERIODS:
        assert q.retention(duck, scope, rng, "lead_created", "app_active", period, 6) == q.retention(
            ch, scope, rng, "lead_created", "app_active", period, 6
        )
    assert q.active(duck, scope, rng) == q.active(ch, scope, rng)

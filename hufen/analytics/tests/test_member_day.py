"""Member Day participation, one query for all the days, against a Python restatement, on both engines."""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from typing import Any
from zoneinfo import ZoneInfo

from hufen.analytics import queries as q
from hufen.analytics.engines import ClickHouseEngine, DuckDBEngine
from hufen.analytics.lakegen import Event, write_events
from hufen.analytics.summaries import build_daily_summaries

TZ = ZoneInfo("Asia/Shanghai")


def oracle(events: list[Event], days: list[dt.date], dealers: frozenset[int] | None) -> list[dict[str, Any]]:
    out = []
    for day in days:
        start = dt.datetime(day.year, day.month, day.day, tzinfo=TZ)
        end = start + dt.timedelta(days=1)
        members = {e.person_id for e in events if e.event == "member_joined" and e.ts < start}
        active = {
            e.person_id
            for e in events
            if start <= e.ts < end and (dealers is None or e.dealer_id in dealers) and e.person_id in members
        }
        share = round(len(active) / len(members), 4) if members else None
        out.append({"day": day.isoformat(), "members": len(members), "active": len(active), "share": share})
    return out


def test_member_days_in_one_query_equal_the_oracle_on_both_engines() -> None:
    rnd = random.Random(31)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    events = [
        Event(
            rnd.choice(["member_joined", "app_active", "app_active", "member_day_check_in", "page_viewed"]),
            start + dt.timedelta(seconds=rnd.randrange(0, 120 * 86400)),
            rnd.randrange(1, 150),
            rnd.choice([1, 2, 3, None]),
        )
        for _ in range(5000)
    ]
    # Around a member day's local midnight (16:00 UTC the day before): joins just before and just after.
    eve = dt.datetime(2026, 2, 27, 15, 59, 59, tzinfo=dt.UTC)
    events += [Event("member_joined", eve, 500, 1), Event("app_active", eve + dt.timedelta(seconds=2), 500, 1)]
    events += [Event("member_joined", eve + dt.timedelta(seconds=1), 501, 1), Event("app_active", eve, 501, 1)]
    lake = tempfile.mkdtemp()
    write_events(lake, events)
    build_daily_summaries(lake)
    rng = q.Range(dt.date(2026, 1, 1), dt.date(2026, 4, 30))
    days = [dt.date(2026, 3, 31), dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 4, 15)]
    for dealers in (None, frozenset({1, 2})):
        expected = oracle(events, days, dealers)
        for engine in (DuckDBEngine(lake), ClickHouseEngine(lake)):
            for summary in (False, True):
                got = q.member_day_participation(engine, q.Scope(dealers), rng, days, "member_joined", summary)
                assert got == expected, (engine.name, summary, dealers)
    assert expected[2]["members"] > 0 and expected[2]["active"] > 0
    assert q.member_day_participation(DuckDBEngine(lake), q.Scope(), rng, [], "member_joined", False) == []

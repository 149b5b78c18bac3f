"""Chart caching: a repeated chart is served from the cache; a new lake file or another scope is not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.cache import cache

from conftest import World
from hufen.analytics import selectors as s
from hufen.analytics.engines import DuckDBEngine, Row
from hufen.analytics.lakegen import Event, write_events

pytestmark = pytest.mark.django_db
DAY = dt.datetime(2026, 5, 10, 2, 0, tzinfo=dt.UTC)


class CountingDuckDB(DuckDBEngine):
    """The real DuckDB engine, counting the SQL statements it runs."""

    statements = 0

    def rows(self, sql: str) -> list[Row]:
        type(self).statements += 1
        return super().rows(sql)

    def arrays(self, sql: str) -> dict[str, np.ndarray]:
        type(self).statements += 1
        return super().arrays(sql)


@pytest.fixture
def lake(tmp_path: Path, world: World, settings: Any) -> Path:
    settings.LAKE_URL = str(tmp_path)
    settings.ANALYTICS_CACHE_SECONDS = 600
    cache.clear()
    a1, b1 = world.dealers["A1"].pk, world.dealers["B1"].pk
    write_events(
        str(tmp_path),
        [Event("lead_created", DAY, 1, a1), Event("store_visited", DAY, 1, a1), Event("lead_created", DAY, 3, b1)],
        name="first",
    )
    return tmp_path


def funnel(world: World, who: str, lake: Path) -> tuple[list[int], int]:
    engine = CountingDuckDB(str(lake))
    before = CountingDuckDB.statements
    query = s.FunnelQuery(
        ("lead_created", "store_visited"), 7 * 86_400_000_000, s.parse_range("2026-05-01", "2026-05-31")
    )
    result = s.funnel_for(world.actor(who), query, engine)
    return [st["count"] for st in result["steps"]], CountingDuckDB.statements - before


def test_a_repeated_chart_is_served_from_the_cache(lake: Path, world: World) -> None:
    assert funnel(world, "hq_admin", lake) == ([2, 1], 1)
    assert funnel(world, "hq_admin", lake) == ([2, 1], 0)  # no SQL at all
    assert funnel(world, "hq_operator", lake) == ([2, 1], 0)  # the same scope shares the entry


def test_another_scope_never_reads_a_cached_result(lake: Path, world: World) -> None:
    assert funnel(world, "hq_admin", lake)[0] == [2, 1]
    assert funnel(world, "dealer_b1", lake) == ([1, 0], 1)
    assert funnel(world, "dealer_a1", lake) == ([1, 1], 1)


def test_a_new_lake_file_is_a_new_version(lake: Path, world: World) -> None:
    assert funnel(world, "hq_admin", lake)[0] == [2, 1]
    version = s.lake_version(str(lake))
    write_events(str(lake), [Event("store_visited", DAY + dt.timedelta(hours=1), 3, world.dealers["B1"].pk)], "second")
    assert s.lake_version(str(lake)) != version
    assert funnel(world, "hq_admin", lake) == ([2, 2], 1)


def test_the_cache_can_be_turned_off(lake: Path, world: World, settings: Any) -> None:
    settings.ANALYTICS_CACHE_SECONDS = 0
    assert funnel(world, "hq_admin", lake)[1] == 1
    assert funnel(world, "hq_admin", lake)[1] == 1


def test_a_cached_result_is_a_copy(lake: Path, world: World) -> None:
    engine = DuckDBEngine(str(lake))
    rng = s.parse_range("2026-05-01", "2026-05-31")
    first = s.active_for(world.actor("hq_admin"), rng=rng, engine=engine)
    first["days"].clear()
    assert s.active_for(world.actor("hq_admin"), rng=rng, engine=engine)["days"]

"""The demo's behaviour events in the lake: derived from the DB rows, idempotent, and the analytics
pages work on them; a fresh install without events shows an empty state, not an error."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from conftest import World
from hufen.analytics import queries as q
from hufen.analytics.engines import DuckDBEngine
from hufen.analytics.lakegen import Event, write_events
from hufen.demo.events import FILE_NAME, build_events, write_demo_events
from hufen.demo.generate import generate_demo
from hufen.memberday.models import CheckIn
from hufen.membership.models import Member
from hufen.people.models import Ownership
from hufen.tracking import lake as lakefs

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 11, 20)
NOW = dt.datetime.combine(TODAY, dt.time(16), dt.UTC) - dt.timedelta(days=1)  # Beijing midnight
PERSONS = 200
SEED = 7
PAGES = [
    "/console/analytics/",
    "/console/analytics/double/",
    "/console/analytics/retention/",
    "/console/analytics/active/",
]


@pytest.fixture
def demo(demo_lake: Path) -> Path:
    generate_demo(persons=PERSONS, seed=SEED, today=TODAY)
    return demo_lake


def counts(lake: Path) -> dict[str, int]:
    con = duckdb.connect()
    rows = con.execute(f"SELECT event, count(*) FROM read_parquet('{lakefs.events_glob(lake)}') GROUP BY 1").fetchall()
    return {str(name): int(n) for name, n in rows}


def all_ids(lake: Path) -> list[str]:
    con = duckdb.connect()
    return [r[0] for r in con.execute(f"SELECT event_id FROM read_parquet('{lakefs.events_glob(lake)}')").fetchall()]


def us(at: dt.datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def fingerprint(lake: Path) -> dict[str, str]:
    return {
        str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(lake.glob("events/date=*/*.parquet"))
    }


def test_acquisition_funnel_decreases_along_the_steps(demo: Path) -> None:
    engine = DuckDBEngine(str(demo))
    spec = q.FunnelSpec(q.NAMED_FUNNELS["acquisition"], 30 * 86_400 * 1_000_000)
    result = q.funnel(engine, q.Scope(), spec, q.Range(TODAY - dt.timedelta(days=365), TODAY))
    steps = [s["count"] for s in result["steps"]]
    assert [s["name"] for s in result["steps"]] == list(q.NAMED_FUNNELS["acquisition"])
    assert steps[-1] > 0
    assert all(a > b for a, b in itertools.pairwise(steps)), steps


def test_deliveries_members_and_check_ins_match_the_database(demo: Path) -> None:
    found = counts(demo)
    assert found["vehicle_delivered"] == Ownership.objects.count() > 0
    assert found["member_joined"] == Member.objects.count() > 0
    assert found["memberday_checked_in"] == CheckIn.objects.count() > 0
    for name in ("lead_created", "store_visited", "test_drive", "order_placed", "app_active", "page_viewed"):
        assert found.get(name, 0) > 0, name
    # Each check-in event carries its row's person, dealer, time and Member Day.
    con = duckdb.connect()
    rows = con.execute(
        "SELECT event_id, person_id, dealer_id, epoch_us(ts), properties "
        f"FROM read_parquet('{lakefs.events_glob(demo)}') WHERE event = 'memberday_checked_in'"
    ).fetchall()
    by_id = {r[0]: r for r in rows}
    for c in CheckIn.objects.select_related("occurrence"):
        _, person, dealer, ts, props = by_id[f"demo-c{c.pk}"]
        assert (person, dealer, ts) == (c.person_id, c.dealer_id, us(c.checked_in_at))
        assert json.loads(props)["day"] == c.occurrence.day.isoformat()
    # Each delivery event is at its ownership's delivery and dealer.
    delivered = con.execute(
        f"SELECT event_id, person_id, dealer_id, epoch_us(ts) FROM read_parquet('{lakefs.events_glob(demo)}') "
        "WHERE event = 'vehicle_delivered'"
    ).fetchall()
    facts = {f"demo-o{o.pk}-delivered": (o.person_id, o.dealer_id, us(o.delivered_at)) for o in Ownership.objects.all()}
    assert {r[0]: (r[1], r[2], r[3]) for r in delivered} == facts


def test_events_per_person_stay_between_five_and_thirty(demo: Path) -> None:
    total = sum(counts(demo).values())
    assert 5 * PERSONS <= total <= 30 * PERSONS, total


def test_a_second_run_rewrites_the_same_files(demo: Path) -> None:
    before, files = counts(demo), fingerprint(demo)
    ids = all_ids(demo)
    assert len(ids) == len(set(ids))
    generate_demo(persons=PERSONS, seed=SEED, today=TODAY)
    assert counts(demo) == before
    assert fingerprint(demo) == files


def test_re_runs_without_a_day_end_at_the_first_run_and_rewrite_equal_files(demo: Path) -> None:
    generate_demo(persons=PERSONS, seed=SEED)
    before, files = counts(demo), fingerprint(demo)
    generate_demo(persons=PERSONS, seed=SEED)
    assert counts(demo) == before
    assert fingerprint(demo) == files


def test_a_compacted_partition_is_not_doubled_by_a_re_run(demo: Path) -> None:
    before = counts(demo)
    busiest = max(lakefs.partitions(demo), key=lambda d: pq.ParquetFile(d / FILE_NAME).metadata.num_rows)
    other = dt.datetime.fromisoformat(busiest.name.removeprefix("date=") + "T03:00:00+00:00")
    write_events(str(demo), [Event("app_active", other, 999_999, None, "app", None, "ext-1")], name="ext")
    lakefs.compact_partition(busiest)
    assert not (busiest / FILE_NAME).exists()
    result = write_demo_events(seed=SEED, now=NOW, lake_url=str(demo))
    after = counts(demo)
    assert after["app_active"] == before["app_active"] + 1
    assert {k: v for k, v in after.items() if k != "app_active"} == {
        k: v for k, v in before.items() if k != "app_active"
    }
    assert result.skipped > 0
    ids = all_ids(demo)
    assert len(ids) == len(set(ids))


def test_the_events_are_deterministic_by_seed(demo: Path) -> None:
    one = build_events(seed=SEED, now=NOW).sort_by("event_id")
    assert one.equals(build_events(seed=SEED, now=NOW).sort_by("event_id"))
    other = build_events(seed=SEED + 1, now=NOW).sort_by("event_id")
    assert not one.column("ts").equals(other.column("ts"))
    # All in the past of the demo's day.
    assert max(one.column("ts").to_pylist()) <= NOW


def test_dates_without_demo_events_lose_their_stale_demo_file(demo: Path) -> None:
    stale = lakefs.partition_dir(demo, dt.date(2001, 1, 1))
    stale.mkdir(parents=True)
    (stale / FILE_NAME).write_bytes((next(demo.glob(f"events/date=*/{FILE_NAME}"))).read_bytes())
    result = write_demo_events(seed=SEED, now=NOW, lake_url=str(demo))
    assert result.removed == 1
    assert not (stale / FILE_NAME).exists()


@pytest.mark.parametrize("page", PAGES)
def test_console_analytics_pages_render_the_demo_for_hq_admin(demo: Path, page: str) -> None:
    client = Client()
    client.force_login(get_user_model().objects.get(username="hq_admin"))
    response = client.get(f"{page}?from={TODAY - dt.timedelta(days=60)}&to={TODAY}")
    html = response.content.decode()
    assert response.status_code == 200, html[:500]
    assert 'id="analytics-chart"' in html
    assert 'id="analytics-data"' in html


def test_double_funnel_of_the_demo_has_deliveries(demo: Path) -> None:
    client = Client()
    client.force_login(get_user_model().objects.get(username="hq_admin"))
    response = client.get(f"/console/analytics/double/?from={TODAY - dt.timedelta(days=180)}&to={TODAY}")
    data = json.loads(response.content.decode().split('id="analytics-data" type="application/json">')[1].split("<")[0])
    acquisition = [s["count"] for s in data["acquisition"]["steps"]]
    assert acquisition[0] > acquisition[-1] > 0


@pytest.mark.parametrize("page", PAGES)
def test_an_empty_lake_shows_an_empty_state_not_an_error(world: World, demo_lake: Path, page: str) -> None:
    assert not demo_lake.exists()
    client = Client(headers={"accept-language": "zh-hans"})
    client.force_login(world.staff["hq_admin"].user)
    response = client.get(page)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="empty-lake"' in html
    assert "暂无事件数据" in html
    assert "hufen demo" in html
    assert 'data-testid="error"' not in html
    # An empty events folder (a lake that was set up, nothing imported yet) is empty too.
    (demo_lake / "events").mkdir(parents=True)
    assert 'data-testid="empty-lake"' in client.get(page).content.decode()


def test_an_empty_lake_still_refuses_a_butler(world: World, demo_lake: Path) -> None:
    client = Client()
    client.force_login(world.staff["butler_a1"].user)
    assert client.get("/console/analytics/").status_code == 403


def test_once_events_arrive_the_page_shows_the_chart(world: World, demo_lake: Path) -> None:
    t = dt.datetime(2026, 5, 10, tzinfo=dt.UTC)
    write_events(str(demo_lake), [Event("lead_created", t, 1, world.dealers["A1"].pk)])
    client = Client()
    client.force_login(world.staff["hq_admin"].user)
    html = client.get("/console/analytics/?from=2026-05-01&to=2026-05-31").content.decode()
    assert 'id="analytics-chart"' in html
    assert 'data-testid="empty-lake"' not in html

"""A crash between acknowledgement and compaction loses nothing and duplicates nothing.

Real processes, really killed: `hufen events flush|compact` run in subprocesses against a scratch
SQLite store and lake; they die by SIGKILL at named points (the `HUFEN_TRACKING_CRASH_AT` hook) and
at random moments. After a clean rerun the lake holds every acknowledged event exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from hufen.tracking.lake import events_glob

ROOT = Path(__file__).resolve().parents[3]
HUFEN = [sys.executable, "-m", "hufen.cli"]

SEED = """
import datetime as dt, sys
import django
django.setup()
from hufen.common.actors import SYSTEM
from hufen.common.events import publish
from hufen.tracking.services import events_ingest
start, count = int(sys.argv[1]), int(sys.argv[2])
base = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=40)
for first in range(start, start + count, 1000):
    batch = [
        {"event_id": f"e{i}", "event": "app_active", "anonymous_id": f"d{i % 97}",
         "ts": (base + dt.timedelta(minutes=7 * i)).isoformat()}
        for i in range(first, min(first + 1000, start + count))
    ]
    result = events_ingest(actor=SYSTEM, raw_events=batch)
    assert result.count("rejected") == 0, result.outcomes[0]
publish("vehicle_delivered", person_id=1, ts=base)
"""


def run(env: dict[str, str], *args: str, crash_at: str | None = None) -> int:
    env = {**env, **({"HUFEN_TRACKING_CRASH_AT": crash_at} if crash_at else {})}
    return subprocess.run([*HUFEN, *args], env=env, cwd=ROOT, capture_output=True, timeout=120).returncode


def seed(env: dict[str, str], start: int, count: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SEED, str(start), str(count)], env=env, cwd=ROOT, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()


def lake_counts(lake_url: str) -> tuple[int, int]:
    [(n, distinct)] = (
        duckdb.connect()
        .execute(f"SELECT count(*), count(DISTINCT event_id) FROM read_parquet('{events_glob(lake_url)}')")
        .fetchall()
    )
    return int(n), int(distinct)


@pytest.fixture
def scratch(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
        "HUFEN_LAKE_URL": str(tmp_path / "lake"),
        "DJANGO_SETTINGS_MODULE": "hufen.settings",
    }
    env.pop("HUFEN_TRACKING_CRASH_AT", None)
    assert run(env, "migrate", "--verbosity", "0") == 0
    return env


def test_killed_jobs_lose_nothing_and_duplicate_nothing(scratch: dict[str, str]) -> None:
    lake_url = scratch["HUFEN_LAKE_URL"]
    seed(scratch, 0, 3000)
    for point in ["before_rename", "flush_before_delete"]:
        assert run(scratch, "events", "flush", crash_at=point) == -signal.SIGKILL
    assert run(scratch, "events", "flush") == 0
    # Acknowledged again (a client retry after the store was emptied), plus new events.
    seed(scratch, 2500, 1500)
    assert run(scratch, "events", "flush") == 0
    for point in ["compact_after_journal", "compact_after_rename"]:
        assert run(scratch, "events", "compact", crash_at=point) == -signal.SIGKILL
    rng = random.Random(os.getpid())
    for round_no in range(3):
        seed(scratch, 4000 + 500 * round_no, 500)
        process = subprocess.Popen(
            [*HUFEN, "events", "compact"], env=scratch, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.2, 2.5))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert run(scratch, "events", "compact") == 0
    assert run(scratch, "events", "compact") == 0
    # 5,500 app events + the outbox's deliveries (one per seed run, each with its own id).
    assert lake_counts(lake_url) == (5500 + 5, 5500 + 5)
    ids = duckdb.connect().execute(
        f"SELECT event_id FROM read_parquet('{events_glob(lake_url)}') WHERE event = 'app_active'"
    )
    assert {row[0] for row in ids.fetchall()} == {f"e{i}" for i in range(5500)}
    leftovers = [p.name for p in Path(lake_url).rglob("*") if p.suffix in {".tmp", ".json"}]
    assert leftovers == []

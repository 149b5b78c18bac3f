"""The shared scheduler (hufen.common.scheduler): slots, one start per slot, failures, the command."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django_tasks_db.models import DBTaskResult

from hufen.common import scheduler
from hufen.testing.concurrency import require_postgres
from hufen.tracking.models import ScheduledRun
from hufen.tracking.tests.helpers import lake_rows, raw_event

NOW = dt.datetime(2026, 11, 22, 17, 59, 30, tzinfo=dt.UTC)  # 01:59:30 on the 23rd in Shanghai


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            self.calls += 1
            return self.calls


@pytest.fixture
def jobs() -> Iterator[dict[str, Counter]]:
    counters = {"test.minute": Counter(), "test.nightly": Counter()}
    scheduler.register("test.minute", counters["test.minute"], every=dt.timedelta(minutes=1))
    scheduler.register("test.nightly", counters["test.nightly"], daily_at=dt.time(2, 0))
    yield counters
    for name in counters:
        scheduler.unregister(name)
    scheduler.unregister("test.broken")


def only_tests(job: scheduler.Job) -> bool:
    return job.name.startswith("test.")


def test_slots_are_shared_by_every_scheduler() -> None:
    minute = scheduler.Job("m", print, every=dt.timedelta(minutes=15))
    assert minute.slot(NOW) == "2026-11-22T17:45:00Z"
    assert minute.slot(NOW + dt.timedelta(minutes=1)) == "2026-11-22T18:00:00Z"
    nightly = scheduler.Job("n", print, daily_at=dt.time(2, 0))
    assert nightly.slot(NOW) == "2026-11-22T02:00"  # 01:59 local: still yesterday's slot
    assert nightly.slot(NOW + dt.timedelta(seconds=30)) == "2026-11-23T02:00"


@pytest.mark.django_db
def test_each_slot_starts_once(jobs: dict[str, Counter]) -> None:
    first = scheduler.run_due(now=NOW, only=only_tests)
    assert {(s.job, s.slot, s.ok) for s in first} == {
        ("test.minute", "2026-11-22T17:59:00Z", True),
        ("test.nightly", "2026-11-22T02:00", True),
    }
    assert scheduler.run_due(now=NOW + dt.timedelta(seconds=20), only=only_tests) == []
    later = scheduler.run_due(now=NOW + dt.timedelta(seconds=40), only=only_tests)  # 02:00:10 local
    assert [(s.job, s.slot) for s in later] == [
        ("test.minute", "2026-11-22T18:00:00Z"),
        ("test.nightly", "2026-11-23T02:00"),
    ]
    assert (jobs["test.minute"].calls, jobs["test.nightly"].calls) == (2, 2)
    run = ScheduledRun.objects.get(job="test.minute", slot="2026-11-22T17:59:00Z")
    assert run.ok is True and run.finished_at is not None and run.outcome == "1"


@pytest.mark.django_db
def test_a_failing_job_is_recorded_and_the_others_still_run(jobs: dict[str, Counter]) -> None:
    def broken() -> None:
        raise RuntimeError("短信网关超时")

    scheduler.register("test.broken", broken, every=dt.timedelta(minutes=5))
    started = {s.job: s for s in scheduler.run_due(now=NOW, only=only_tests)}
    assert started["test.broken"].ok is False and "短信网关超时" in started["test.broken"].outcome
    assert started["test.minute"].ok and jobs["test.minute"].calls == 1
    assert ScheduledRun.objects.get(job="test.broken").ok is False
    assert scheduler.run_due(now=NOW, only=only_tests) == []  # not retried within the slot


def test_registration_is_checked() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        scheduler.register("test.x", print)
    with pytest.raises(ValueError, match="exactly one"):
        scheduler.register("test.x", print, every=dt.timedelta(minutes=1), daily_at=dt.time(1))
    scheduler.register("tracking.flush", print, every=dt.timedelta(minutes=1))  # same schedule: kept
    with pytest.raises(ValueError, match="another schedule"):
        scheduler.register("tracking.flush", print, every=dt.timedelta(minutes=2))
    from hufen.tracking.tasks import flush_task

    scheduler.register("tracking.flush", flush_task, every=dt.timedelta(minutes=1))


@pytest.mark.django_db
def test_tracking_jobs_are_registered_as_tasks(lake_url: str) -> None:
    from hufen.tracking.services import events_ingest

    names = {j.name: j for j in scheduler.jobs()}
    assert names["tracking.flush"].every == dt.timedelta(minutes=1)
    assert names["tracking.compact"].every == dt.timedelta(hours=1)
    before = DBTaskResult.objects.count()
    started = scheduler.run_due(now=NOW, only=lambda j: j.name == "tracking.flush")
    assert [s.job for s in started] == ["tracking.flush"] and DBTaskResult.objects.count() == before + 1
    from hufen.common.actors import SYSTEM

    events_ingest(actor=SYSTEM, raw_events=[raw_event(event_id="sched-1")])
    out = StringIO()
    call_command("scheduler", "run", "--once", "--inline", "--job", "tracking.flush", stdout=out)
    line = json.loads(out.getvalue().splitlines()[0])
    assert line["job"] == "tracking.flush" and line["ok"] is True
    assert [r["event_id"] for r in lake_rows(lake_url)] == ["sched-1"]
    listing = StringIO()
    call_command("scheduler", "list", "--json", stdout=listing)
    rows = {r["job"]: r for r in json.loads(listing.getvalue())}
    assert rows["tracking.flush"]["last_ok"] is True and rows["tracking.compact"]["every_seconds"] == 3600
    with pytest.raises(CommandError, match="unknown job"):
        call_command("scheduler", "run", "--once", "--job", "nope")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_schedulers_start_each_slot_once(jobs: dict[str, Counter]) -> None:
    require_postgres()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    started: list[Any] = []

    def one() -> None:
        try:
            barrier.wait()
            started.extend(scheduler.run_due(now=NOW, only=only_tests))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(s.job for s in started) == ["test.minute", "test.nightly"]
    assert (jobs["test.minute"].calls, jobs["test.nightly"].calls) == (1, 1)
    assert ScheduledRun.objects.count() == 2


@pytest.mark.django_db
def test_every_apps_housekeeping_is_on_the_one_scheduler() -> None:
    names = {j.name: j for j in scheduler.jobs()}
    assert names["membership.earn"].every == dt.timedelta(minutes=5)
    assert names["membership.expire"].daily_at == dt.time(2, 30)
    assert names["memberday.schedule"].daily_at == dt.time(0, 20)
    assert names["api.idempotency_purge"].daily_at == dt.time(3, 10)
    assert names["scheduler.purge"].daily_at == dt.time(3, 20)
    # and each runs to completion inline (nothing due: they do nothing, but they run)
    for job in ("membership.expire", "api.idempotency_purge", "scheduler.purge"):
        out = StringIO()
        call_command("scheduler", "run", "--once", "--inline", "--job", job, stdout=out)
        assert json.loads(out.getvalue().splitlines()[0])["ok"] is True, out.getvalue()


@pytest.mark.django_db
def test_old_claims_are_purged_and_recent_ones_kept() -> None:
    now = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
    for days in (30, 15, 13, 0):
        ScheduledRun.objects.create(job="test.x", slot=f"d{days}", started_at=now - dt.timedelta(days=days))
    assert scheduler.runs_purge(now=now) == 2
    assert sorted(ScheduledRun.objects.values_list("slot", flat=True)) == ["d0", "d13"]
    assert scheduler.runs_purge(now=now) == 0

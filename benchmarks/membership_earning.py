"""Benchmark the earning job: events through the real pipeline, then `points_earn` and a full replay.

    .venv/bin/python benchmarks/membership_earning.py [MEMBERS] [--postgres]

MEMBERS defaults to 1,000. Each member sends 6 `post_created` (rule: +10, at most 3 a day) and
4 `daily_check_in` (+5), plus 10 `page_viewed` that no rule listens to; all are ingested through
`events_ingest` (not timed) into a scratch lake. Timed: the first run (flush to Parquet, DuckDB read,
one ledger transaction per read batch of events, with batched awards) and a replay of the whole
window (every decision already taken). The database is a temporary SQLite file (or, with
--postgres, a scratch database). Prints one JSON object and keeps a copy in benchmarks/results/.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import uuid

from scratch import ROOT, run_benchmark


def workload(members: int) -> dict[str, object]:
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.core.management import call_command

    from hufen.common.actors import SYSTEM
    from hufen.membership.earning import points_earn
    from hufen.membership.rules import rule_create
    from hufen.membership.services import member_join
    from hufen.org.models import Brand
    from hufen.people.models import Person
    from hufen.tracking.services import events_ingest

    call_command("migrate", verbosity=0)
    brand = Brand.objects.create(code="bench", name="基准品牌", positioning="mass")
    persons = Person.objects.bulk_create(Person(name=f"会员{i}", phone="") for i in range(members))
    joined = [member_join(actor=SYSTEM, person=p, brand=brand, channel="import") for p in persons]
    program = joined[0].program
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for code, event, points, reason, cap in (
        ("post", "post_created", 10, "community_post", 3),
        ("checkin", "daily_check_in", 5, "check_in", None),
    ):
        values = {"name": code, "event": event, "points": points, "reason": reason, "daily_cap_count": cap}
        rule_create(actor=SYSTEM, program=program, code=code, values={**values, "valid_from": start})
    day = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    raw = []
    for p in persons:
        for i in range(6):
            raw.append(("post_created", p.pk, day + dt.timedelta(minutes=i), {"post_id": f"{p.pk}-{i}"}))
        for i in range(4):
            raw.append(("daily_check_in", p.pk, day - dt.timedelta(days=i), {}))
        for i in range(10):
            raw.append(("page_viewed", p.pk, day + dt.timedelta(seconds=i), {"page": "home"}))
    batch = [
        {"event_id": uuid.uuid4().hex, "event": n, "ts": ts.isoformat(), "person_id": pid, "properties": props}
        for n, pid, ts, props in raw
    ]
    for i in range(0, len(batch), 1000):
        events_ingest(actor=SYSTEM, raw_events=batch[i : i + 1000])
    began, cpu = time.monotonic(), time.process_time()
    first = points_earn(actor=SYSTEM)
    first_seconds, first_cpu = time.monotonic() - began, time.process_time() - cpu
    began = time.monotonic()
    replay = points_earn(actor=SYSTEM, since=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    replay_seconds = time.monotonic() - began
    judged = first.events
    return {
        "members": members,
        "events_ingested": len(batch),
        "events_judged": judged,
        "outcomes": dict(first.outcomes),
        "points": first.points,
        "first_run_seconds": round(first_seconds, 2),
        # The machine is shared: CPU seconds of this process are the steadier figure.
        "first_run_cpu_seconds": round(first_cpu, 2),
        "decisions_per_cpu_s": round(sum(first.outcomes.values()) / first_cpu, 1),
        "decisions_per_s": round(sum(first.outcomes.values()) / first_seconds, 1),
        "replay_seconds": round(replay_seconds, 2),
        "replay_points": replay.points,
        "replay_already_decided": replay.already_decided,
    }


def main() -> None:
    run_benchmark(
        script=__file__, name="membership_earning", size_arg="members", default_size=1_000, workload=workload, lake=True
    )


if __name__ == "__main__":
    main()

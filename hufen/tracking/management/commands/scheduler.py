"""`hufen scheduler run|list`: the one scheduler for every app's periodic jobs (hufen.common.scheduler).

`run` wakes every `--tick` seconds and starts the jobs whose current slot nobody has claimed (the
claim is a unique database row, so several schedulers may run side by side). Jobs are django-tasks
tasks: they are enqueued for `hufen db_worker`, or run in this process with `--inline`.
"""

from __future__ import annotations

import json
import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hufen.common import scheduler
from hufen.tracking.models import ScheduledRun


class Command(BaseCommand):
    help = "Run the shared scheduler of periodic jobs, or list the jobs and their last runs."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run", help="start due jobs every --tick seconds until stopped")
        run.add_argument("--tick", type=float, default=5.0)
        run.add_argument("--once", action="store_true", help="start the due jobs once and exit")
        run.add_argument("--inline", action="store_true", help="run the tasks here instead of enqueueing them")
        run.add_argument("--job", action="append", default=[], help="only these jobs (repeatable)")
        listing = sub.add_parser("list", help="the registered jobs and their last run")
        listing.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["action"] == "list":
            self._list(opts["json"])
            return
        names = {j.name for j in scheduler.jobs()}
        unknown = sorted(set(opts["job"]) - names)
        if unknown:
            raise CommandError(f"unknown job {unknown[0]!r} (registered: {', '.join(sorted(names))})")
        wanted = set(opts["job"])
        stop = False

        def _stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        while not stop:
            for s in scheduler.run_due(only=(lambda j: j.name in wanted) if wanted else None, inline=opts["inline"]):
                self.stdout.write(json.dumps({"job": s.job, "slot": s.slot, "ok": s.ok, "outcome": s.outcome[:500]}))
            if opts["once"]:
                break
            deadline = time.monotonic() + opts["tick"]
            while not stop and time.monotonic() < deadline:
                time.sleep(min(0.5, opts["tick"]))

    def _list(self, as_json: bool) -> None:
        rows = []
        for job in scheduler.jobs():
            last = ScheduledRun.objects.filter(job=job.name).order_by("-started_at", "-id").first()
            rows.append(
                {
                    "job": job.name,
                    "every_seconds": int(job.every.total_seconds()) if job.every else None,
                    "daily_at": job.daily_at.strftime("%H:%M") if job.daily_at else None,
                    "last_slot": last.slot if last else None,
                    "last_ok": last.ok if last else None,
                }
            )
        if as_json:
            self.stdout.write(json.dumps(rows, ensure_ascii=False))
            return
        for r in rows:
            when = f"every {r['every_seconds']} s" if r["every_seconds"] else f"daily at {r['daily_at']}"
            self.stdout.write(f"{r['job']}: {when}, last slot {r['last_slot'] or '-'} (ok: {r['last_ok']})")

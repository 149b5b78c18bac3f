"""`hufen analytics funnel|retention|active|summarize`: the double-funnel analytics on the lake."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hufen.analytics import selectors as s
from hufen.analytics.engines import ENGINES
from hufen.analytics.summaries import build_daily_summaries
from hufen.common.actors import SYSTEM


class Command(BaseCommand):
    help = "Funnels, retention and activity over the ONE DATA lake (DuckDB, or ClickHouse via chdb)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)

        def common(p: CommandParser) -> None:
            p.add_argument("--from", dest="date_from", help="first local day, YYYY-MM-DD (default: 30 days ago)")
            p.add_argument("--to", dest="date_to", help="last local day, YYYY-MM-DD (default: today)")
            p.add_argument("--engine", default="duckdb", help=f"query engine: {' or '.join(ENGINES)}")
            p.add_argument("--json", action="store_true", help="print one JSON object")

        f = sub.add_parser("funnel", help="an ordered funnel (ClickHouse windowFunnel semantics)")
        f.add_argument("--steps", help="comma-separated event names, e.g. lead_created,store_visited")
        f.add_argument("--funnel", help="a named funnel: acquisition or retention")
        f.add_argument("--window", default="30d", help="conversion window: 30d, 12h, 2w, 90m, 3600s")
        f.add_argument("--by", help="breakdown: dealer, region, channel or a property name")
        common(f)
        r = sub.add_parser("retention", help="cohort retention matrix")
        r.add_argument("--start", default="vehicle_delivered", help="the event that puts a person in a cohort")
        r.add_argument("--return", dest="returning", default="app_active", help="the event that counts as a return")
        r.add_argument("--period", default="week", help="day, week or month")
        r.add_argument("--periods", type=int, default=12, help="how many periods to show")
        common(r)
        a = sub.add_parser("active", help="DAU, WAU, MAU, stickiness, event counts, Member Day participation")
        a.add_argument("--summary", action="store_true", help="read the daily summaries (see `summarize`)")
        common(a)
        m = sub.add_parser("summarize", help="build or refresh the incremental daily summaries")
        m.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            result = self._run(opts)
        except s.AnalyticsInputError as exc:
            flag = exc.argument if exc.argument in ("lake",) else f"--{exc.argument}"
            raise CommandError(f"{flag}: {exc.reason}", returncode=2) from None
        if opts.get("json"):
            self.stdout.write(json.dumps(result, ensure_ascii=False))
        else:
            self.stdout.write(_text(opts["action"], result))

    def _run(self, opts: dict[str, Any]) -> dict[str, Any]:
        action = opts["action"]
        if action == "summarize":
            from django.conf import settings

            s.open_engine("duckdb")  # checks the lake exists
            return dict(build_daily_summaries(settings.LAKE_URL, settings.HUFEN_BRAND_TIME_ZONE))
        engine_name = opts["engine"]
        if engine_name not in ENGINES:
            raise s.AnalyticsInputError("engine", f"unknown engine {engine_name!r} (use {' or '.join(ENGINES)})")
        rng = s.parse_range(opts["date_from"], opts["date_to"])
        if action == "funnel":
            query = s.FunnelQuery(
                steps=s.parse_steps(opts["steps"], opts["funnel"]),
                window_us=s.parse_window(opts["window"]),
                rng=rng,
                by=s.parse_breakdown(opts["by"]),
            )
            return s.funnel_for(SYSTEM, query, s.open_engine(engine_name))
        if action == "retention":
            start = s.parse_event(opts["start"], "start")
            returning = s.parse_event(opts["returning"], "return")
            period = s.parse_period(opts["period"])
            return s.retention_for(
                SYSTEM,
                start=start,
                returning=returning,
                period=period,
                periods=opts["periods"],
                rng=rng,
                engine=s.open_engine(engine_name),
            )
        return s.active_for(SYSTEM, rng=rng, engine=s.open_engine(engine_name), summary=opts["summary"])


def _text(action: str, result: dict[str, Any]) -> str:
    lines: list[str] = []
    if action == "funnel":
        for step in result["steps"]:
            conv = "" if step["conversion"] is None else f"{step['conversion']:.1%}"
            lines.append(f"{step['name']:<24} {step['count']:>10}  {conv}")
        for b in result.get("breakdown", []):
            lines.append(f"[{b['value']}] " + " → ".join(str(x["count"]) for x in b["steps"]))
    elif action == "retention":
        for c in result["cohorts"]:
            lines.append(f"{c['cohort']}  {c['size']:>8}  " + " ".join(f"{r:>6}" for r in c["retained"]))
    elif action == "active":
        for d in result["days"]:
            lines.append(f"{d['day']}  DAU {d['dau']:>8}  WAU {d['wau']:>8}  MAU {d['mau']:>8}  events {d['events']}")
        for m in result["member_days"]:
            lines.append(f"Member Day {m['day']}: {m['active']}/{m['members']} members active")
    else:
        lines.append(json.dumps(result))
    return "\n".join(lines)

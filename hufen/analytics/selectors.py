"""Reads for the CLI, API and console: parse and check the inputs, scope them to the actor, run.

The engine never reads the OLTP database; the dealer -> region labels and the actor's dealer ids are
read here and handed to the queries.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from hufen.analytics import queries as q
from hufen.analytics.engines import ENGINES, Engine, LakeError, get_engine
from hufen.common.actors import Actor, Scope

_WINDOW = re.compile(r"^(\d{1,6})([smhdw])$")
_UNIT_US = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_STEPS = 10
MAX_DAYS = 3 * 366


class AnalyticsInputError(ValueError):
    def __init__(self, argument: str, reason: str) -> None:
        super().__init__(f"{argument}: {reason}")
        self.argument = argument
        self.reason = reason


class AnalyticsForbidden(PermissionError):
    pass


def parse_window(text: str) -> int:
    m = _WINDOW.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise AnalyticsInputError("window", f"{text!r} is not a window like 30d, 12h, 2w, 90m or 3600s")
    return int(m.group(1)) * _UNIT_US[m.group(2)] * 1_000_000


def parse_steps(text: str | None, named: str | None) -> tuple[str, ...]:
    if named:
        if named not in q.NAMED_FUNNELS:
            raise AnalyticsInputError("funnel", f"unknown funnel {named!r} (use {', '.join(q.NAMED_FUNNELS)})")
        return q.NAMED_FUNNELS[named]
    if not text:
        raise AnalyticsInputError("steps", "give the steps (A,B,C) or a named funnel")
    steps = tuple(s.strip() for s in text.split(","))
    for s in steps:
        if not _ok(s):
            _bad_step(s)
    if len(set(q.step_events(steps))) != len(q.step_events(steps)):
        raise AnalyticsInputError("steps", "an event may appear in only one step")
    if not 1 <= len(steps) <= MAX_STEPS:
        raise AnalyticsInputError("steps", f"between 1 and {MAX_STEPS} steps")
    return steps


def _ok(name: str) -> bool:
    try:
        q.check_event_name(name, "steps")
    except ValueError:
        return False
    return True


def _bad_step(name: str) -> None:
    raise AnalyticsInputError("steps", f"unknown step name {name!r} (event names are lower case: lead_created)")


def parse_event(text: str, argument: str) -> str:
    if not _ok(text):
        raise AnalyticsInputError(argument, f"unknown event name {text!r}")
    return text


def parse_range(date_from: str | dt.date | None, date_to: str | dt.date | None, default_days: int = 30) -> q.Range:
    tz = settings.HUFEN_BRAND_TIME_ZONE

    def day(value: str | dt.date | None, argument: str) -> dt.date | None:
        if value is None or value == "":
            return None
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise AnalyticsInputError(argument, f"{value!r} is not a date (YYYY-MM-DD)") from None

    end = day(date_to, "to") or dt.datetime.now(dt.UTC).astimezone(q.ZoneInfo(tz)).date()
    start = day(date_from, "from") or end - dt.timedelta(days=default_days - 1)
    if start > end:
        raise AnalyticsInputError("from", f"{start} is after --to {end}")
    if (end - start).days >= MAX_DAYS:
        raise AnalyticsInputError("to", f"at most {MAX_DAYS} days")
    return q.Range(start, end, tz)


def parse_breakdown(by: str | None) -> str | None:
    if not by:
        return None
    if by in q.BREAKDOWNS:
        return by
    key = by.removeprefix("prop:")
    if not q._PROP.match(key):
        raise AnalyticsInputError("by", f"{by!r}: use dealer, region, channel or a property name")
    return "prop:" + key


def parse_period(period: str) -> str:
    if period not in q.PERIODS:
        raise AnalyticsInputError("period", f"{period!r}: use {', '.join(q.PERIODS)}")
    return period


def open_engine(name: str | None = None) -> Engine:
    name = name or "duckdb"
    if name not in ENGINES:
        raise AnalyticsInputError("engine", f"unknown engine {name!r} (use {' or '.join(ENGINES)})")
    try:
        return get_engine(name, settings.LAKE_URL, settings.HUFEN_BRAND_TIME_ZONE)
    except LakeError as exc:
        raise AnalyticsInputError("lake", str(exc)) from None


def scope_for(actor: Actor) -> q.Scope:
    """HQ sees every event; a region its dealers'; a dealer (staff or API client) its own."""
    from hufen.org.models import Dealer

    if actor.scope == Scope.ALL:
        return q.Scope()
    if actor.scope == Scope.REGION and actor.region_id:
        return q.Scope(frozenset(Dealer.objects.filter(region_id=actor.region_id).values_list("id", flat=True)))
    if actor.scope == Scope.BRAND and actor.brand_ids:
        ids = Dealer.objects.filter(brands__in=actor.brand_ids).values_list("id", flat=True)
        return q.Scope(frozenset(ids))
    if actor.scope == Scope.DEALER and actor.dealer_id:
        return q.Scope(frozenset({actor.dealer_id}))
    raise AnalyticsForbidden("analytics need an HQ, region or dealer scope")


def dealer_labels(by: str | None) -> tuple[tuple[int, str], ...]:
    if by != "region":
        return ()
    from hufen.org.models import Dealer

    return tuple(Dealer.objects.values_list("id", "region__code"))


@dataclass(frozen=True)
class FunnelQuery:
    steps: tuple[str, ...]
    window_us: int
    rng: q.Range
    by: str | None = None


def lake_version(lake: str) -> str:
    """Changes whenever a raw event file of the lake is added, replaced or removed.

    Writers only ever create files under a temporary name and rename them into place, and delete files:
    each of these changes the mtime of the partition directory. So the version is a hash of the
    partition directories' names and mtimes: one `scandir` per level, ~1 ms for a year of partitions.
    """
    digest = hashlib.sha256()
    # Only the raw events: the summaries change how fast an answer comes, never the answer (a day
    # whose summary is missing or stale is read from the raw events).
    for top in ("events",):
        root = os.path.join(lake, top)
        with contextlib.suppress(FileNotFoundError):
            digest.update(f"{top}\0{os.stat(root).st_mtime_ns}\n".encode())
            with os.scandir(root) as entries:
                parts = sorted((e.name, e.stat().st_mtime_ns) for e in entries if e.is_dir())
            digest.update(repr(parts).encode())
    return digest.hexdigest()[:32]


def cached(kind: str, scope: q.Scope, params: dict[str, Any], engine: Engine, compute: Callable[[], Any]) -> Any:
    """A chart's result from the cache: the key is the query kind, the data scope (the dealers the
    actor sees), the parameters, the engine and the lake version, so a new file or a different scope
    never reads a stale or foreign result. `ANALYTICS_CACHE_SECONDS = 0` turns the cache off."""
    seconds = int(getattr(settings, "ANALYTICS_CACHE_SECONDS", 600))
    if seconds <= 0:
        return compute()
    dealers = "all" if scope.dealer_ids is None else ",".join(str(d) for d in sorted(scope.dealer_ids))
    raw = json.dumps(
        [kind, dealers, params, engine.name, engine.tz, lake_version(engine.lake)], sort_keys=True, default=str
    )
    key = "analytics:v1:" + hashlib.sha256(raw.encode()).hexdigest()
    hit = cache.get(key)
    if hit is not None:
        return copy.deepcopy(hit)
    result = compute()
    cache.set(key, result, seconds)
    return copy.deepcopy(result)


def funnel_for(actor: Actor, query: FunnelQuery, engine: Engine) -> dict[str, Any]:
    scope = scope_for(actor)
    spec = q.FunnelSpec(query.steps, query.window_us, query.by, dealer_labels(query.by))
    params = {"steps": query.steps, "window": query.window_us, "rng": query.rng, "by": query.by}
    result: dict[str, Any] = cached("funnel", scope, params, engine, lambda: q.funnel(engine, scope, spec, query.rng))
    result["window_seconds"] = query.window_us // 1_000_000
    result["from"], result["to"] = query.rng.date_from.isoformat(), query.rng.date_to.isoformat()
    return result


def retention_for(
    actor: Actor, *, start: str, returning: str, period: str, periods: int, rng: q.Range, engine: Engine
) -> dict[str, Any]:
    if not 1 <= periods <= 60:
        raise AnalyticsInputError("periods", "between 1 and 60")
    scope = scope_for(actor)
    params = {"start": start, "return": returning, "period": period, "periods": periods, "rng": rng}
    result: dict[str, Any] = cached(
        "retention", scope, params, engine, lambda: q.retention(engine, scope, rng, start, returning, period, periods)
    )
    return result


def active_for(actor: Actor, *, rng: q.Range, engine: Engine, summary: bool = False) -> dict[str, Any]:
    scope = scope_for(actor)
    try:
        result: dict[str, Any] = cached(
            "active",
            scope,
            {"rng": rng, "summary": summary},
            engine,
            lambda: q.active(engine, scope, rng, summary=summary),
        )
    except LakeError as exc:
        raise AnalyticsInputError("summary", f"{exc}; build them with `hufen analytics summarize`") from None
    return result

"""Live figures in the cache (Redis in production, local memory by default).

Nothing here is a source of truth: every figure the dashboard and report show is computed from the
database, except "members online now", which is presence and exists only here. Lost cache keys make
that figure low for up to five minutes; they never change a check-in, a ledger entry or a report.

Online now: a member counts from their first request for five minutes (`seen:<member>`); that first
request increments the bucket of its minute. The sum of the last five minute buckets is the number
of distinct members with a request in the last five minutes (to the minute).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger("hufen.memberday")
P = ParamSpec("P")
R = TypeVar("R")


def best_effort(default: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A cache that is down (or misconfigured) must not fail a check-in that has already committed:
    log it and answer `default`."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except Exception:  # any cache backend error: the figure is best-effort by design
                logger.warning("memberday live figure %s failed", fn.__name__, exc_info=True)
                result: R = default
                return result

        return wrapper

    return decorate


WINDOW_MINUTES = 5
PREFIX = "memberday"


def _minute(at: dt.datetime) -> int:
    return int(at.timestamp()) // 60


def _incr(key: str, timeout: int) -> None:
    # `add` creates the key only if missing; `incr` is atomic in Redis and in local memory.
    cache.add(key, 0, timeout)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout)


@best_effort(None)
def presence_touch(member_id: int, *, now: dt.datetime | None = None) -> None:
    now = now or timezone.now()
    window = WINDOW_MINUTES * 60
    if cache.add(f"{PREFIX}:seen:{member_id}", 1, window):
        _incr(f"{PREFIX}:online:{_minute(now)}", window + 120)


@best_effort(0)
def online_now(*, now: dt.datetime | None = None) -> int:
    minute = _minute(now or timezone.now())
    keys = [f"{PREFIX}:online:{m}" for m in range(minute - WINDOW_MINUTES + 1, minute + 1)]
    return sum(int(v) for v in cache.get_many(keys).values())


def checkins_key(occurrence_id: int) -> str:
    return f"{PREFIX}:checkins:{occurrence_id}"


@best_effort(None)
def record_checkin(occurrence_id: int) -> None:
    """After a check-in commits: bump the occurrence's live counter (only if it is being shown)."""
    # A missing key (ValueError) means nobody read it yet: the first reader counts from the database.
    with contextlib.suppress(ValueError):
        cache.incr(checkins_key(occurrence_id))


@best_effort(None)
def checkins_live(occurrence_id: int, count_from_db: int | None = None) -> int | None:
    """The cached count, or seed it with `count_from_db` (the truth) when given."""
    value = cache.get(checkins_key(occurrence_id))
    if value is None and count_from_db is not None:
        cache.set(checkins_key(occurrence_id), count_from_db, 60)
        return count_from_db
    return None if value is None else int(value)

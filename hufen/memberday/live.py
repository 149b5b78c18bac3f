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
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
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


# On Redis each live update is one round trip: a script instead of Django's add / exists / incr calls
# (each of which builds a new client object and waits for its own answer). Same keys, same values.
# KEYS: seen, the minute's online bucket, [the occurrence's check-in counter]; ARGV: seen's and the
# bucket's lifetimes, '1' to bump the counter (if it is being shown). Presence alone passes '0'.
_CHECKED_IN = """
if redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[1]) then
  if redis.call('INCR', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
end
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then redis.call('INCR', KEYS[3]) end
return 1
"""
# The counter alone (no member to mark online): only `record_checkin` calls it.
_INCR_IF_SHOWN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCR', KEYS[1]) end
return 0
"""
_scripts: dict[tuple[str, str], Any] = {}
_scripts_lock = threading.Lock()


def _redis_script(name: str, body: str) -> Any | None:
    """A registered Lua script on the cache's Redis, or None when the cache is not Redis."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    if not isinstance(caches["default"], RedisCache):
        return None
    location = settings.CACHES["default"]["LOCATION"]
    url = location if isinstance(location, str) else location[0]  # the first server is the writer
    found = _scripts.get((url, name))
    if found is None:
        import redis

        with _scripts_lock:
            if (url, "") not in _scripts:
                _scripts[(url, "")] = redis.Redis.from_url(url)
            found = _scripts[(url, name)] = _scripts[(url, "")].register_script(body)
    return found


@best_effort(None)
def presence_touch(member_id: int, *, now: dt.datetime | None = None) -> None:
    now = now or timezone.now()
    window = WINDOW_MINUTES * 60
    seen, bucket = f"{PREFIX}:seen:{member_id}", f"{PREFIX}:online:{_minute(now)}"
    script = _redis_script("checked_in", _CHECKED_IN)
    if script is not None:
        script(keys=[cache.make_key(seen), cache.make_key(bucket)], args=[window, window + 120, "0"])
        return
    if cache.add(seen, 1, window):
        _incr(bucket, window + 120)


@best_effort(None)
def checked_in(member_id: int, occurrence_id: int, *, new: bool, now: dt.datetime | None = None) -> None:
    """After a check-in (new, or answered again) commits: the member is online, and a new check-in
    bumps the occurrence's live counter (if it is being shown). One Redis round trip for both."""
    now = now or timezone.now()
    window = WINDOW_MINUTES * 60
    seen, bucket = f"{PREFIX}:seen:{member_id}", f"{PREFIX}:online:{_minute(now)}"
    script = _redis_script("checked_in", _CHECKED_IN)
    if script is None:
        presence_touch(member_id, now=now)
        if new:
            record_checkin(occurrence_id)
        return
    keys = [cache.make_key(seen), cache.make_key(bucket), cache.make_key(checkins_key(occurrence_id))]
    script(keys=keys, args=[window, window + 120, "1" if new else "0"])


@best_effort(None)
def checked_in_many(checkins: list[tuple[int, int, bool]], *, now: dt.datetime | None = None) -> None:
    """`checked_in` for several (member, occurrence, new) at once: one pipelined round trip on Redis."""
    script = _redis_script("checked_in", _CHECKED_IN)
    if script is None:
        for member_id, occurrence_id, new in checkins:
            checked_in(member_id, occurrence_id, new=new, now=now)
        return
    import redis

    now = now or timezone.now()
    window = WINDOW_MINUTES * 60
    bucket = cache.make_key(f"{PREFIX}:online:{_minute(now)}")
    calls = [
        (cache.make_key(f"{PREFIX}:seen:{member_id}"), bucket, cache.make_key(checkins_key(occurrence_id)), new)
        for member_id, occurrence_id, new in checkins
    ]
    for attempt in range(2):
        # EVALSHA straight into the pipeline: redis-py's own script-in-pipeline asks SCRIPT EXISTS first,
        # a second round trip on every call. A Redis that lost its scripts (restarted) answers NOSCRIPT:
        # load it and send again.
        pipe = script.registered_client.pipeline(transaction=False)
        for seen, online, counter, new in calls:
            pipe.evalsha(script.sha, 3, seen, online, counter, window, window + 120, "1" if new else "0")
        try:
            pipe.execute()
            return
        except redis.exceptions.NoScriptError:
            if attempt:
                raise
            script.registered_client.script_load(_CHECKED_IN)


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
    # A missing key means nobody read it yet: the first reader counts from the database.
    script = _redis_script("incr_if_shown", _INCR_IF_SHOWN)
    if script is not None:
        script(keys=[cache.make_key(checkins_key(occurrence_id))])
        return
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

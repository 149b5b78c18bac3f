"""The event contract's parser, property-based: any aware timestamp round-trips to the same instant."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from hufen.tracking.catalogue import BUILTIN_EVENT_TYPES, Catalogue
from hufen.tracking.validation import Event, Problem, parse_ts, validate_event

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
CATALOGUE = Catalogue(required=dict(BUILTIN_EVENT_TYPES), allow_custom=False)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
instants = st.datetimes(min_value=dt.datetime(2000, 1, 2), max_value=dt.datetime(2026, 11, 21))


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(instants, offsets)
def test_aware_timestamps_keep_their_instant(naive: dt.datetime, tz: dt.timezone) -> None:
    aware = naive.replace(tzinfo=tz)
    parsed = parse_ts(aware.isoformat(), NOW)
    assert parsed == aware and parsed.utcoffset() == dt.timedelta(0)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(instants)
def test_naive_timestamps_are_refused(naive: dt.datetime) -> None:
    result = validate_event(
        {"event_id": "x", "event": "app_active", "ts": naive.isoformat(), "anonymous_id": "d"}, CATALOGUE, NOW
    )
    assert result == Problem("ts", "needs a UTC offset (e.g. +08:00 or Z)")


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(st.dictionaries(st.text(max_size=10), st.one_of(st.integers(), st.text(max_size=20)), max_size=5))
def test_properties_round_trip_as_json_text(props: dict[str, object]) -> None:
    import json

    raw = {"event_id": "x", "event": "app_active", "ts": "2026-11-22T08:00:00+08:00", "anonymous_id": "d"}
    result = validate_event({**raw, "properties": props}, CATALOGUE, NOW)
    assert isinstance(result, Event)
    assert (json.loads(result.properties) if result.properties else {}) == props


def test_z_suffix_and_string_ids() -> None:
    raw = {"event_id": "a:b-1", "event": "app_active", "ts": "2026-11-22T00:00:00Z", "person_id": "42"}
    result = validate_event(raw, CATALOGUE, NOW)
    assert (
        isinstance(result, Event) and result.person_id == 42 and result.ts == dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    )

"""`validate_batch` is `validate_event` applied to each event: same events, same problems, any input."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hufen.tracking.catalogue import BUILTIN_EVENT_TYPES, Catalogue
from hufen.tracking.validation import (
    KNOWN_FIELDS,
    NUL_REASON,
    SURROGATE_REASON,
    Event,
    Problem,
    _accept,
    properties_json,
    storable,
    validate_batch,
    validate_event,
)

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
CATALOGUE = Catalogue(required={**BUILTIN_EVENT_TYPES, "coupon_used": ("coupon",)}, allow_custom=False)
CUSTOM = Catalogue(required=dict(BUILTIN_EVENT_TYPES), allow_custom=True)

texts = st.text(max_size=12)
odd = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts, st.lists(st.integers(), max_size=2)
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "event_id": st.one_of(st.sampled_from(["e-1", "a:b.c_d", "x" * 64, "x" * 65, "ab\n", "", "é"]), odd),
    "event": st.one_of(
        st.sampled_from(["app_active", "page_viewed", "coupon_used", "rocket", "", "ro\x00ck", "店铺到访", "r\ud800"]),
        odd,
    ),
    "ts": st.one_of(
        st.sampled_from(
            [
                "2026-11-22T08:00:00+08:00",
                " 2026-11-21T10:00:00Z ",
                "2026-11-22T10:00:00",
                "2026-11-25T00:00:00Z",
                "1999-12-31T23:59:59Z",
                "0001-01-01T00:00:00+01:00",
                "9999-12-31T23:59:59-01:00",
                "2026-11-21",
                "yesterday",
            ]
        ),
        st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8))])),
        odd,
    ),
    "person_id": st.one_of(st.sampled_from([1, 42, 2**63 - 1, 2**63, 0, -3, "42", " 7 ", "", True, 1.5]), odd),
    "dealer_id": st.one_of(st.sampled_from([1, 9, 0, "9", "", False]), odd),
    "anonymous_id": st.one_of(
        st.sampled_from(["dev-1", "d" * 128, "d" * 129, "", "dev\x00", "设备-4", "dev\ud800"]), odd
    ),
    "channel": st.one_of(st.sampled_from(["app", "mini_program", "App", "x" * 41, ""]), odd),
    "properties": st.one_of(
        st.dictionaries(texts, st.one_of(texts, st.integers(), st.none()), max_size=3),
        st.sampled_from(
            [
                {"page": "/home"},
                {"page": ""},
                {"coupon": "C1"},
                {"blob": "x" * 9000},
                {"blob": "汉" * 2800},
                {"nested": {"a": [1, 2.5, None]}},
                {"bad": "\ud800"},
                '{"page": "/x"}',
                "  ",
                "[1]",
                "{oops",
            ]
        ),
        odd,
    ),
    "phone": st.one_of(st.sampled_from(["+8613812345678", "138 1234 5678", ""]), odd),
    "unionid": st.one_of(st.sampled_from(["u-1", "u" * 129, "u\x00", "u\udfff"]), odd),
    "openid": st.one_of(st.sampled_from(["o-1"]), odd),
    "email": st.one_of(st.sampled_from(["a@example.com"]), odd),
    "app_user_id": st.one_of(st.sampled_from(["app-1"]), odd),
    "colour": st.just("red"),
}
assert set(FIELD_VALUES) - {"colour"} == KNOWN_FIELDS


@st.composite
def raw_events(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 20)) == 0:
        return draw(st.one_of(odd, st.lists(texts, max_size=2)))
    keys = draw(st.sets(st.sampled_from(sorted(FIELD_VALUES)), max_size=len(FIELD_VALUES)))
    base = {
        "event_id": "e-1",
        "event": "app_active",
        "ts": "2026-11-22T08:00:00+08:00",
        "anonymous_id": "dev-1",
    }
    return {**base, **{key: draw(FIELD_VALUES[key]) for key in keys}}


@settings(deadline=None, max_examples=600)  # a loaded CI machine must not turn slowness into a failure
@given(st.lists(raw_events(), max_size=8), st.sampled_from([CATALOGUE, CUSTOM]))
def test_batch_verdicts_are_the_row_validators(raws: list[Any], catalogue: Catalogue) -> None:
    assert validate_batch(raws, catalogue, NOW) == [validate_event(raw, catalogue, NOW) for raw in raws]


def test_the_common_shape_takes_the_fast_path() -> None:
    raw = {
        "event_id": "ev-1",
        "event": "page_viewed",
        "ts": "2026-11-22T08:00:00+08:00",
        "person_id": 42,
        "dealer_id": 7,
        "anonymous_id": "dev-1",
        "channel": "app",
        "properties": {"page": "/home", "n": 3},
    }
    fast = _accept(raw, dict(CATALOGUE.required), False, NOW + dt.timedelta(days=1))
    assert isinstance(fast, Event) and fast == validate_event(raw, CATALOGUE, NOW)
    assert fast.properties == '{"page":"/home","n":3}'


@settings(deadline=None)
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts), st.lists, max_leaves=8))
def test_properties_text_is_the_standard_encoders(value: Any) -> None:
    import json

    props = {"v": value}
    assert properties_json(props) == json.dumps(props, ensure_ascii=False, separators=(",", ":"))


def test_properties_text_after_an_unencodable_value() -> None:
    class Opaque:
        pass

    inner: dict[str, Any] = {"a": 1}
    try:
        properties_json({"x": inner, "y": Opaque()})
    except TypeError:
        pass
    else:
        raise AssertionError("an object JSON cannot encode must fail as json.dumps does")
    assert properties_json({"x": inner}) == '{"x":{"a":1}}'


def test_timestamps_outside_the_calendar_in_utc_are_problems_not_crashes() -> None:
    base = {"event_id": "e", "event": "app_active", "anonymous_id": "d"}
    early = validate_event({**base, "ts": "0001-01-01T00:00:00+01:00"}, CATALOGUE, NOW)
    late = validate_event({**base, "ts": "9999-12-31T23:59:59-01:00"}, CATALOGUE, NOW)
    assert early == Problem("ts", "is before 2000-01-01")
    assert late == Problem("ts", "is more than 1 day in the future")


def test_lone_surrogate_in_properties_is_named() -> None:
    raw = {"event_id": "e", "event": "app_active", "anonymous_id": "d", "ts": "2026-11-22T08:00:00Z"}
    result = validate_event({**raw, "properties": {"bad": "\ud800"}}, CATALOGUE, NOW)
    assert isinstance(result, Problem) and result.field == "properties" and "surrogate" in result.reason


def test_text_the_stores_cannot_keep_is_named() -> None:
    raw = {"event_id": "e", "event": "app_active", "anonymous_id": "d", "ts": "2026-11-22T08:00:00Z"}
    for field, value in [("anonymous_id", "dev\x00"), ("unionid", "u\x00"), ("email", "a\x00@example.com")]:
        assert validate_event({**raw, field: value}, CATALOGUE, NOW) == Problem(field, NUL_REASON)
    for field, value in [("anonymous_id", "设备\ud800"), ("openid", "\udc00o")]:
        assert validate_event({**raw, field: value}, CATALOGUE, NOW) == Problem(field, SURROGATE_REASON)
    assert validate_event({**raw, "event": "x\x00"}, CUSTOM, NOW) == Problem("event", NUL_REASON)
    assert (
        validate_event({**raw, "anonymous_id": "设备-4"}, CATALOGUE, NOW)
        == validate_batch([{**raw, "anonymous_id": "设备-4"}], CATALOGUE, NOW)[0]
    )
    assert storable("a\x00b\ud800c汉") == "a\\u0000b\\ud800c汉" and storable("plain") == "plain"
    # Inside properties it is JSON's own escape, kept as text.
    ok = validate_event({**raw, "properties": {"a": "x\x00y"}}, CATALOGUE, NOW)
    assert isinstance(ok, Event) and ok.properties == '{"a":"x\\u0000y"}'

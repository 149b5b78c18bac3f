"""The event contract, checked one raw event at a time: a clean `Event` or the first problem found.

Pure functions (no database) so that the API, the importer and property-based tests share them; the
caller resolves identifiers (phone, anonymous id) against the database afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hufen.tracking.catalogue import Catalogue

MAX_BATCH = 1000
MAX_EVENT_ID = 64
MAX_PROPERTIES_BYTES = 8192
MAX_FUTURE = dt.timedelta(days=1)
OLDEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
MAX_INT64 = 2**63 - 1
# Identifiers ONE ID indexes (`hufen.identity.models.Identifier` kinds), resolved to the person holding them.
ID_FIELDS = ("unionid", "openid", "email", "app_user_id")
MAX_IDENTIFIER = 128
KNOWN_FIELDS = frozenset(
    {"event_id", "event", "ts", "person_id", "phone", "anonymous_id", "dealer_id", "channel", "properties", *ID_FIELDS}
)
# Text the stores cannot keep (JSON allows both): PostgreSQL text has no U+0000, UTF-8 no lone
# surrogate. A text field the store keeps as sent (the name, the device id) or looks up (the ONE ID
# identifiers) must carry neither.
NUL = "\x00"
NUL_REASON = "must not contain the NUL character (\\u0000)"
SURROGATE_REASON = "is not valid Unicode text (a lone surrogate such as \\ud800)"


def text_problem(value: str) -> str | None:
    """Why the stores cannot keep `value` as text, or None."""
    if NUL in value:
        return NUL_REASON
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return SURROGATE_REASON
    return None


def storable(text: str) -> str:
    """`text` with NUL and lone surrogates spelt as JSON escapes (`\\u0000`, `\\ud800`): for echoing
    rejected input into the answer and the dead-letter store."""
    if text.isascii() and NUL not in text:
        return text
    return text.replace(NUL, "\\u0000").encode("utf-8", "backslashreplace").decode()


_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_CHANNEL = re.compile(r"^[a-z0-9_.\-]{1,40}$")
# One encoder for every event: `json.dumps` with options builds a new encoder per call.
_PROPERTIES_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_encoders = threading.local()


def _make_c_encoder() -> Callable[[Any, int], list[str]] | None:
    """The C encoder `_PROPERTIES_JSON.encode` builds on every call (`json.encoder.c_make_encoder`, with
    the same arguments), built once per thread; None where CPython's accelerator is missing."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    encode: Callable[[Any, int], list[str]] = make(
        {}, _PROPERTIES_JSON.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    return encode


def properties_json(props: dict[str, Any]) -> str:
    """`_PROPERTIES_JSON.encode(props)`: the same text, without building an encoder per call."""
    encode = getattr(_encoders, "encode", None)
    if encode is None:
        encode = _make_c_encoder()
        if encode is None:
            return _PROPERTIES_JSON.encode(props)
        _encoders.encode = encode
    try:
        return "".join(encode(props, 0))
    except Exception:
        # A failed call can leave entries in the encoder's cycle markers: start afresh, and let the
        # standard encoder give the answer (or raise) as it always did.
        _encoders.encode = None
        return _PROPERTIES_JSON.encode(props)


@dataclass(frozen=True)
class Event:
    event_id: str
    event: str
    ts: dt.datetime  # UTC
    person_id: int | None
    phone: str | None
    anonymous_id: str | None
    dealer_id: int | None
    channel: str | None
    properties: str | None  # JSON text
    unionid: str | None = None
    openid: str | None = None
    email: str | None = None
    app_user_id: str | None = None

    def identifiers(self) -> dict[str, str]:
        """The ONE ID identifiers the event carries (kind -> value as sent)."""
        found = {kind: getattr(self, kind) for kind in ID_FIELDS}
        return {kind: value for kind, value in found.items() if value is not None}


@dataclass(frozen=True)
class Problem:
    field: str
    reason: str


def _int_or_none(raw: Any, field: str) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise ValueError(f"{field}|must be an integer")
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if not isinstance(raw, int) or not 1 <= raw <= MAX_INT64:
        raise ValueError(f"{field}|must be a positive 64-bit integer")
    return raw


def parse_ts(raw: Any, now: dt.datetime) -> dt.datetime:
    if isinstance(raw, dt.datetime):
        value = raw
    elif isinstance(raw, str):
        try:
            value = dt.datetime.fromisoformat(raw.strip())
        except ValueError:
            raise ValueError(f"ts|{raw!r} is not an ISO-8601 timestamp") from None
    else:
        raise ValueError("ts|is required (ISO-8601 with offset, e.g. 2026-11-22T10:00:00+08:00)")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("ts|needs a UTC offset (e.g. +08:00 or Z)")
    try:
        value = value.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
        raise ValueError(
            "ts|is before 2000-01-01" if value.year < OLDEST.year else "ts|is more than 1 day in the future"
        ) from None
    if value > now + MAX_FUTURE:
        raise ValueError("ts|is more than 1 day in the future")
    if value < OLDEST:
        raise ValueError("ts|is before 2000-01-01")
    return value


def validate_event(raw: Any, catalogue: Catalogue, now: dt.datetime) -> Event | Problem:
    """Check one raw event (a decoded JSON object) against the contract."""
    if not isinstance(raw, dict):
        return Problem("event", "must be a JSON object")
    try:
        return _validate(raw, catalogue, now)
    except ValueError as exc:
        field, _, reason = str(exc).partition("|")
        return Problem(field, reason)


def _validate(raw: dict[str, Any], catalogue: Catalogue, now: dt.datetime) -> Event:
    unknown = raw.keys() - KNOWN_FIELDS
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}|is not a field of the event contract")
    event_id = raw.get("event_id")
    if not isinstance(event_id, str) or not _EVENT_ID.match(event_id):
        raise ValueError(f"event_id|is required: 1-{MAX_EVENT_ID} characters of A-Z a-z 0-9 _ . : -")
    name = raw.get("event")
    if not isinstance(name, str) or not name:
        raise ValueError("event|is required")
    required = catalogue.check(name)
    if required is None:
        raise ValueError(f"event|{name[:80]!r} is not in the event catalogue")
    if why := text_problem(name):
        raise ValueError(f"event|{why}")
    ts = parse_ts(raw.get("ts"), now)
    person_id = _int_or_none(raw.get("person_id"), "person_id")
    dealer_id = _int_or_none(raw.get("dealer_id"), "dealer_id")
    phone = raw.get("phone") or None
    if phone is not None and not isinstance(phone, str):
        raise ValueError("phone|must be a string")
    anonymous_id = raw.get("anonymous_id") or None
    if anonymous_id is not None and (not isinstance(anonymous_id, str) or len(anonymous_id) > 128):
        raise ValueError("anonymous_id|must be a string of at most 128 characters")
    if anonymous_id is not None and (why := text_problem(anonymous_id)):
        raise ValueError(f"anonymous_id|{why}")
    ids: dict[str, str] = {}
    for kind in ID_FIELDS:
        value = raw.get(kind) or None
        if value is not None and (not isinstance(value, str) or len(value) > MAX_IDENTIFIER):
            raise ValueError(f"{kind}|must be a string of at most {MAX_IDENTIFIER} characters")
        if value is not None and (why := text_problem(value)):
            raise ValueError(f"{kind}|{why}")
        if value is not None:
            ids[kind] = value
    if person_id is None and phone is None and anonymous_id is None and not ids:
        raise ValueError(f"person_id|one of person_id, phone, {', '.join(ID_FIELDS)} or anonymous_id is required")
    channel = raw.get("channel") or None
    if channel is not None and (not isinstance(channel, str) or not _CHANNEL.match(channel)):
        raise ValueError("channel|must be 1-40 characters of a-z 0-9 _ . -")
    props = raw.get("properties")
    props_text: str | None = None
    if isinstance(props, str):  # CSV, Parquet and some clients send the object as JSON text: kept as sent
        props_text = props.strip() or None
        try:
            props = json.loads(props_text) if props_text else None
        except ValueError:
            raise ValueError("properties|is not valid JSON") from None
    if props is not None and not isinstance(props, dict):
        raise ValueError("properties|must be a JSON object")
    for key in required:
        if not props or props.get(key) in (None, ""):
            raise ValueError(f"properties.{key}|is required for {name!r} events")
    if not props:
        props_text = None
    elif props_text is None:
        props_text = properties_json(props)
    try:
        size = len(props_text.encode()) if props_text is not None else 0
    except UnicodeEncodeError:  # a lone surrogate, e.g. JSON "\ud800": not text the stores can hold
        raise ValueError(f"properties|{SURROGATE_REASON}") from None
    if size > MAX_PROPERTIES_BYTES:
        raise ValueError(f"properties|is larger than {MAX_PROPERTIES_BYTES} bytes")
    return Event(
        event_id,
        name,
        ts,
        person_id,
        phone,
        anonymous_id,
        dealer_id,
        channel,
        props_text,
        unionid=ids.get("unionid"),
        openid=ids.get("openid"),
        email=ids.get("email"),
        app_user_id=ids.get("app_user_id"),
    )


# --- a batch at once ------------------------------------------------------------------------------

# Fields the fast path leaves to `validate_event`: identifiers to normalise and resolve are rarer and
# cost a database lookup each anyway.
_SLOW_FIELDS = frozenset({"phone", *ID_FIELDS})
_match_event_id = _EVENT_ID.match
_match_channel = _CHANNEL.match
_from_iso = dt.datetime.fromisoformat


def validate_batch(raws: Sequence[Any], catalogue: Catalogue, now: dt.datetime) -> list[Event | Problem]:
    """`[validate_event(raw, catalogue, now) for raw in raws]`, cheaper for the common shape.

    Exact by construction: `_accept` returns an event only when every check of `_validate` passes
    and builds the same `Event`; anything else (a problem, or merely an unusual shape: an identifier
    to resolve, an integer sent as text, properties sent as JSON text, spaces around a timestamp) is
    handed to `validate_event` itself, so every verdict and reason is the row validator's."""
    required_of = dict(catalogue.required)
    latest = now + MAX_FUTURE
    out: list[Event | Problem] = []
    for raw in raws:
        event = _accept(raw, required_of, catalogue.allow_custom, latest) if type(raw) is dict else None
        out.append(event if event is not None else validate_event(raw, catalogue, now))
    return out


def _accept(
    raw: dict[str, Any], required_of: dict[str, tuple[str, ...]], allow_custom: bool, latest: dt.datetime
) -> Event | None:
    """The event `_validate` returns for `raw` if it is of the common shape and passes, else None."""
    if not KNOWN_FIELDS.issuperset(raw) or not _SLOW_FIELDS.isdisjoint(raw):
        return None
    get = raw.get
    event_id = get("event_id")
    if type(event_id) is not str or not _match_event_id(event_id):
        return None
    name = get("event")
    if type(name) is not str or not name:
        return None
    required = required_of.get(name)
    if required is None:
        if not allow_custom:
            return None
        required = ()
    if NUL in name or not name.isascii():  # a non-ASCII name: `text_problem` in `_validate`
        return None
    ts_raw = get("ts")
    if type(ts_raw) is not str:
        return None
    try:
        ts = _from_iso(ts_raw.strip())
        if ts.tzinfo is None or ts.utcoffset() is None:
            return None
        ts = ts.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None
    if ts > latest or ts < OLDEST:
        return None
    person_id = get("person_id")
    if person_id is not None and (type(person_id) is not int or not 1 <= person_id <= MAX_INT64):
        return None
    dealer_id = get("dealer_id")
    if dealer_id is not None and (type(dealer_id) is not int or not 1 <= dealer_id <= MAX_INT64):
        return None
    anonymous_id = get("anonymous_id") or None
    if anonymous_id is not None and (
        type(anonymous_id) is not str or len(anonymous_id) > 128 or NUL in anonymous_id or not anonymous_id.isascii()
    ):
        return None
    if person_id is None and anonymous_id is None:
        return None
    channel = get("channel") or None
    if channel is not None and (type(channel) is not str or not _match_channel(channel)):
        return None
    props = get("properties")
    text: str | None = None
    if type(props) is dict:
        for key in required:
            if props.get(key) in (None, ""):
                return None
        if props:
            text = properties_json(props)
            try:
                if len(text.encode()) > MAX_PROPERTIES_BYTES:
                    return None
            except UnicodeEncodeError:
                return None
    elif props is not None or required:
        return None
    return Event(event_id, name, ts, person_id, None, anonymous_id, dealer_id, channel, text)

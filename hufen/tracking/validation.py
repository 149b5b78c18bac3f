"""The event contract, checked one raw event at a time: a clean `Event` or the first problem found.

Pure functions (no database) so that the API, the importer and property-based tests share them; the
caller resolves identifiers (phone, anonymous id) against the database afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import re
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
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_CHANNEL = re.compile(r"^[a-z0-9_.\-]{1,40}$")
# One encoder for every event: `json.dumps` with options builds a new encoder per call.
_PROPERTIES_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


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
    value = value.astimezone(dt.UTC)
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
    ts = parse_ts(raw.get("ts"), now)
    person_id = _int_or_none(raw.get("person_id"), "person_id")
    dealer_id = _int_or_none(raw.get("dealer_id"), "dealer_id")
    phone = raw.get("phone") or None
    if phone is not None and not isinstance(phone, str):
        raise ValueError("phone|must be a string")
    anonymous_id = raw.get("anonymous_id") or None
    if anonymous_id is not None and (not isinstance(anonymous_id, str) or len(anonymous_id) > 128):
        raise ValueError("anonymous_id|must be a string of at most 128 characters")
    ids: dict[str, str] = {}
    for kind in ID_FIELDS:
        value = raw.get(kind) or None
        if value is not None and (not isinstance(value, str) or len(value) > MAX_IDENTIFIER):
            raise ValueError(f"{kind}|must be a string of at most {MAX_IDENTIFIER} characters")
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
        props_text = _PROPERTIES_JSON.encode(props)
    if props_text is not None and len(props_text.encode()) > MAX_PROPERTIES_BYTES:
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

"""Building earning rules and feeding events through the real tracking pipeline in tests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from hufen.common.actors import SYSTEM
from hufen.membership.models import EarningRule, Member
from hufen.membership.rules import rule_create
from hufen.tracking.services import events_ingest

# Rules in tests start well before the events they judge.
RULES_FROM = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def rule(member: Member, code: str, event: str, points: int, reason: str, **values: Any) -> EarningRule:
    values = {"name": f"{event} 奖励", "event": event, "points": points, "reason": reason, **values}
    values.setdefault("valid_from", RULES_FROM)
    return rule_create(actor=SYSTEM, program=member.program, code=code, values=values)


def send(person_id: int | None, event: str, ts: dt.datetime, **props: Any) -> str:
    """Ingest one event through the tracking API's service; returns its event_id."""
    event_id = props.pop("event_id", None) or uuid.uuid4().hex
    raw: dict[str, Any] = {"event_id": event_id, "event": event, "ts": ts.isoformat(), "channel": "app"}
    if person_id is not None:
        raw["person_id"] = person_id
    else:
        raw["anonymous_id"] = props.pop("anonymous_id", "dev-unknown")
    if props:
        raw["properties"] = props
    result = events_ingest(actor=SYSTEM, raw_events=[raw])
    assert result.outcomes[0].status == "accepted", result.outcomes
    return event_id


def shanghai(day: str, hh: int, mm: int = 0) -> dt.datetime:
    """A Shanghai wall-clock time as UTC."""
    import zoneinfo

    local = dt.datetime.fromisoformat(f"{day}T{hh:02d}:{mm:02d}:00").replace(tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))
    return local.astimezone(dt.UTC)

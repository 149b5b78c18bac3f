"""Earning rules: create and change them (HQ, `membership.manage`), and judge one event against one.

A rule turns an event into points: `event` name → `points`, if every condition on the event's
properties holds, within the rule's validity window, times the member's tier multiplier (rounded
down), within the per-day and per-month caps counted in the brand's time zone. The job that applies
rules to the event stream lives in earning.py.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from hufen.common.actors import Actor
from hufen.common.audit import audit
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.membership.models import EarningRule, Program
from hufen.membership.reasons import reason_for

OPS = ("eq", "ne", "in", "gte", "lte", "exists")
MAX_CONDITIONS = 10
MAX_POINTS = 1_000_000
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
EVENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,79}$")

# Fields a rule update may change, and what a create must or may carry.
RULE_FIELDS = (
    "name",
    "event",
    "points",
    "reason",
    "conditions",
    "daily_cap_count",
    "monthly_cap_count",
    "daily_cap_points",
    "monthly_cap_points",
    "apply_multiplier",
    "valid_from",
    "valid_until",
    "active",
)


def require_manage(actor: Actor) -> None:
    if not actor.has_perm("membership.manage"):
        raise PermissionDenied(f"{actor.label} may not manage the membership catalogue")


# --- validation --------------------------------------------------------------------------------------


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def clean_conditions(raw: object) -> list[dict[str, Any]]:
    """Validate property conditions; errors name the row, e.g. `conditions[1].op`."""
    if raw is None or raw == "":
        return []
    if not isinstance(raw, list):
        raise FieldError("conditions", "must be a list of {property, op, value}")
    if len(raw) > MAX_CONDITIONS:
        raise FieldError("conditions", f"at most {MAX_CONDITIONS} conditions")
    cleaned = []
    for i, cond in enumerate(raw):
        where = f"conditions[{i}]"
        if not isinstance(cond, dict):
            raise FieldError(where, "must be an object with property, op and value")
        unknown = set(cond) - {"property", "op", "value"}
        if unknown:
            raise FieldError(where, f"unknown keys: {', '.join(sorted(unknown))}")
        prop = cond.get("property")
        if not isinstance(prop, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]{0,63}", prop):
            raise FieldError(f"{where}.property", "must be a property name (letters, digits, _ and .)")
        op = cond.get("op", "eq")
        if op not in OPS:
            raise FieldError(f"{where}.op", f"must be one of {', '.join(OPS)}")
        value = cond.get("value")
        if op == "exists":
            value = bool(True if value is None else value)
        elif op == "in":
            if not isinstance(value, list) or not value or not all(_scalar(v) for v in value):
                raise FieldError(f"{where}.value", "must be a non-empty list of plain values")
        elif op in ("gte", "lte"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise FieldError(f"{where}.value", "must be a number")
        elif not _scalar(value):
            raise FieldError(f"{where}.value", "must be a plain value (text, number, true/false)")
        cleaned.append({"property": prop, "op": op, "value": value})
    return cleaned


def _cap(field: str, value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FieldError(field, "must be a whole number of at least 1, or empty for no cap")
    return value


def _points(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_POINTS:
        raise FieldError("points", f"must be a whole number from 1 to {MAX_POINTS}")
    return value


def clean_text(field: str, value: object, max_length: int) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        raise FieldError(field, "is required")
    if len(text) > max_length:
        raise FieldError(field, f"must be at most {max_length} characters")
    return text


def clean_when(field: str, value: object) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise FieldError(field, "must be an ISO date-time, e.g. 2026-01-01T00:00:00+08:00") from exc
    if not isinstance(value, dt.datetime):
        raise FieldError(field, "must be a date-time")
    if timezone.is_naive(value):
        raise FieldError(field, "must carry a time zone offset")
    return value


def clean_rule(values: dict[str, Any]) -> dict[str, Any]:
    """The rule's fields, validated; the first bad one raises a FieldError naming it."""
    out: dict[str, Any] = {}
    out["name"] = clean_text("name", values.get("name"), 80)
    event = str(values.get("event") or "").strip()
    if not EVENT_RE.fullmatch(event):
        raise FieldError("event", "must be an event name of lower-case letters, digits and _")
    from hufen.tracking.catalogue import catalogue_load

    if catalogue_load().check(event) is None:
        raise FieldError("event", f"{event!r} is not in the event catalogue")
    out["event"] = event
    out["points"] = _points(values.get("points"))
    reason = str(values.get("reason") or "").strip()
    reason_for(reason, "award")
    out["reason"] = reason
    out["conditions"] = clean_conditions(values.get("conditions"))
    for cap in ("daily_cap_count", "monthly_cap_count", "daily_cap_points", "monthly_cap_points"):
        out[cap] = _cap(cap, values.get(cap))
    daily, monthly = out["daily_cap_count"], out["monthly_cap_count"]
    if daily and monthly and monthly < daily:
        raise FieldError("monthly_cap_count", "must not be below the daily cap")
    daily, monthly = out["daily_cap_points"], out["monthly_cap_points"]
    if daily and monthly and monthly < daily:
        raise FieldError("monthly_cap_points", "must not be below the daily cap")
    out["apply_multiplier"] = bool(values.get("apply_multiplier", True))
    out["valid_from"] = clean_when("valid_from", values.get("valid_from")) or timezone.now()
    out["valid_until"] = clean_when("valid_until", values.get("valid_until"))
    if out["valid_until"] and out["valid_until"] <= out["valid_from"]:
        raise FieldError("valid_until", "must be after valid_from")
    out["active"] = bool(values.get("active", True))
    return out


def _snapshot(rule: EarningRule) -> dict[str, Any]:
    return {f: getattr(rule, f) for f in RULE_FIELDS}


# --- services ----------------------------------------------------------------------------------------


@transaction.atomic
def rule_create(*, actor: Actor, program: Program, code: str, values: dict[str, Any]) -> EarningRule:
    require_manage(actor)
    code = (code or "").strip()
    if not CODE_RE.fullmatch(code):
        raise FieldError("code", "must be 1 to 40 lower-case letters, digits, - or _")
    cleaned = clean_rule(values)
    if EarningRule.objects.filter(program=program, code=code).exists():
        raise FieldError("code", f"{code!r} is already a rule of {program.name}")
    rule = EarningRule.objects.create(program=program, code=code, **cleaned)
    audit(
        actor=actor,
        action="earning_rule.create",
        obj_type="earning_rule",
        obj_id=rule.pk,
        summary={"code": code, "event": rule.event, "points": rule.points},
    )
    return rule


@transaction.atomic
def rule_update(*, actor: Actor, rule: EarningRule, values: dict[str, Any]) -> EarningRule:
    """Change a rule. Decisions already taken stand; the change applies to events judged from now."""
    require_manage(actor)
    rule = EarningRule.objects.select_for_update().get(pk=rule.pk)
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise FieldError(sorted(unknown)[0], "is not a field of an earning rule")
    before = _snapshot(rule)
    cleaned = clean_rule({**before, **values})
    changed = {k: v for k, v in cleaned.items() if before[k] != v}
    if not changed:
        return rule
    for key, value in changed.items():
        setattr(rule, key, value)
    rule.save()
    audit(
        actor=actor,
        action="earning_rule.update",
        obj_type="earning_rule",
        obj_id=rule.pk,
        summary={k: {"before": str(before[k]), "after": str(v)} for k, v in changed.items()},
    )
    return rule


def rule_get(*, actor: Actor, rule_id: int) -> EarningRule:
    from hufen.membership.selectors import require

    require(actor, "membership.view")
    rule = EarningRule.objects.select_related("program__brand").filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(f"earning rule {rule_id} does not exist")
    return rule


# --- judging one event -------------------------------------------------------------------------------


def _prop(properties: dict[str, Any], path: str) -> tuple[bool, Any]:
    value: Any = properties
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def condition_failed(conditions: list[dict[str, Any]], properties: dict[str, Any]) -> str | None:
    """None when every condition holds, else which one failed (for the decision log)."""
    for i, cond in enumerate(conditions):
        found, value = _prop(properties, cond["property"])
        op, want = cond["op"], cond["value"]
        if op == "exists":
            ok = found == bool(want)
        elif not found:
            ok = False
        elif op == "eq":
            ok = value == want
        elif op == "ne":
            ok = value != want
        elif op == "in":
            ok = value in want
        else:
            number = _number(value)
            ok = number is not None and (number >= want if op == "gte" else number <= want)
        if not ok:
            return f"conditions[{i}]: {cond['property']} {op} {want!r} (found {value!r})"
    return None


def multiplied(points: int, multiplier: Decimal) -> int:
    """Points times the tier multiplier, rounded down: 10 × 1.25 = 12."""
    return int((Decimal(points) * multiplier).to_integral_value(rounding=ROUND_DOWN))

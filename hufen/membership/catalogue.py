"""The program's catalogue, managed by HQ (`membership.manage`): tiers and benefit items.

Tiers: rank 0 is the entry tier with threshold 0; a higher rank needs strictly more qualifying points
and never a smaller multiplier. Changing a tier's threshold applies from the next award (upgrade) and
the next review (downgrade); members are not re-tiered on the spot.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from hufen.common.actors import Actor
from hufen.common.audit import audit
from hufen.common.errors import FieldError
from hufen.membership.models import BenefitItem, Program, TierDefinition
from hufen.membership.rules import clean_text, clean_when, require_manage

TIER_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,19}$")
BENEFIT_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_MULTIPLIER = Decimal("5.00")
TIER_FIELDS = ("name", "threshold", "multiplier", "benefits")
BENEFIT_FIELDS = (
    "name",
    "description",
    "points_price",
    "cash_price_fen",
    "stock",
    "per_member_limit",
    "valid_from",
    "valid_until",
    "min_tier",
    "active",
)


def _whole(field: str, value: object, *, low: int, high: int = 2_000_000_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FieldError(field, f"must be a whole number from {low} to {high}")
    return value


def _multiplier(value: object) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise FieldError("multiplier", "must be a number such as 1.25") from exc
    if not number.is_finite() or number != number.quantize(Decimal("0.01")):
        raise FieldError("multiplier", "must have at most two decimals, e.g. 1.25")
    if not Decimal(1) <= number <= MAX_MULTIPLIER:
        raise FieldError("multiplier", f"must be from 1.00 to {MAX_MULTIPLIER}")
    return number.quantize(Decimal("0.01"))


def _benefit_texts(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 10:
        raise FieldError("benefits", "must be a list of at most 10 texts")
    texts = []
    for i, text in enumerate(value):
        if not isinstance(text, str) or not text.strip() or len(text.strip()) > 40:
            raise FieldError(f"benefits[{i}]", "must be a text of 1 to 40 characters")
        texts.append(text.strip())
    return texts


def _check_ladder(program: Program, changed: TierDefinition) -> None:
    """Thresholds and multipliers must rise with rank; the entry tier starts at 0."""
    tiers = {t.pk: t for t in TierDefinition.objects.filter(program=program)}
    tiers[changed.pk] = changed
    ladder = sorted(tiers.values(), key=lambda t: t.rank)
    if ladder[0].threshold != 0:
        raise FieldError("threshold", "the entry tier (lowest rank) must have threshold 0")
    for lower, higher in itertools.pairwise(ladder):
        if higher.threshold <= lower.threshold:
            raise FieldError("threshold", f"{higher.name} must need more points than {lower.name} ({lower.threshold})")
        if higher.multiplier < lower.multiplier:
            raise FieldError("multiplier", f"{higher.name} must not multiply less than {lower.name}")


@transaction.atomic
def tier_create(*, actor: Actor, program: Program, values: dict[str, Any]) -> TierDefinition:
    require_manage(actor)
    Program.objects.select_for_update().get(pk=program.pk)  # one ladder change at a time
    code = str(values.get("code") or "").strip()
    if not TIER_CODE_RE.fullmatch(code):
        raise FieldError("code", "must be 1 to 20 lower-case letters, digits, - or _")
    if TierDefinition.objects.filter(program=program, code=code).exists():
        raise FieldError("code", f"{code!r} is already a tier of {program.name}")
    rank = _whole("rank", values.get("rank"), low=0, high=20)
    if TierDefinition.objects.filter(program=program, rank=rank).exists():
        raise FieldError("rank", f"rank {rank} is taken")
    tier = TierDefinition(
        program=program,
        code=code,
        rank=rank,
        name=clean_text("name", values.get("name"), 30),
        threshold=_whole("threshold", values.get("threshold"), low=0),
        multiplier=_multiplier(values.get("multiplier", "1.00")),
        benefits=_benefit_texts(values.get("benefits")),
    )
    _check_ladder(program, tier)
    tier.save()
    audit(actor=actor, action="tier.create", obj_type="tier", obj_id=tier.pk, summary={"code": code})
    return tier


@transaction.atomic
def tier_update(*, actor: Actor, tier: TierDefinition, values: dict[str, Any]) -> TierDefinition:
    require_manage(actor)
    Program.objects.select_for_update().get(pk=tier.program_id)
    tier = TierDefinition.objects.select_related("program").get(pk=tier.pk)
    unknown = set(values) - set(TIER_FIELDS)
    if unknown:
        raise FieldError(sorted(unknown)[0], "cannot be changed (tiers keep their code and rank)")
    before = {f: getattr(tier, f) for f in TIER_FIELDS}
    if "name" in values:
        tier.name = clean_text("name", values["name"], 30)
    if "threshold" in values:
        tier.threshold = _whole("threshold", values["threshold"], low=0)
    if "multiplier" in values:
        tier.multiplier = _multiplier(values["multiplier"])
    if "benefits" in values:
        tier.benefits = _benefit_texts(values["benefits"])
    _check_ladder(tier.program, tier)
    changed = {f: {"before": str(before[f]), "after": str(getattr(tier, f))} for f in TIER_FIELDS}
    changed = {f: c for f, c in changed.items() if c["before"] != c["after"]}
    if changed:
        tier.save()
        audit(actor=actor, action="tier.update", obj_type="tier", obj_id=tier.pk, summary=changed)
    return tier


def clean_benefit(program: Program, values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["name"] = clean_text("name", values.get("name"), 80)
    description = str(values.get("description") or "").strip()
    if len(description) > 2000:
        raise FieldError("description", "must be at most 2000 characters")
    out["description"] = description
    out["points_price"] = _whole("points_price", values.get("points_price"), low=1, high=100_000_000)
    out["cash_price_fen"] = _whole("cash_price_fen", values.get("cash_price_fen") or 0, low=0, high=100_000_000)
    out["stock"] = _whole("stock", values.get("stock"), low=0, high=10_000_000)
    limit = values.get("per_member_limit")
    out["per_member_limit"] = None if limit in (None, "") else _whole("per_member_limit", limit, low=1, high=10_000)
    out["valid_from"] = clean_when("valid_from", values.get("valid_from"))
    out["valid_until"] = clean_when("valid_until", values.get("valid_until"))
    if out["valid_from"] and out["valid_until"] and out["valid_until"] <= out["valid_from"]:
        raise FieldError("valid_until", "must be after valid_from")
    min_tier = values.get("min_tier")
    if isinstance(min_tier, TierDefinition):
        min_tier = min_tier.code
    if min_tier in (None, ""):
        out["min_tier"] = None
    else:
        tier = TierDefinition.objects.filter(program=program, code=str(min_tier)).first()
        if tier is None:
            raise FieldError("min_tier", f"{min_tier!r} is not a tier of {program.name}")
        out["min_tier"] = tier
    out["active"] = bool(values.get("active", True))
    return out


@transaction.atomic
def benefit_add(*, actor: Actor, program: Program, code: str, values: dict[str, Any]) -> BenefitItem:
    """Create a catalogue item from form or API values, every field validated."""
    require_manage(actor)
    code = (code or "").strip()
    if not BENEFIT_CODE_RE.fullmatch(code):
        raise FieldError("code", "must be 1 to 40 lower-case letters, digits, - or _")
    if BenefitItem.objects.filter(program=program, code=code).exists():
        raise FieldError("code", f"{code!r} is already in the catalogue of {program.name}")
    item = BenefitItem.objects.create(program=program, code=code, **clean_benefit(program, values))
    audit(actor=actor, action="benefit.create", obj_type="benefit_item", obj_id=item.pk, summary={"code": code})
    return item


@transaction.atomic
def benefit_update(*, actor: Actor, item: BenefitItem, values: dict[str, Any]) -> BenefitItem:
    """Change an item; `stock` sets the stock left. Locks the item like a redemption does."""
    require_manage(actor)
    item = BenefitItem.objects.select_for_update(of=("self",)).select_related("program", "min_tier").get(pk=item.pk)
    unknown = set(values) - set(BENEFIT_FIELDS)
    if unknown:
        raise FieldError(sorted(unknown)[0], "is not a field of a benefit item")
    before: dict[str, Any] = {f: getattr(item, f) for f in BENEFIT_FIELDS}
    cleaned = clean_benefit(item.program, {**before, **values})
    changed = {f: v for f, v in cleaned.items() if before[f] != v}
    for key, value in changed.items():
        setattr(item, key, value)
    if changed:
        item.save()
        audit(
            actor=actor,
            action="benefit.update",
            obj_type="benefit_item",
            obj_id=item.pk,
            summary={f: {"before": _show(before[f]), "after": _show(v)} for f, v in changed.items()},
        )
    return item


def _show(value: object) -> str:
    if isinstance(value, TierDefinition):
        return value.code
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)

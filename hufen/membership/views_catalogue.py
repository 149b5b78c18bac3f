"""Console pages for the program catalogue: earning rules, tiers and benefits.

Everyone with `membership.view` reads them; only `membership.manage` (HQ admins) sees the forms and
may post them. A rejected form is shown again with the values as typed and the error under the
field it names; nothing is written.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import Any

from django.db.models import Count
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from hufen.common.errors import FieldError
from hufen.console.access import ConsoleRequest, console_view
from hufen.membership import catalogue, rules
from hufen.membership.models import BenefitItem, EarningDecision, EarningRule, Program, TierDefinition
from hufen.membership.reasons import REASONS
from hufen.org.models import Brand

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
RULE_CAPS = ("daily_cap_count", "monthly_cap_count", "daily_cap_points", "monthly_cap_points")


def _programs() -> list[Program]:
    from hufen.membership.programs import program_for_brand

    return [program_for_brand(b) for b in Brand.objects.order_by("code")]


def _int_or_text(raw: str) -> Any:
    """Form text as the services expect it: whole numbers as int, anything else as typed (to be refused)."""
    text = raw.strip()
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return text


def _local_dt(field: str, raw: str) -> dt.datetime | None:
    """`datetime-local` input (Asia/Shanghai) → aware datetime."""
    text = raw.strip()
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)
    except ValueError as exc:
        raise FieldError(field, "must be a date and time") from exc


def _local_text(value: dt.datetime | None) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M") if value else ""


# --- earning rules -------------------------------------------------------------------------------------


@console_view("membership.view")
def rule_list(request: ConsoleRequest) -> HttpResponse:
    rows = list(EarningRule.objects.select_related("program__brand").order_by("program_id", "event", "id"))
    # How often each rule paid out, for the list (one grouped query).
    awarded = dict(
        EarningDecision.objects.filter(outcome__in=("awarded", "truncated"))
        .values("rule_id")
        .order_by()
        .annotate(n=Count("id"))
        .values_list("rule_id", "n")
    )
    context = {
        "nav": "membership",
        "sub": "rules",
        "rules": rows,
        "awarded": awarded,
        "can_manage": request.actor.has_perm("membership.manage"),
        "reasons": {code: r.label for code, r in REASONS.items()},
    }
    return render(request, "membership/rule_list.html", context)


def _rule_values(post: Any) -> dict[str, Any]:
    conditions_text = post.get("conditions", "").strip()
    try:
        conditions = json.loads(conditions_text) if conditions_text else []
    except json.JSONDecodeError as exc:
        raise FieldError("conditions", f"is not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    values: dict[str, Any] = {
        "name": post.get("name", ""),
        "event": post.get("event", "").strip(),
        "points": _int_or_text(post.get("points", "")),
        "reason": post.get("reason", ""),
        "conditions": conditions,
        "apply_multiplier": post.get("apply_multiplier") == "on",
        "valid_from": _local_dt("valid_from", post.get("valid_from", "")),
        "valid_until": _local_dt("valid_until", post.get("valid_until", "")),
        "active": post.get("active") == "on",
    }
    for cap in RULE_CAPS:
        values[cap] = _int_or_text(post.get(cap, ""))
    return values


def _rule_form(rule: EarningRule | None) -> dict[str, Any]:
    if rule is None:
        return {"apply_multiplier": True, "active": True, "conditions": "[]", "points": "", "reason": "check_in"}
    form: dict[str, Any] = {f: getattr(rule, f) for f in rules.RULE_FIELDS}
    form["conditions"] = json.dumps(rule.conditions, ensure_ascii=False)
    form["valid_from"] = _local_text(rule.valid_from)
    form["valid_until"] = _local_text(rule.valid_until)
    form["brand"] = rule.program.brand.code
    form["code"] = rule.code
    for cap in RULE_CAPS:
        form[cap] = "" if form[cap] is None else form[cap]
    return form


@console_view("membership.manage")
def rule_edit(request: ConsoleRequest, rule_id: int | None = None) -> HttpResponse:
    rule = None
    if rule_id is not None:
        rule = EarningRule.objects.select_related("program__brand").filter(pk=rule_id).first()
        if rule is None:
            raise Http404("no such rule")
    errors: dict[str, str] = {}
    form = _rule_form(rule)
    if request.method == "POST":
        form = {k: request.POST.get(k, "") for k in (*rules.RULE_FIELDS, "brand", "code")}
        form["apply_multiplier"] = request.POST.get("apply_multiplier") == "on"
        form["active"] = request.POST.get("active") == "on"
        if rule is not None:  # brand and code are fixed once created (disabled inputs are not posted)
            form.update(brand=rule.program.brand.code, code=rule.code)
        try:
            values = _rule_values(request.POST)
            if rule is None:
                program = _program_of(request.POST.get("brand", ""))
                rule = rules.rule_create(actor=request.actor, program=program, code=form["code"], values=values)
            else:
                rules.rule_update(actor=request.actor, rule=rule, values=values)
            return HttpResponseRedirect(reverse("membership:rule_list") + f"#rule-{rule.pk}")
        except FieldError as exc:
            errors[exc.field] = exc.reason
    context = {
        "nav": "membership",
        "sub": "rules",
        "rule": rule,
        "form": form,
        "errors": errors,
        "programs": _programs(),
        "award_reasons": [(c, r.label) for c, r in REASONS.items() if r.kind == "award"],
        "caps": RULE_CAPS,
    }
    return render(request, "membership/rule_form.html", context, status=422 if errors else 200)


def _program_of(code: str) -> Program:
    brand = Brand.objects.filter(code=code).first()
    if brand is None:
        raise FieldError("brand", _("choose a brand"))
    from hufen.membership.programs import program_for_brand

    return program_for_brand(brand)


# --- tiers ---------------------------------------------------------------------------------------------


@console_view("membership.view")
def tier_list(request: ConsoleRequest) -> HttpResponse:
    programs = _programs()
    tiers = TierDefinition.objects.filter(program__in=programs).select_related("program__brand")
    by_program: dict[int, list[TierDefinition]] = {}
    for t in tiers.order_by("program_id", "rank"):
        by_program.setdefault(t.program_id, []).append(t)
    context = {
        "nav": "membership",
        "sub": "tiers",
        "groups": [(p, by_program.get(p.pk, [])) for p in programs],
        "can_manage": request.actor.has_perm("membership.manage"),
    }
    return render(request, "membership/tier_list.html", context)


@console_view("membership.manage")
def tier_edit(request: ConsoleRequest, tier_id: int) -> HttpResponse:
    tier = TierDefinition.objects.select_related("program__brand").filter(pk=tier_id).first()
    if tier is None:
        raise Http404("no such tier")
    errors: dict[str, str] = {}
    form: dict[str, Any] = {
        "name": tier.name,
        "threshold": tier.threshold,
        "multiplier": f"{tier.multiplier:.2f}",
        "benefits": "\n".join(tier.benefits or []),
    }
    if request.method == "POST":
        form = {k: request.POST.get(k, "") for k in form}
        values = {
            "name": form["name"],
            "threshold": _int_or_text(form["threshold"]),
            "multiplier": form["multiplier"].strip(),
            "benefits": [line.strip() for line in form["benefits"].splitlines() if line.strip()],
        }
        try:
            catalogue.tier_update(actor=request.actor, tier=tier, values=values)
            return HttpResponseRedirect(reverse("membership:tier_list"))
        except FieldError as exc:
            errors[exc.field] = exc.reason
    context = {"nav": "membership", "sub": "tiers", "tier": tier, "form": form, "errors": errors}
    return render(request, "membership/tier_form.html", context, status=422 if errors else 200)


# --- benefits ------------------------------------------------------------------------------------------


@console_view("membership.view")
def benefit_list(request: ConsoleRequest) -> HttpResponse:
    items = BenefitItem.objects.select_related("program__brand", "min_tier").order_by("program_id", "id")
    context = {
        "nav": "membership",
        "sub": "benefits",
        "items": items,
        "can_manage": request.actor.has_perm("membership.manage"),
    }
    return render(request, "membership/benefit_list.html", context)


BENEFIT_FORM = ("name", "description", "points_price", "cash_price_fen", "stock", "per_member_limit", "min_tier")


@console_view("membership.manage")
def benefit_edit(request: ConsoleRequest, item_id: int | None = None) -> HttpResponse:
    item = None
    if item_id is not None:
        item = BenefitItem.objects.select_related("program__brand", "min_tier").filter(pk=item_id).first()
        if item is None:
            raise Http404("no such benefit")
    errors: dict[str, str] = {}
    form: dict[str, Any] = {"active": True}
    if item is not None:
        form = {f: getattr(item, f) for f in BENEFIT_FORM}
        form.update(
            min_tier=item.min_tier.code if item.min_tier else "",
            per_member_limit=item.per_member_limit or "",
            valid_from=_local_text(item.valid_from),
            valid_until=_local_text(item.valid_until),
            active=item.active,
            brand=item.program.brand.code,
            code=item.code,
        )
    if request.method == "POST":
        form = {k: request.POST.get(k, "") for k in (*BENEFIT_FORM, "valid_from", "valid_until", "brand", "code")}
        form["active"] = request.POST.get("active") == "on"
        if item is not None:
            form.update(brand=item.program.brand.code, code=item.code)
        try:
            values: dict[str, Any] = {
                "name": form["name"],
                "description": form["description"],
                "min_tier": form["min_tier"].strip(),
                "valid_from": _local_dt("valid_from", form["valid_from"]),
                "valid_until": _local_dt("valid_until", form["valid_until"]),
                "active": form["active"],
            }
            for f in ("points_price", "cash_price_fen", "stock", "per_member_limit"):
                values[f] = _int_or_text(form[f])
            values["cash_price_fen"] = values["cash_price_fen"] or 0
            if item is None:
                program = _program_of(form["brand"])
                item = catalogue.benefit_add(actor=request.actor, program=program, code=form["code"], values=values)
            else:
                catalogue.benefit_update(actor=request.actor, item=item, values=values)
            return HttpResponseRedirect(reverse("membership:benefit_list") + f"#benefit-{item.pk}")
        except FieldError as exc:
            errors[exc.field] = exc.reason
    context = {
        "nav": "membership",
        "sub": "benefits",
        "item": item,
        "form": form,
        "errors": errors,
        "programs": _programs(),
        "tiers": TierDefinition.objects.select_related("program__brand").order_by("program_id", "rank"),
    }
    return render(request, "membership/benefit_form.html", context, status=422 if errors else 200)

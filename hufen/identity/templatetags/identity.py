"""Labels for the review queue, and the person 360 "source records" section."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

from hufen.identity.selectors import person_source_records

register = template.Library()

FIELD_LABELS = {
    "name": "Name",
    "birth_date": "Birth date",
    "gender": "Gender",
    "place": "Region",
    "address": "Address",
    "phone": "Mobile",
    "email": "Email",
    "id_number": "ID number",
    "wechat_unionid": "WeChat unionid",
    "wechat_openid": "WeChat openid",
    "app_user_id": "App user",
    "vin": "VIN",
}
LEVEL_LABELS = {
    "same name": "Same name",
    "same pinyin (any order)": "Same pinyin",
    "similar pinyin": "Similar pinyin",
    "same surname, no given name (王先生)": "Same surname, no given name",
    "different": "Different",
    "same date": "Same date",
    "one digit off": "One digit off",
    "same district": "Same district",
    "same city": "Same city",
    "same province": "Same province",
    "same": "Same",
    "similar (JW ≥ 0.9)": "Similar",
    "somewhat similar (JW ≥ 0.75)": "Somewhat similar",
}
STATUS_LABELS = {"open": "Open", "confirmed": "Confirmed", "rejected": "Rejected", "obsolete": "Obsolete"}
DECISION_LABELS = {"linked": "Linked", "new": "New customer", "review": "New, under review", "constraint": "Reviewer"}


@register.filter
def evidence_field(name: str) -> str:
    return _(FIELD_LABELS.get(name, name))


@register.filter
def evidence_level(label: str) -> str:
    if label.startswith("Exact match"):
        return _("Same")
    if label.startswith("All other"):
        return _("Different")
    return _(LEVEL_LABELS.get(label, label))


@register.filter
def review_status(code: str) -> str:
    return _(STATUS_LABELS.get(code, code))


@register.filter
def link_decision(code: str) -> str:
    return _(DECISION_LABELS.get(code, code))


@register.filter
def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


@register.inclusion_tag("identity/_source_records.html", takes_context=True)
def source_records(context: dict[str, Any], person_id: int) -> dict[str, Any]:
    """The person 360 sections: which records (source, key, when, how decided) make this person,
    and the shell of their merge lineage (loaded by htmx from `identity:person_lineage`)."""
    request = context["request"]
    return {"records": person_source_records(actor=request.actor, person_id=person_id), "person_id": person_id}

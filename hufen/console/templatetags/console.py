"""Template filters for the console: translated labels for stored codes, and masking."""

from __future__ import annotations

from django import template

from hufen.common import pii
from hufen.console import labels

register = template.Library()


@register.filter
def end_reason(code: str) -> str:
    return labels.label(labels.END_REASON_LABELS, code)


@register.filter
def visit_kind(code: str) -> str:
    return labels.label(labels.VISIT_KIND_LABELS, code)


@register.filter
def ownership_role(code: str) -> str:
    return labels.label(labels.OWNERSHIP_ROLE_LABELS, code)


@register.filter
def household_role(code: str) -> str:
    return labels.label(labels.HOUSEHOLD_ROLE_LABELS, code)


@register.filter
def gender(code: str) -> str:
    return labels.label(labels.GENDER_LABELS, code)


@register.filter
def energy(code: str) -> str:
    return labels.label(labels.ENERGY_LABELS, code)


@register.filter
def dealer_status(code: str) -> str:
    return labels.label(labels.DEALER_STATUS_LABELS, code)


@register.filter
def contact_kind(code: str) -> str:
    return labels.label(labels.CONTACT_KIND_LABELS, code)


@register.filter
def person_source(code: str) -> str:
    return labels.label(labels.SOURCE_LABELS, code)


@register.filter
def masked_name(name: str) -> str:
    return pii.mask_name(name)


@register.filter
def masked_contact(value: str, kind: str) -> str:
    """A contact point's value, masked the way its kind needs."""
    return pii.mask_email(value) if kind == "email" else pii.mask_phone(value)


@register.filter
def thousands(value: int | None) -> str:
    """`300000` → `300,000` in every language (Django's zh-Hans format has no thousands separator)."""
    return "" if value is None else f"{value:,}"

"""Template filters for the membership console pages: labels for codes, in the reader's language."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def decision_outcome(code: str) -> str:
    labels = {
        "awarded": _("Awarded"),
        "truncated": _("Awarded, cut by a points cap"),
        "capped": _("Skipped: cap reached"),
        "conditions_not_met": _("Skipped: conditions not met"),
        "not_member": _("Skipped: not a member"),
        "member_inactive": _("Skipped: member frozen or closed"),
    }
    return labels.get(code, code)


@register.filter
def field_error(errors: dict[str, str], field: str) -> str:
    """The error for `field` (or one of its rows, e.g. conditions[0].op) in a form's errors."""
    for key, reason in errors.items():
        if key == field or key.startswith(f"{field}[") or key.startswith(f"{field}."):
            return f"{key}: {reason}" if key != field else reason
    return ""


@register.filter
def get_item(mapping: object, key: object) -> object:
    """`mapping[key]` in a template (dicts only; a missing key is None)."""
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def split_words(text: str) -> list[str]:
    return text.split()

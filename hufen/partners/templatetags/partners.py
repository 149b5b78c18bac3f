from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()
_SCENARIO_CHARS = {
    "apparel": "衣",
    "food": "食",
    "housing": "住",
    "mobility": "行",
    "entertainment": "娱",
    "learning": "学",
    "shopping": "购",
    "health": "健",
    "finance": "财",
    "travel": "游",
}
_SCENARIOS = {
    "apparel": _("Apparel"),
    "food": _("Food & drink"),
    "housing": _("Home & living"),
    "mobility": _("Mobility"),
    "entertainment": _("Entertainment"),
    "learning": _("Learning"),
    "shopping": _("Shopping"),
    "health": _("Health"),
    "finance": _("Finance"),
    "travel": _("Travel"),
}


@register.filter
def yuan(fen: int | None) -> str:
    """Integer fen as yuan with two decimals: 12850 → 128.50 (no float arithmetic)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole:,}.{cents:02d}"


@register.filter
def scenario_char(code: str) -> str:
    return _SCENARIO_CHARS.get(code, "")


@register.filter
def scenario_label(code: str) -> str:
    label = _SCENARIOS.get(code)
    return f"{_SCENARIO_CHARS[code]} {label}" if label is not None else code

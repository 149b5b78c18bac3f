"""Translated labels for the codes the core models store.

Core choices carry fixed (partly Chinese) labels; the console shows these instead so that every
label follows the user's language.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from hufen.common.actors import Role

ROLE_LABELS: dict[str, Promise] = {
    Role.HQ_ADMIN: _("HQ admin"),
    Role.HQ_OPERATOR: _("HQ operator"),
    Role.REGION_MANAGER: _("Region manager"),
    Role.DEALER_MANAGER: _("Dealer manager"),
    Role.BUTLER: _("Butler"),
    Role.MERCHANT_OPERATOR: _("Merchant operator"),
    Role.API_CLIENT: _("API client"),
    Role.SYSTEM: _("System"),
}

GENDER_LABELS: dict[str, Promise] = {"M": _("Male"), "F": _("Female"), "U": _("Unknown")}

HOUSEHOLD_ROLE_LABELS: dict[str, Promise] = {
    "head": _("Head of household"),
    "spouse": _("Spouse"),
    "child": _("Child"),
    "parent": _("Parent"),
    "other": _("Other"),
}

OWNERSHIP_ROLE_LABELS: dict[str, Promise] = {"owner": _("Owner"), "co_user": _("Co-user")}

END_REASON_LABELS: dict[str, Promise] = {
    "trade_in": _("Trade-in"),
    "transfer": _("Transfer"),
    "scrapped": _("Scrapped"),
    "other": _("Other"),
}

VISIT_KIND_LABELS: dict[str, Promise] = {
    "maintenance": _("Maintenance"),
    "repair": _("Repair"),
    "inspection": _("Inspection"),
    "accessory": _("Accessory fitting"),
}

ENERGY_LABELS: dict[str, Promise] = {
    "ice": _("Petrol"),
    "hev": _("Hybrid"),
    "phev": _("Plug-in hybrid"),
    "bev": _("Battery electric"),
}

DEALER_STATUS_LABELS: dict[str, Promise] = {
    "active": _("Active"),
    "suspended": _("Suspended"),
    "closed": _("Closed"),
}

CONTACT_KIND_LABELS: dict[str, Promise] = {"phone": _("Phone"), "email": _("Email")}

SOURCE_LABELS: dict[str, Promise] = {
    "manual": _("Entered by staff"),
    "dms": _("Dealer DMS"),
    "app": _("Brand app"),
    "wechat": _("WeChat"),
    "douyin": _("Douyin"),
    "lead": _("Lead"),
    "event": _("Event"),
    "api": _("API"),
}

PII_FIELD_LABELS: dict[str, Promise] = {
    "name": _("Name"),
    "phone": _("Mobile"),
    "email": _("Email"),
    "address": _("Address"),
}


def label(table: dict[str, Promise], code: str) -> str:
    """The translated label of a code, or the code itself when it is new to the console."""
    return str(table[code]) if code in table else code

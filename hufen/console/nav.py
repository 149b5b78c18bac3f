"""The console menu, by role: HQ sees every entry, region/dealer/butler the ones for their work."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext as _

from hufen.common.actors import Actor, Scope


@dataclass(frozen=True)
class NavItem:
    key: str  # pages mark themselves active with this key
    label: str
    url: str


def nav_items(actor: Actor, dealer_code: str = "") -> list[NavItem]:
    items = [NavItem("home", _("Home"), reverse("console:home"))]
    if actor.has_perm("persons.view"):
        persons = _("My owners") if actor.scope == Scope.GRID else _("Customers")
        items.append(NavItem("persons", persons, reverse("console:person_list")))
    if actor.scope in (Scope.ALL, Scope.REGION, Scope.BRAND):
        items.append(NavItem("dealers", _("Dealers"), reverse("console:dealer_list")))
    elif dealer_code:
        items.append(NavItem("dealers", _("My dealer"), reverse("console:dealer_detail", args=[dealer_code])))
    if actor.scope in (Scope.ALL, Scope.REGION, Scope.DEALER):
        items.append(NavItem("analytics", _("Analytics"), reverse("analytics:funnel")))
    if actor.scope in (Scope.ALL, Scope.REGION, Scope.DEALER):
        items.append(NavItem("partners", _("Territory Partners"), reverse("partners_console:value")))
    if actor.has_perm("membership.view"):
        items.append(NavItem("membership", _("Membership"), reverse("membership:member_list")))
    if actor.scope == Scope.ALL and actor.has_perm("identity.review"):
        items.append(NavItem("identity", _("Identity review"), reverse("identity:review")))
    if actor.scope in (Scope.ALL, Scope.REGION, Scope.DEALER, Scope.GRID):
        items.append(NavItem("memberday", _("Member Day"), reverse("memberday:list")))
    if actor.scope == Scope.ALL:
        items.append(NavItem("sms", _("SMS outbox"), reverse("portal_console:sms_outbox")))
    if actor.has_perm("api_clients.manage"):
        items.append(NavItem("api_clients", _("API clients"), reverse("console:api_client_list")))
    return items

"""Who may do what on Member Day. Scope (which persons, which dealers) still comes from org/people.

- HQ (admin, operator) and the system set campaigns up: occurrences, tasks, offers; they manage every
  dealer's sessions.
- A dealer manager creates and edits its own dealer's sessions; dealer staff (manager, butler) mark
  attendance at their dealer's sessions.
- Check-ins and task completions: the member itself (portal), or an integration / HQ admin holding
  `points.adjust` for a member in its data scope.
"""

from __future__ import annotations

from hufen.common.actors import Actor, Role, Scope
from hufen.common.errors import NotFound, PermissionDenied
from hufen.org.models import Dealer
from hufen.people.models import Person

MANAGE_ROLES = frozenset({Role.HQ_ADMIN, Role.HQ_OPERATOR, Role.SYSTEM})
DASHBOARD_SCOPES = frozenset({Scope.ALL, Scope.BRAND, Scope.REGION, Scope.DEALER, Scope.GRID})


def can_manage(actor: Actor) -> bool:
    return actor.role in MANAGE_ROLES


def require_manage(actor: Actor) -> None:
    if not can_manage(actor):
        raise PermissionDenied(f"{actor.label} may not set up Member Day")


def can_edit_sessions_of(actor: Actor, dealer: Dealer) -> bool:
    if can_manage(actor):
        return True
    return actor.role == Role.DEALER_MANAGER and actor.dealer_id == dealer.pk


def can_mark_attendance_at(actor: Actor, dealer: Dealer) -> bool:
    if can_manage(actor):
        return True
    return actor.role in (Role.DEALER_MANAGER, Role.BUTLER) and actor.dealer_id == dealer.pk


def require_dashboard(actor: Actor) -> None:
    if actor.role == Role.MEMBER or actor.scope not in DASHBOARD_SCOPES:
        raise PermissionDenied(f"{actor.label} may not see Member Day figures")


def needs_scope_check(actor: Actor) -> bool:
    """Whether acting for a member needs the data-scope test (staff and integrations below HQ)."""
    return actor.role not in (Role.MEMBER, Role.SYSTEM) and actor.scope != Scope.ALL


def require_act_for(actor: Actor, *, member_id: int, person_id: int, in_scope: bool | None = None) -> None:
    """May `actor` check in / complete tasks / sign up for this member?

    `in_scope`: the caller already evaluated `Person.objects.visible_to(actor)` for the person (the
    hot path folds it into its one read); otherwise it is queried here.
    """
    if actor.role == Role.MEMBER:
        if actor.member_id == member_id or (actor.member_id is None and actor.person_id == person_id):
            return
        raise PermissionDenied(f"{actor.label} may only act for itself")
    if actor.role == Role.SYSTEM:
        return
    if not actor.has_perm("points.adjust"):
        raise PermissionDenied(f"{actor.label} may not check members in (points.adjust)")
    if not needs_scope_check(actor):
        return
    if in_scope is None:
        in_scope = Person.objects.visible_to(actor).filter(pk=person_id).exists()
    if not in_scope:
        raise NotFound(f"member {member_id} does not exist or is outside your data scope")

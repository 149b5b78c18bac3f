"""Who is acting: every service and selector takes an `Actor`.

An actor is a frozen snapshot of what a caller may see and do, built once per request from a staff
user or an API client (or `SYSTEM` for jobs), so that scoping code never re-reads the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    HQ_ADMIN = "hq_admin"
    HQ_OPERATOR = "hq_operator"
    REGION_MANAGER = "region_manager"
    DEALER_MANAGER = "dealer_manager"
    BUTLER = "butler"
    MERCHANT_OPERATOR = "merchant_operator"
    MEMBER = "member"
    API_CLIENT = "api_client"
    SYSTEM = "system"


class Scope(StrEnum):
    """How far an actor's view of persons reaches."""

    ALL = "all"
    BRAND = "brand"
    REGION = "region"
    DEALER = "dealer"
    GRID = "grid"
    SELF = "self"  # a member signed in to the owner portal: only their own person
    NONE = "none"


# Permissions by role. Revealing PII is a permission: it is granted to few roles and audited.
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.HQ_ADMIN: frozenset(
        {"persons.view", "persons.create", "persons.export", "pii.reveal", "org.manage", "api_clients.manage"}
    ),
    Role.HQ_OPERATOR: frozenset({"persons.view", "persons.create", "persons.export"}),
    Role.REGION_MANAGER: frozenset({"persons.view", "persons.export"}),
    Role.DEALER_MANAGER: frozenset({"persons.view", "persons.export", "pii.reveal"}),
    Role.BUTLER: frozenset({"persons.view", "pii.reveal"}),
    Role.MERCHANT_OPERATOR: frozenset(),
    Role.MEMBER: frozenset(),
    Role.API_CLIENT: frozenset({"persons.view"}),
    Role.SYSTEM: frozenset({"persons.view", "persons.create", "persons.export", "pii.reveal", "org.manage"}),
}

# Membership (issue 5): view members and ledgers, enrol persons, change status and the catalogue,
# award/spend/reverse points, redeem benefits on a member's behalf. Scope still comes from persons.
_MEMBERSHIP_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.HQ_ADMIN: frozenset(
        {"membership.view", "membership.join", "membership.manage", "points.adjust", "benefits.redeem"}
    ),
    Role.HQ_OPERATOR: frozenset({"membership.view", "membership.join", "benefits.redeem"}),
    Role.REGION_MANAGER: frozenset({"membership.view"}),
    Role.DEALER_MANAGER: frozenset({"membership.view", "membership.join", "benefits.redeem"}),
    Role.BUTLER: frozenset({"membership.view", "benefits.redeem"}),
    Role.API_CLIENT: frozenset({"membership.view", "membership.join", "points.adjust", "benefits.redeem"}),
    Role.SYSTEM: frozenset(
        {"membership.view", "membership.join", "membership.manage", "points.adjust", "benefits.redeem"}
    ),
}
for _role, _perms in _MEMBERSHIP_PERMISSIONS.items():
    ROLE_PERMISSIONS[_role] = ROLE_PERMISSIONS[_role] | _perms

# ONE ID (issue 3): merging and unmerging persons. Group-wide roles only: a merge moves data-scope
# facts between persons, so whoever merges must see both sides.
for _role in (Role.HQ_ADMIN, Role.HQ_OPERATOR, Role.SYSTEM):
    ROLE_PERMISSIONS[_role] = ROLE_PERMISSIONS[_role] | {"persons.merge"}


@dataclass(frozen=True)
class Actor:
    kind: str  # "staff" | "api_client" | "member" | "system"
    role: Role
    label: str
    staff_id: int | None = None
    user_id: int | None = None
    api_client_id: int | None = None
    brand_ids: frozenset[int] = field(default_factory=frozenset)
    region_id: int | None = None
    dealer_id: int | None = None
    extra_permissions: frozenset[str] = field(default_factory=frozenset)
    # A member signed in to the owner portal acts as their own person (and member of one program).
    person_id: int | None = None
    member_id: int | None = None
    # A merchant operator acts for one partner merchant (issue 6).
    merchant_id: int | None = None
    # When set, the actor holds only these of its role's permissions (an API client's permission set).
    permission_limit: frozenset[str] | None = None

    @property
    def scope(self) -> Scope:
        if self.role in (Role.HQ_ADMIN, Role.HQ_OPERATOR, Role.SYSTEM):
            return Scope.ALL
        if self.role == Role.REGION_MANAGER:
            return Scope.REGION if self.region_id else Scope.NONE
        if self.role == Role.DEALER_MANAGER:
            return Scope.DEALER if self.dealer_id else Scope.NONE
        if self.role == Role.BUTLER:
            return Scope.GRID if self.staff_id and self.dealer_id else Scope.NONE
        if self.role == Role.MEMBER:
            return Scope.SELF if self.person_id else Scope.NONE
        if self.role == Role.API_CLIENT:
            if self.dealer_id:
                return Scope.DEALER
            if self.brand_ids:
                return Scope.BRAND
        return Scope.NONE

    def has_perm(self, perm: str) -> bool:
        if self.permission_limit is not None and perm not in self.permission_limit:
            return False
        return perm in ROLE_PERMISSIONS.get(self.role, frozenset()) or perm in self.extra_permissions


SYSTEM = Actor(kind="system", role=Role.SYSTEM, label="system")

# ONE ID (issue 3): link inbound records (HQ and integrations; a dealer's integration only its own
# records) and decide gray-zone pairs on the review queue (HQ only).
_IDENTITY_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.HQ_ADMIN: frozenset({"identity.link", "identity.review"}),
    Role.HQ_OPERATOR: frozenset({"identity.link", "identity.review"}),
    Role.API_CLIENT: frozenset({"identity.link"}),
    Role.SYSTEM: frozenset({"identity.link", "identity.review"}),
}
for _role, _perms in _IDENTITY_PERMISSIONS.items():
    ROLE_PERMISSIONS[_role] = ROLE_PERMISSIONS[_role] | _perms

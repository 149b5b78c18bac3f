from __future__ import annotations

from typing import Any

from hufen.common.actors import Actor
from hufen.common.models import AuditEvent


def audit(
    *,
    actor: Actor,
    action: str,
    obj_type: str,
    obj_id: object,
    summary: dict[str, Any] | None = None,
    reason: str = "",
    ip: str | None = None,
) -> AuditEvent:
    """Record one audited action. Call inside the service's transaction so both land or neither."""
    return AuditEvent.objects.create(
        actor_kind=actor.kind,
        actor_label=actor.label[:150],
        actor_user_id=actor.user_id,
        actor_api_client_id=actor.api_client_id,
        action=action,
        object_type=obj_type,
        object_id=str(obj_id),
        summary=summary or {},
        reason=reason[:300],
        ip_address=ip,
    )


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """A before/after summary holding only the fields that changed."""
    keys = sorted(set(before) | set(after))
    return {k: {"before": before.get(k), "after": after.get(k)} for k in keys if before.get(k) != after.get(k)}

"""Console writes. Exporting persons is audited like any other disclosure of personal data."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from hufen.common.actors import Actor
from hufen.common.audit import audit
from hufen.common.errors import PermissionDenied
from hufen.console.paging import capped_count
from hufen.people.selectors import person_search


@dataclass(frozen=True)
class PersonExport:
    query: str
    rows: int
    truncated: bool  # the search held more rows than an export may


@transaction.atomic
def persons_export_start(*, actor: Actor, query: str, ip: str | None = None) -> PersonExport:
    """Check that the actor may export, size the export (capped) and audit it before any row leaves."""
    if not actor.has_perm("persons.export"):
        raise PermissionDenied(f"{actor.label} may not export persons")
    cap = settings.HUFEN_EXPORT_MAX_ROWS
    rows, truncated = capped_count(person_search(actor=actor, query=query), cap)
    audit(
        actor=actor,
        action="persons.export",
        obj_type="person",
        obj_id="search",
        summary={"query": query, "rows": rows, "truncated": truncated, "format": "csv"},
        ip=ip,
    )
    return PersonExport(query=query, rows=rows, truncated=truncated)

"""Person merges over the API: merge another person into one, undo a merge, and where absorbed ids go.

- `POST /api/v1/persons/{id}/merge` merges `absorbed_id` into person `id` (HQ staff: `persons.merge`).
- `POST /api/v1/merges/{id}/unmerge` undoes it.
Both honour `Idempotency-Key`: a retried request replays the first answer instead of failing as
"already merged" / "already undone".
- `GET /api/v1/persons/{id}` of an absorbed person answers **308 Permanent Redirect** to the live
  person (`Location`, and a body `{"merged_into": id}`), but only when the caller may see that live
  person; otherwise it is a 404 like any id outside the caller's scope, so a redirect never reveals a
  person the caller could not see.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Field, Router, Schema
from ninja.responses import Status

from hufen.api.auth import actor_of
from hufen.api.errors import with_errors
from hufen.api.idempotency import run_idempotent
from hufen.api.types import Text
from hufen.common.actors import Actor
from hufen.common.errors import NotFound, PermissionDenied
from hufen.people.merge import merge_get, person_merge, person_resolve_id, person_unmerge
from hufen.people.models import Person, PersonMerge
from hufen.people.selectors import person_get

persons_router = Router(tags=["merges"])
router = Router(tags=["merges"])

MAX_ID = 2**63 - 1


class MergeIn(Schema):
    absorbed_id: int = Field(ge=1, le=MAX_ID, description="The person that is merged away; its id redirects here.")
    reason: Text = Field(min_length=1, max_length=300, examples=["同一客户：手机号与身份证号一致"])
    evidence: dict[str, Any] | None = Field(None, description="Why, for the record: scores, matched fields.")


class UnmergeIn(Schema):
    reason: Text = Field("", max_length=300, examples=["误合并：夫妻共用手机号"])


class MoveOut(Schema):
    handler: str
    kind: str = Field(description="reassign, fill, detach, end, status, or a handler's own kind.")
    model: str = Field(description="e.g. people.ownership")
    row_id: int
    field: str
    from_person_id: int | None
    to_person_id: int | None
    restored: bool
    note: str


class MergeOut(Schema):
    id: int
    survivor_id: int
    absorbed_id: int
    actor: str
    reason: str
    evidence: dict[str, Any]
    merged_at: dt.datetime
    unmerged_at: dt.datetime | None
    unmerged_by: str
    moves: list[MoveOut] = Field(description="Every change the merge made (values are not shown: they may be PII).")

    @staticmethod
    def of(merge: PersonMerge) -> MergeOut:
        return MergeOut(
            id=merge.pk,
            survivor_id=merge.survivor_id,
            absorbed_id=merge.absorbed_id,
            actor=merge.actor_label,
            reason=merge.reason,
            evidence=merge.evidence,
            merged_at=merge.merged_at,
            unmerged_at=merge.unmerged_at,
            unmerged_by=merge.unmerged_by,
            moves=[
                MoveOut(
                    handler=m.handler,
                    kind=m.kind,
                    model=m.model_label,
                    row_id=m.row_id,
                    field=m.field,
                    from_person_id=m.from_person_id,
                    to_person_id=m.to_person_id,
                    restored=m.restored_at is not None,
                    note=m.note,
                )
                for m in merge.moves.order_by("seq")
            ],
        )


class PersonMovedOut(Schema):
    merged_into: int = Field(description="The live person this absorbed id now stands for.")


def _require_merge(actor: Actor) -> None:
    if not actor.has_perm("persons.merge"):
        raise PermissionDenied(f"{actor.label} may not merge persons")


def _visible_person(actor: Actor, person_id: int) -> Person:
    return person_get(actor=actor, person_id=person_id)


@persons_router.post(
    "/{int:person_id}/merge",
    response=with_errors({201: MergeOut}, 409),
    summary="Merge another person into this one (HQ staff; honours Idempotency-Key)",
)
def persons_merge(request: HttpRequest, response: HttpResponse, person_id: int, payload: MergeIn) -> Status[Any]:
    actor = actor_of(request)
    _require_merge(actor)
    if not 1 <= person_id <= MAX_ID:
        raise NotFound(f"person {person_id} does not exist")

    def create() -> tuple[int, dict[str, Any]]:
        survivor = _visible_person(actor, person_id)
        absorbed = _visible_person(actor, payload.absorbed_id)
        merge = person_merge(
            actor=actor, survivor=survivor, absorbed=absorbed, reason=payload.reason, evidence=payload.evidence
        )
        return 201, MergeOut.of(merge).model_dump(mode="json")

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)


@router.post(
    "/{int:merge_id}/unmerge",
    response=with_errors({200: MergeOut}, 409),
    summary="Undo a merge (HQ staff; honours Idempotency-Key)",
)
def merges_unmerge(request: HttpRequest, response: HttpResponse, merge_id: int, payload: UnmergeIn) -> Status[Any]:
    actor = actor_of(request)
    _require_merge(actor)
    if not 1 <= merge_id <= MAX_ID:
        raise NotFound(f"merge {merge_id} does not exist")

    def create() -> tuple[int, dict[str, Any]]:
        merge = merge_get(actor=actor, merge_id=merge_id)
        person_unmerge(actor=actor, merge=merge, reason=payload.reason)
        merge.refresh_from_db()
        return 200, MergeOut.of(merge).model_dump(mode="json")

    return run_idempotent(request, payload=payload.model_dump(mode="json"), create=create).to_status(response)


def absorbed_redirect(actor: Actor, person_id: int) -> HttpResponse | None:
    """For `GET /persons/{id}`: a 308 to the live person when `person_id` was merged away and the
    caller may see the live person; None when the id is not merged (the normal lookup follows)."""
    target = person_resolve_id(person_id)
    if target == person_id:
        return None
    _visible_person(actor, target)
    response = JsonResponse({"merged_into": target}, status=308)
    response["Location"] = f"/api/v1/persons/{target}"
    return response

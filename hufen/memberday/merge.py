"""Person merge (ONE ID) hooks: a check-in follows its person.

A check-in keeps its member (a closed membership stays in the absorbed person's history), but its
`person` — what scopes and attributes Member Day figures — moves to the survivor, and moves back on
unmerge unless it moved again since.
"""

from __future__ import annotations

from hufen.memberday.models import CheckIn
from hufen.people.merge import MergeContext, UnmergeContext

CHECKIN_LABEL = "memberday.checkin"


def memberday_on_merge(ctx: MergeContext) -> None:
    ids = list(
        CheckIn.objects.select_for_update()
        .filter(person_id=ctx.absorbed.pk)
        .order_by("id")
        .values_list("id", flat=True)
    )
    for checkin_id in ids:
        ctx.record(
            "reassign",
            CHECKIN_LABEL,
            checkin_id,
            field="person",
            from_person=ctx.absorbed.pk,
            to_person=ctx.survivor.pk,
        )
    CheckIn.objects.filter(pk__in=ids).update(person_id=ctx.survivor.pk)


def memberday_on_unmerge(ctx: UnmergeContext) -> None:
    for move in ctx.moves:  # newest first
        if move.kind != "reassign" or move.model_label != CHECKIN_LABEL:
            raise AssertionError(f"unknown memberday move {move.kind} {move.model_label}")
        moved = 0
        if move.to_person_id is not None and move.from_person_id is not None:
            rows = CheckIn.objects.filter(pk=move.row_id, person_id=move.to_person_id)
            moved = rows.update(person_id=move.from_person_id)
        if not moved:
            ctx.skip(move, "the check-in moved again since the merge: left there")
            continue
        ctx.restored(move)

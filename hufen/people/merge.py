"""Merging two persons into one, and undoing it: exact, explainable, reversible.

`person_merge` moves everything attached to the absorbed person onto the survivor and records each
change as a `PersonMergeMove` (what row, which field, from whom, to whom, before and after), so that
`person_unmerge` puts back exactly those changes — and nothing that reached the survivor later.

People is core; capabilities sit above it. They plug their own moves in without people importing
them: `register_merge_handler(name, on_merge, on_unmerge)` from their `AppConfig.ready()`. Handlers
run in registration order after people's own moves, and are undone in the reverse order. A handler
that raises (e.g. `FieldError`) aborts the whole merge or unmerge: nothing is written.

Unmerges are last-in-first-out per survivor chain: a merge whose survivor was itself merged later
must wait until that later merge is undone (its rows now sit on a third person).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.utils import timezone

from hufen.common.actors import Actor
from hufen.common.audit import audit
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.events import publish
from hufen.common.pii import mask_name
from hufen.people.models import (
    ButlerAssignment,
    ContactPoint,
    Ownership,
    Person,
    PersonMerge,
    PersonMergeMove,
    ServiceVisit,
)

PERSON_LABEL = "people.person"
MAX_REASON = 300

# Survivor fields that take the absorbed's value when blank. Each group moves as a whole (an address
# is not assembled from two persons' parts); a group counts as blank when all its fields are.
FILL_GROUPS: tuple[tuple[str, ...], ...] = (
    ("phone",),
    ("email",),
    ("birth_date",),
    ("id_number_hash", "id_number_hint"),
    ("province", "city", "district", "address"),
)
BLANK: dict[str, object] = {"gender": "U"}


# --- handler registry ---------------------------------------------------------------------------


@dataclass
class MergeContext:
    """What a handler gets when a merge runs; it records each change it makes with `record`.

    Moves are buffered and written in one batch when the handler returns (`flush`)."""

    merge: PersonMerge
    survivor: Person
    absorbed: Person
    actor: Actor
    now: dt.datetime
    handler: str = "people"
    counts: dict[str, int] = field(default_factory=dict)
    _seq: list[int] = field(default_factory=lambda: [0])
    _pending: list[PersonMergeMove] = field(default_factory=list)

    def record(
        self,
        kind: str,
        model_label: str,
        row_id: int,
        *,
        field: str = "",
        from_person: int | None = None,
        to_person: int | None = None,
        before: Any = None,
        after: Any = None,
    ) -> None:
        self._seq[0] += 1
        self.counts[model_label] = self.counts.get(model_label, 0) + 1
        self._pending.append(
            PersonMergeMove(
                merge=self.merge,
                seq=self._seq[0],
                handler=self.handler,
                kind=kind,
                model_label=model_label,
                row_id=row_id,
                field=field,
                from_person_id=from_person,
                to_person_id=to_person,
                before=before,
                after=after,
            )
        )

    def flush(self) -> None:
        PersonMergeMove.objects.bulk_create(self._pending, batch_size=500)
        self._pending.clear()


@dataclass
class UnmergeContext:
    """What a handler gets when a merge is undone: its own moves, newest first."""

    merge: PersonMerge
    actor: Actor
    now: dt.datetime
    moves: list[PersonMergeMove]
    skipped: list[str] = field(default_factory=list)
    _restored: list[int] = field(default_factory=list)

    def restored(self, move: PersonMergeMove) -> None:
        move.restored_at = self.now
        self._restored.append(move.pk)

    def skip(self, move: PersonMergeMove, note: str) -> None:
        """Leave a moved thing where it is, with the reason (shown in the merge history)."""
        move.note = note[:200]
        move.save(update_fields=["note"])
        self.skipped.append(f"{move.model_label}:{move.row_id} {note}")

    def flush(self) -> None:
        for start in range(0, len(self._restored), 500):
            ids = self._restored[start : start + 500]
            PersonMergeMove.objects.filter(pk__in=ids).update(restored_at=self.now)
        self._restored.clear()


MergeHook = Callable[[MergeContext], None]
UnmergeHook = Callable[[UnmergeContext], None]
DescribeHook = Callable[[Person, Person], list[str]]


@dataclass(frozen=True)
class MergeHandler:
    name: str
    on_merge: MergeHook
    on_unmerge: UnmergeHook
    describe: DescribeHook | None = None


_HANDLERS: dict[str, MergeHandler] = {}


def register_merge_handler(
    name: str, on_merge: MergeHook, on_unmerge: UnmergeHook, *, describe: DescribeHook | None = None
) -> None:
    """Plug a capability's moves into every merge. Registering a name again replaces it."""
    if name == "people":
        raise ValueError("'people' is the core's own handler")
    _HANDLERS[name] = MergeHandler(name, on_merge, on_unmerge, describe)


def merge_handlers() -> list[MergeHandler]:
    """People's own moves first, then the registered handlers, then the identity app's hooks."""
    handlers = [MergeHandler("people", _people_on_merge, _people_on_unmerge, _people_describe)]
    handlers.extend(_HANDLERS.values())
    identity = _identity_hooks()
    if identity is not None and "identity" not in _HANDLERS:
        handlers.append(identity)
    return handlers


def _identity_hooks() -> MergeHandler | None:
    """The identity app's `identity_on_merge(merge)` / `identity_on_unmerge(merge)`, when it has them.

    Looked up by name at run time, not imported: people must not depend on a capability.
    """
    if not apps.is_installed("hufen.identity"):
        return None
    try:
        module = importlib.import_module("hufen.identity.services")
    except ModuleNotFoundError:
        return None
    on_merge = getattr(module, "identity_on_merge", None)
    on_unmerge = getattr(module, "identity_on_unmerge", None)
    if not callable(on_merge) or not callable(on_unmerge):
        return None
    return MergeHandler(
        "identity",
        lambda ctx: on_merge(ctx.merge),
        lambda ctx: on_unmerge(ctx.merge),
    )


# --- resolving ids --------------------------------------------------------------------------------


def person_resolve_id(person_id: int) -> int:
    """The live person an id stands for: follows `merged_into` until a person that is not merged."""
    seen: set[int] = set()
    current = person_id
    while current not in seen:
        seen.add(current)
        target = Person.objects.filter(pk=current, status="merged").values_list("merged_into_id", flat=True).first()
        if target is None:
            return current
        current = target
    raise AssertionError(f"merge cycle through persons {sorted(seen)}")


def person_redirects() -> dict[int, int]:
    """absorbed id → live survivor id, for every live merge (chains resolved to their end).

    For readers of data that keeps the original person id, e.g. the event lake: map each event's
    person_id through this to count a merged human once.
    """
    direct = dict(PersonMerge.objects.filter(unmerged_at__isnull=True).values_list("absorbed_id", "survivor_id"))
    resolved: dict[int, int] = {}
    for absorbed in direct:
        target = direct[absorbed]
        hops = 0
        while target in direct and hops <= len(direct):
            target = direct[target]
            hops += 1
        resolved[absorbed] = target
    return resolved


# --- merge ----------------------------------------------------------------------------------------


def _require_merge_permission(actor: Actor) -> None:
    if not actor.has_perm("persons.merge"):
        raise PermissionDenied(f"{actor.label} may not merge persons")


def _lock_persons(*ids: int) -> dict[int, Person]:
    """Lock the rows one by one in id order, so two merges of the same pair cannot deadlock."""
    locked: dict[int, Person] = {}
    for pk in sorted(set(ids)):
        person = Person.objects.select_for_update().filter(pk=pk).first()
        if person is None:
            raise NotFound(f"person {pk} does not exist")
        locked[pk] = person
    return locked


def merge_problem(survivor: Person, absorbed: Person) -> str | None:
    """Why these two cannot be merged now, or None. Read from the rows given (lock them first)."""
    if survivor.pk == absorbed.pk:
        return f"person {survivor.pk} cannot be merged with itself"
    if survivor.status == "merged":
        return (
            f"person {survivor.pk} was itself merged into person {survivor.merged_into_id}: "
            "merge into that person instead"
        )
    if absorbed.status == "merged":
        return f"person {absorbed.pk} is already merged into person {absorbed.merged_into_id}"
    return None


def _clean_reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if "\x00" in reason:
        raise FieldError("reason", "contains a NUL character")
    if len(reason) > MAX_REASON:
        raise FieldError("reason", f"is longer than {MAX_REASON} characters")
    return reason


MAX_EVIDENCE = 8_000  # characters of JSON: scores and matched fields, not documents


def _check_evidence(evidence: object) -> None:
    if evidence is None:
        return
    if not isinstance(evidence, dict):
        raise FieldError("evidence", "must be an object")
    try:
        text = json.dumps(evidence, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise FieldError("evidence", f"is not plain JSON: {exc}") from exc
    if len(text) > MAX_EVIDENCE:
        raise FieldError("evidence", f"is longer than {MAX_EVIDENCE} characters of JSON")
    if _has_nul(evidence):
        raise FieldError("evidence", "contains a NUL character")


def _has_nul(value: object) -> bool:
    """PostgreSQL's jsonb refuses NUL characters: find them before the database does."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


@transaction.atomic
def person_merge(
    *, actor: Actor, survivor: Person, absorbed: Person, reason: str, evidence: dict[str, Any] | None = None
) -> PersonMerge:
    """Merge `absorbed` into `survivor`. The survivor keeps its id and its values; blanks are filled."""
    _require_merge_permission(actor)
    reason = _clean_reason(reason)
    if not reason:
        raise FieldError("reason", "is empty: say why these are the same person")
    _check_evidence(evidence)
    if survivor.pk == absorbed.pk:
        raise FieldError("absorbed", f"person {survivor.pk} cannot be merged with itself")
    visible = set(
        Person.objects.visible_to(actor).filter(pk__in=[survivor.pk, absorbed.pk]).values_list("pk", flat=True)
    )
    if visible != {survivor.pk, absorbed.pk}:
        raise NotFound("a person to merge does not exist or is outside your data scope")
    locked = _lock_persons(survivor.pk, absorbed.pk)
    survivor, absorbed = locked[survivor.pk], locked[absorbed.pk]
    problem = merge_problem(survivor, absorbed)
    if problem:
        raise FieldError("absorbed" if absorbed.status == "merged" else "survivor", problem)
    now = timezone.now()
    merge = PersonMerge.objects.create(
        survivor=survivor,
        absorbed=absorbed,
        actor_label=actor.label[:150],
        reason=reason,
        evidence=evidence or {},
        merged_at=now,
    )
    ctx = MergeContext(merge=merge, survivor=survivor, absorbed=absorbed, actor=actor, now=now)
    for handler in merge_handlers():
        ctx.handler = handler.name
        handler.on_merge(ctx)
        ctx.flush()
    audit(
        actor=actor,
        action="person.merge",
        obj_type="person",
        obj_id=survivor.pk,
        summary={"merge_id": merge.pk, "absorbed_id": absorbed.pk, "moved": ctx.counts},
        reason=reason,
    )
    audit(
        actor=actor,
        action="person.merged_into",
        obj_type="person",
        obj_id=absorbed.pk,
        summary={"merge_id": merge.pk, "survivor_id": survivor.pk},
        reason=reason,
    )
    publish(
        "person_merged",
        person_id=survivor.pk,
        properties={"merge_id": merge.pk, "absorbed_id": absorbed.pk, "moved": ctx.counts},
    )
    return merge


def _person_value(person: Person, name: str) -> Any:
    value = getattr(person, name)
    return value.isoformat() if isinstance(value, dt.date) else value


def _is_blank(person: Person, names: tuple[str, ...]) -> bool:
    return all(getattr(person, n) in (None, "", BLANK.get(n, "")) for n in names)


def _people_on_merge(ctx: MergeContext) -> None:
    survivor, absorbed = ctx.survivor, ctx.absorbed
    s, a = survivor.pk, absorbed.pk
    filled: list[str] = []
    for group in (*FILL_GROUPS, ("gender",)):
        if _is_blank(survivor, group) and not _is_blank(absorbed, group):
            for name in group:
                before, after = _person_value(survivor, name), _person_value(absorbed, name)
                setattr(survivor, name, getattr(absorbed, name))
                ctx.record("fill", PERSON_LABEL, s, field=name, from_person=a, to_person=s, before=before, after=after)
                filled.append(name)
    # Household: the survivor joins the absorbed's household only when it has none; either way the
    # absorbed leaves it, so that a household does not list a merged person.
    if absorbed.household_id is not None:
        if survivor.household_id is None:
            for name in ("household_id", "household_role"):
                before, after = getattr(survivor, name), getattr(absorbed, name)
                setattr(survivor, name, after)
                ctx.record("fill", PERSON_LABEL, s, field=name, from_person=a, to_person=s, before=before, after=after)
                filled.append(name)
        ctx.record(
            "detach",
            PERSON_LABEL,
            a,
            field="household_id",
            from_person=a,
            before={"household_id": absorbed.household_id, "household_role": absorbed.household_role},
            after={"household_id": None, "household_role": ""},
        )
        absorbed.household_id, absorbed.household_role = None, ""
    if filled:
        survivor.save(update_fields=[*filled, "updated_at"])
    _move_contacts(ctx)
    for model, label in ((Ownership, "people.ownership"), (ServiceVisit, "people.servicevisit")):
        for pk in model.objects.filter(person_id=a).order_by("id").values_list("id", flat=True):
            ctx.record("reassign", label, pk, field="person", from_person=a, to_person=s)
        model.objects.filter(person_id=a).update(person_id=s)
    _move_assignments(ctx)
    ctx.record(
        "status",
        PERSON_LABEL,
        a,
        field="status",
        from_person=a,
        to_person=s,
        before={"status": absorbed.status, "merged_into_id": absorbed.merged_into_id},
        after={"status": "merged", "merged_into_id": s},
    )
    absorbed.status, absorbed.merged_into = "merged", survivor
    absorbed.save(update_fields=["status", "merged_into", "household", "household_role", "updated_at"])


def _move_contacts(ctx: MergeContext) -> None:
    """Contacts move unless the survivor already has the same value (the duplicate stays behind);
    a moved primary stays primary only if the survivor has no primary of that kind."""
    s, a = ctx.survivor.pk, ctx.absorbed.pk
    have = set(ContactPoint.objects.filter(person_id=s).values_list("kind", "value"))
    primary_kinds = set(ContactPoint.objects.filter(person_id=s, is_primary=True).values_list("kind", flat=True))
    for contact in ContactPoint.objects.filter(person_id=a).order_by("id"):
        if (contact.kind, contact.value) in have:
            continue
        keep_primary = contact.is_primary and contact.kind not in primary_kinds
        ctx.record(
            "reassign",
            "people.contactpoint",
            contact.pk,
            field="person",
            from_person=a,
            to_person=s,
            before={"is_primary": contact.is_primary},
            after={"is_primary": keep_primary},
        )
        ContactPoint.objects.filter(pk=contact.pk).update(person_id=s, is_primary=keep_primary)
        if keep_primary:
            primary_kinds.add(contact.kind)


def _move_assignments(ctx: MergeContext) -> None:
    """Butler history moves; only one assignment may be open: the survivor's wins, the absorbed's ends."""
    s, a = ctx.survivor.pk, ctx.absorbed.pk
    survivor_open = ButlerAssignment.objects.filter(person_id=s, ended_at__isnull=True).exists()
    for assignment in ButlerAssignment.objects.filter(person_id=a).order_by("id"):
        if assignment.ended_at is None and survivor_open:
            note = f"merged into person {s}"
            ctx.record(
                "end",
                "people.butlerassignment",
                assignment.pk,
                field="ended_at",
                from_person=a,
                before={"ended_at": None, "reason": assignment.reason},
                after={"ended_at": ctx.now.isoformat(), "reason": note},
            )
            ButlerAssignment.objects.filter(pk=assignment.pk).update(ended_at=ctx.now, reason=note)
        ctx.record("reassign", "people.butlerassignment", assignment.pk, field="person", from_person=a, to_person=s)
        ButlerAssignment.objects.filter(pk=assignment.pk).update(person_id=s)


def _people_describe(survivor: Person, absorbed: Person) -> list[str]:
    from django.utils.translation import gettext as _

    a = absorbed.pk
    lines = [
        _("%(n)d vehicle ownerships") % {"n": Ownership.objects.filter(person_id=a).count()},
        _("%(n)d service visits") % {"n": ServiceVisit.objects.filter(person_id=a).count()},
        _("%(n)d butler assignments") % {"n": ButlerAssignment.objects.filter(person_id=a).count()},
        _("%(n)d contacts") % {"n": ContactPoint.objects.filter(person_id=a).count()},
    ]
    filled = [g[0] for g in (*FILL_GROUPS, ("gender",)) if _is_blank(survivor, g) and not _is_blank(absorbed, g)]
    if filled:
        lines.append(_("blank fields filled: %(fields)s") % {"fields": ", ".join(filled)})
    return lines


# --- unmerge --------------------------------------------------------------------------------------


def unmerge_problem(merge: PersonMerge, survivor: Person) -> str | None:
    if merge.unmerged_at is not None:
        return f"merge {merge.pk} was already undone at {merge.unmerged_at.isoformat()}"
    if survivor.status == "merged":
        later = PersonMerge.objects.filter(absorbed_id=survivor.pk, unmerged_at__isnull=True).first()
        return (
            f"person {survivor.pk} was merged into person {survivor.merged_into_id} after this merge: "
            f"undo merge {later.pk if later else '?'} first"
        )
    return None


@transaction.atomic
def person_unmerge(*, actor: Actor, merge: PersonMerge, reason: str = "") -> Person:
    """Undo a merge: put back every recorded move and return the restored absorbed person."""
    _require_merge_permission(actor)
    locked = _lock_persons(merge.survivor_id, merge.absorbed_id)
    merge = PersonMerge.objects.select_for_update().get(pk=merge.pk)
    survivor, absorbed = locked[merge.survivor_id], locked[merge.absorbed_id]
    reason = _clean_reason(reason)
    problem = unmerge_problem(merge, survivor)
    if problem:
        raise FieldError("merge", problem)
    now = timezone.now()
    moves = list(merge.moves.order_by("-seq"))
    skipped: list[str] = []
    for handler in reversed(merge_handlers()):
        ctx = UnmergeContext(merge=merge, actor=actor, now=now, moves=[m for m in moves if m.handler == handler.name])
        handler.on_unmerge(ctx)
        ctx.flush()
        skipped.extend(ctx.skipped)
    merge.unmerged_at = now
    merge.unmerged_by = actor.label[:150]
    merge.unmerge_reason = reason
    merge.save(update_fields=["unmerged_at", "unmerged_by", "unmerge_reason"])
    absorbed.refresh_from_db()
    summary = {"merge_id": merge.pk, "absorbed_id": absorbed.pk, "skipped": skipped}
    audit(actor=actor, action="person.unmerge", obj_type="person", obj_id=survivor.pk, summary=summary, reason=reason)
    audit(
        actor=actor,
        action="person.restored",
        obj_type="person",
        obj_id=absorbed.pk,
        summary={"merge_id": merge.pk, "survivor_id": survivor.pk},
        reason=reason,
    )
    publish(
        "person_unmerged",
        person_id=absorbed.pk,
        properties={"merge_id": merge.pk, "survivor_id": survivor.pk, "skipped": len(skipped)},
    )
    return absorbed


_ROW_MODELS: dict[str, type[models.Model]] = {
    "people.contactpoint": ContactPoint,
    "people.ownership": Ownership,
    "people.servicevisit": ServiceVisit,
    "people.butlerassignment": ButlerAssignment,
}


def _people_on_unmerge(ctx: UnmergeContext) -> None:
    # Rows first (in bulk, per model), so that an ended butler assignment is back on its person
    # before it is reopened; then the person's own fields and the ended rows, newest first.
    by_model: dict[str, list[PersonMergeMove]] = {}
    for move in ctx.moves:
        if move.kind == "reassign" and move.model_label != PERSON_LABEL:
            by_model.setdefault(move.model_label, []).append(move)
    for label, moves in by_model.items():
        _undo_reassigns(ctx, label, moves)
    for move in ctx.moves:
        if move.model_label == PERSON_LABEL:
            _undo_person_move(ctx, move)
        elif move.kind == "end":
            _undo_end(ctx, move)
        elif move.kind != "reassign":
            raise AssertionError(f"unknown people move {move.kind} on {move.model_label}")


def _values(data: Any) -> dict[str, Any]:
    """A move's `before`/`after` when it holds several values (JSON object)."""
    if not isinstance(data, dict):
        raise AssertionError(f"expected a JSON object, got {data!r}")
    return data


def _undo_person_move(ctx: UnmergeContext, move: PersonMergeMove) -> None:
    person = Person.objects.get(pk=move.row_id)
    if move.kind == "status":
        before = _values(move.before)
        person.status = before["status"]
        person.merged_into_id = before["merged_into_id"]
        person.save(update_fields=["status", "merged_into", "updated_at"])
    elif move.kind == "detach":
        before = _values(move.before)
        person.household_id = before["household_id"]
        person.household_role = before["household_role"]
        person.save(update_fields=["household", "household_role", "updated_at"])
    elif move.kind == "fill":
        name = move.field
        if _person_value(person, name) != move.after:
            ctx.skip(move, f"{name} was changed after the merge: kept")
            return
        value: Any = move.before
        if name == "birth_date" and value:
            value = dt.date.fromisoformat(value)
        setattr(person, name, value)
        person.save(update_fields=[name.removesuffix("_id") if name == "household_id" else name, "updated_at"])
    else:
        raise AssertionError(f"unknown person move {move.kind}")
    ctx.restored(move)


def _undo_reassigns(ctx: UnmergeContext, label: str, moves: list[PersonMergeMove]) -> None:
    """Move rows back to the person they came from, if they are still where the merge put them."""
    manager = _ROW_MODELS[label]._default_manager
    current: dict[int, int] = {}
    ids = [m.row_id for m in moves]
    for start in range(0, len(ids), 500):
        current.update(manager.filter(pk__in=ids[start : start + 500]).values_list("pk", "person_id"))
    groups: dict[tuple[int | None, bool | None], list[int]] = {}
    for move in moves:
        person_id = current.get(move.row_id)
        if person_id is None:
            ctx.skip(move, "no longer exists")
            continue
        if person_id != move.to_person_id:
            ctx.skip(move, f"now belongs to person {person_id}: left there")
            continue
        primary = bool(_values(move.before).get("is_primary")) if label == "people.contactpoint" else None
        groups.setdefault((move.from_person_id, primary), []).append(move.row_id)
        ctx.restored(move)
    for (person_id, primary), row_ids in groups.items():
        changes: dict[str, Any] = {"person_id": person_id}
        if primary is not None:
            changes["is_primary"] = primary
        for start in range(0, len(row_ids), 500):
            manager.filter(pk__in=row_ids[start : start + 500]).update(**changes)


def _undo_end(ctx: UnmergeContext, move: PersonMergeMove) -> None:
    assignment = ButlerAssignment.objects.get(pk=move.row_id)
    if assignment.ended_at is None or assignment.ended_at.isoformat() != _values(move.after)["ended_at"]:
        ctx.skip(move, "was changed after the merge: kept")
        return
    if ButlerAssignment.objects.filter(person_id=assignment.person_id, ended_at__isnull=True).exists():
        ctx.skip(move, "the person has another open butler assignment now: kept ended")
        return
    ButlerAssignment.objects.filter(pk=assignment.pk).update(ended_at=None, reason=_values(move.before)["reason"])
    ctx.restored(move)


# --- reads for the console and the API ------------------------------------------------------------


@dataclass(frozen=True)
class MergePreview:
    survivor: Person
    absorbed: Person
    problem: str | None
    moves: list[str]
    new_dealer_names: list[str]


def merge_preview(*, actor: Actor, survivor_id: int, absorbed_id: int) -> MergePreview:
    """What a merge would do, for the confirmation page. Nothing is written."""
    _require_merge_permission(actor)
    persons = {p.pk: p for p in Person.objects.visible_to(actor).filter(pk__in=[survivor_id, absorbed_id])}
    if survivor_id not in persons or absorbed_id not in persons:
        raise NotFound("a person to merge does not exist or is outside your data scope")
    survivor, absorbed = persons[survivor_id], persons[absorbed_id]
    problem = merge_problem(survivor, absorbed)
    moves: list[str] = []
    if problem is None:
        for handler in merge_handlers():
            if handler.describe is not None:
                moves.extend(handler.describe(survivor, absorbed))
    return MergePreview(survivor, absorbed, problem, moves, _dealers_gained(survivor, absorbed))


def _dealers_gained(survivor: Person, absorbed: Person) -> list[str]:
    """Dealers whose staff will see the survivor after the merge but cannot now (scope moves with facts)."""
    Dealer = apps.get_model("org", "Dealer")

    def dealer_ids(person_id: int) -> set[int]:
        ids = set(
            Ownership.objects.filter(person_id=person_id, dealer__isnull=False).values_list("dealer_id", flat=True)
        )
        ids |= set(ServiceVisit.objects.filter(person_id=person_id).values_list("dealer_id", flat=True))
        ids |= set(
            ButlerAssignment.objects.filter(person_id=person_id, ended_at__isnull=True).values_list(
                "grid__dealer_id", flat=True
            )
        )
        return ids

    gained = dealer_ids(absorbed.pk) - dealer_ids(survivor.pk)
    return [f"{d.code} {d.name}" for d in Dealer.objects.filter(pk__in=gained).order_by("code")]


def person_merges(*, actor: Actor, person_id: int) -> list[PersonMerge]:
    """Merges this person took part in (either side), newest first, for the merge history."""
    if not actor.has_perm("persons.merge"):
        return []
    qs = PersonMerge.objects.filter(models.Q(survivor_id=person_id) | models.Q(absorbed_id=person_id))
    return list(qs.select_related("survivor", "absorbed").prefetch_related("moves").order_by("-merged_at", "-id"))


def merge_get(*, actor: Actor, merge_id: int) -> PersonMerge:
    _require_merge_permission(actor)
    merge = PersonMerge.objects.select_related("survivor", "absorbed").filter(pk=merge_id).first()
    if merge is None or not Person.objects.visible_to(actor).filter(pk=merge.survivor_id).exists():
        raise NotFound(f"merge {merge_id} does not exist")
    return merge


def merge_label(person: Person) -> str:
    return f"#{person.pk} {mask_name(person.name)}"

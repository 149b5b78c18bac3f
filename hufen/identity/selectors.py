"""ONE ID reads: the review queue and a person's source records, masked and scoped to the actor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q

from hufen.common.actors import Actor
from hufen.common.errors import NotFound
from hufen.common.pii import FieldError, mask_address, mask_email, mask_name, mask_phone
from hufen.identity.models import RecordMove, ReviewPair, SourceRecord
from hufen.identity.services import require_review
from hufen.people.models import Person


def _mask_identifier(value: str | None) -> str:
    if not value:
        return ""
    return value[:3] + "****" + value[-2:] if len(value) > 6 else "****"


@dataclass(frozen=True)
class RecordView:
    """One source record as a reviewer may see it: every personal field masked."""

    id: int
    person_id: int
    source: str
    source_key: str
    received_at: Any
    decision: str
    name: str
    phone: str
    email: str
    id_number: str
    birth_year: str
    gender: str
    place: str
    address: str
    wechat: str
    vin: str

    @staticmethod
    def of(record: SourceRecord) -> RecordView:
        raw, row = record.raw, record.normalized
        dob = row.get("d_birth_date") or ""
        place = " ".join(p for p in (row.get("c_province"), row.get("c_city"), row.get("c_district")) if p)
        return RecordView(
            id=record.pk,
            person_id=record.person_id,
            source=record.source,
            source_key=record.source_key,
            received_at=record.received_at,
            decision=record.decision,
            name=mask_name(raw.get("name")),
            phone=mask_phone(row.get("s_phone")) if (row.get("s_phone") or "").startswith("+86") else "",
            email=mask_email(row.get("s_email")),
            id_number=raw.get("id_number_hint", ""),
            birth_year=dob[:4],
            gender=row.get("gender") or "",
            place=place,
            address=mask_address(raw.get("address")),
            wechat=_mask_identifier(row.get("s_wechat_unionid") or row.get("s_wechat_openid")),
            vin=row.get("s_vin") or "",
        )


@dataclass(frozen=True)
class PairView:
    id: int
    probability: float
    match_weight: float
    evidence: list[tuple[str, dict[str, Any]]]
    left: RecordView
    right: RecordView
    status: str


# Score bands of the queue filter: [low, high) match probability.
BANDS: dict[str, tuple[float, float]] = {"high": (0.9, 1.01), "medium": (0.7, 0.9), "low": (0.0, 0.7)}
PAGE_SIZE = 20


@dataclass(frozen=True)
class ReviewPage:
    """One page of the queue and the keyset cursors around it ("" at either end)."""

    pairs: list[PairView]
    next_cursor: str
    previous_cursor: str


def _cursor_of(pair: ReviewPair) -> str:
    return f"{pair.probability!r}~{pair.pk}"


def parse_cursor(cursor: str, name: str) -> tuple[float, int]:
    """A cursor is "<probability>~<pair id>": the last (or first) pair of the page seen."""
    probability, sep, pk = cursor.partition("~")
    try:
        if not sep:
            raise ValueError(cursor)
        value, number = float(probability), int(pk)
    except ValueError:
        raise FieldError(name, f"{cursor[:40]!r} is not a queue position (probability~id)") from None
    if not 0.0 <= value <= 1.0 or number < 1:
        raise FieldError(name, f"{cursor[:40]!r} is out of range")
    return value, number


def review_queue(
    *,
    actor: Actor,
    status: str = "open",
    source: str = "",
    band: str = "",
    after: str = "",
    before: str = "",
    limit: int = PAGE_SIZE,
) -> ReviewPage:
    """Gray-zone pairs, most likely first, one page at a time (keyset on probability, id: a page
    costs the same at the end of a long queue as at its start); only pairs whose both persons the
    actor may see. `source` keeps pairs with a record from that source, `band` a probability band;
    `after` / `before` are the cursors of the neighbouring pages."""
    require_review(actor)
    if band and band not in BANDS:
        raise FieldError("band", f"{band[:20]!r} is not one of {', '.join(BANDS)}")
    if after and before:
        raise FieldError("before", "give after or before, not both")
    visible = Person.objects.visible_to(actor)
    pairs = ReviewPair.objects.filter(status=status).filter(
        Exists(visible.filter(pk=OuterRef("record_a__person_id"))),
        Exists(visible.filter(pk=OuterRef("record_b__person_id"))),
    )
    if source:
        pairs = pairs.filter(Q(record_a__source=source) | Q(record_b__source=source))
    if band:
        low, high = BANDS[band]
        pairs = pairs.filter(probability__gte=low, probability__lt=high)
    if after:
        p, pk = parse_cursor(after, "after")
        pairs = pairs.filter(Q(probability__lt=p) | Q(probability=p, pk__gt=pk))
    if before:
        p, pk = parse_cursor(before, "before")
        pairs = pairs.filter(Q(probability__gt=p) | Q(probability=p, pk__lt=pk))
    ordering = ("probability", "-id") if before else ("-probability", "id")
    rows = list(pairs.select_related("record_a", "record_b").order_by(*ordering)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    if before:
        rows.reverse()
    views = [
        PairView(
            id=p.pk,
            probability=p.probability,
            match_weight=p.match_weight,
            evidence=sorted(p.evidence.items(), key=lambda kv: -(kv[1].get("match_weight") or 0)),
            left=RecordView.of(p.record_a),
            right=RecordView.of(p.record_b),
            status=p.status,
        )
        for p in rows
    ]
    if not rows:
        return ReviewPage(views, "", "")
    # Going forward there is a previous page exactly when we came from one; going back, the same.
    has_next = more if not before else True
    has_previous = bool(after) or (more if before else False)
    return ReviewPage(
        views,
        _cursor_of(rows[-1]) if has_next else "",
        _cursor_of(rows[0]) if has_previous else "",
    )


def review_sources(*, actor: Actor, status: str = "open") -> list[str]:
    """The sources of the records waiting in the queue (the source filter's choices)."""
    require_review(actor)
    pairs = ReviewPair.objects.filter(status=status).order_by()
    either = pairs.values_list("record_a__source", flat=True).union(pairs.values_list("record_b__source", flat=True))
    return sorted(either)


def review_open_count(*, actor: Actor) -> int:
    require_review(actor)
    return ReviewPair.objects.filter(status="open").count()


def person_source_records(*, actor: Actor, person_id: int, limit: int = 100) -> list[RecordView]:
    """The records behind a person (person 360); none for a person outside the actor's scope."""
    # One query: the scope is a condition on the same statement (nothing for a person out of scope).
    records = SourceRecord.objects.filter(person_id=person_id, person__in=Person.objects.visible_to(actor))
    return [RecordView.of(r) for r in records.order_by("-received_at", "-id")[:limit]]


@dataclass(frozen=True)
class MoveView:
    """One move of a source record by a person merge, and what its unmerge did."""

    merge_id: int
    record_id: int
    source: str
    source_key: str
    from_person_id: int
    to_person_id: int
    moved_at: Any
    restored_at: Any
    note: str


def person_record_moves(*, actor: Actor, person_id: int, limit: int = 100) -> list[MoveView]:
    """The lineage of a person's records: every merge that moved a record onto or off this person,
    newest first, including the ones an unmerge has undone. Nothing for a person out of scope."""
    if not Person.objects.visible_to(actor).filter(pk=person_id).exists():
        return []
    moves = (
        RecordMove.objects.filter(Q(from_person_id=person_id) | Q(to_person_id=person_id))
        .select_related("record")
        .order_by("-id")[:limit]
    )
    return [
        MoveView(
            merge_id=m.merge_id,
            record_id=m.record_id,
            source=m.record.source,
            source_key=m.record.source_key,
            from_person_id=m.from_person_id,
            to_person_id=m.to_person_id,
            moved_at=m.moved_at,
            restored_at=m.restored_at,
            note=m.note,
        )
        for m in moves
    ]


@dataclass(frozen=True)
class LineageMove:
    """One source record a merge moved onto or off a person, for the person 360 page: who merged,
    when and why (the merge's audit), and whether an unmerge took it back."""

    merge_id: int
    record: RecordView
    incoming: bool  # moved onto this person (from an absorbed one); False: moved off it
    from_person_id: int
    from_name: str  # masked; "" for a person outside the actor's scope
    to_person_id: int
    to_name: str
    moved_at: Any
    merged_by: str
    reason: str
    restored_at: Any  # the unmerge moved the record back
    unmerged_by: str
    note: str  # why the unmerge left the record where it was


@dataclass(frozen=True)
class Redirect:
    """A person merged (directly or through a chain) into this one: its ID leads here."""

    person_id: int
    merge_id: int
    merged_at: Any


@dataclass(frozen=True)
class PersonLineage:
    moves: list[LineageMove]
    redirects: list[Redirect]


MAX_REDIRECT_DEPTH = 20


def person_lineage(*, actor: Actor, person_id: int, limit: int = 100) -> PersonLineage:
    """The merge lineage of a person's source records (person 360), newest first, and the absorbed
    person IDs that redirect to it. A move is listed only if the actor may see its record (the
    record's person today): after an unmerge, a dealer seeing the survivor does not see the records
    that went back to a person outside its scope. NotFound for a person outside the scope."""
    from hufen.people.models import PersonMerge

    visible = Person.objects.visible_to(actor)
    if not visible.filter(pk=person_id).exists():
        raise NotFound(f"person {person_id} does not exist")
    moves = list(
        RecordMove.objects.filter(Q(from_person_id=person_id) | Q(to_person_id=person_id))
        .filter(Exists(visible.filter(pk=OuterRef("record__person_id"))))
        .select_related("record", "from_person", "to_person")
        .order_by("-moved_at", "-id")[:limit]
    )
    merges = PersonMerge.objects.in_bulk({m.merge_id for m in moves})
    others = {m.from_person_id for m in moves} | {m.to_person_id for m in moves}
    named = set(visible.filter(pk__in=others).values_list("pk", flat=True)) if moves else set()
    rows = []
    for move in moves:
        merge = merges.get(move.merge_id)
        rows.append(
            LineageMove(
                merge_id=move.merge_id,
                record=RecordView.of(move.record),
                incoming=move.to_person_id == person_id,
                from_person_id=move.from_person_id,
                from_name=mask_name(move.from_person.name) if move.from_person_id in named else "",
                to_person_id=move.to_person_id,
                to_name=mask_name(move.to_person.name) if move.to_person_id in named else "",
                moved_at=move.moved_at,
                merged_by=merge.actor_label if merge else "",
                reason=merge.reason if merge else "",
                restored_at=move.restored_at,
                unmerged_by=merge.unmerged_by if merge and move.restored_at else "",
                note=move.note,
            )
        )
    return PersonLineage(rows, _redirects(person_id))


def _redirects(person_id: int) -> list[Redirect]:
    """Persons absorbed by live merges into this one, and into those (a chain), one query a level."""
    from hufen.people.models import PersonMerge

    found: list[Redirect] = []
    level, seen = [person_id], {person_id}
    for _ in range(MAX_REDIRECT_DEPTH):
        merges = list(
            PersonMerge.objects.filter(survivor_id__in=level, unmerged_at__isnull=True)
            .exclude(absorbed_id__in=seen)
            .order_by("-merged_at", "-id")
        )
        if not merges:
            break
        found += [Redirect(m.absorbed_id, m.pk, m.merged_at) for m in merges]
        level = [m.absorbed_id for m in merges]
        seen.update(level)
    return found

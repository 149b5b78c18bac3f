"""ONE ID reads: the review queue and a person's source records, masked and scoped to the actor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef

from hufen.common.actors import Actor
from hufen.common.pii import mask_address, mask_email, mask_name, mask_phone
from hufen.identity.models import ReviewPair, SourceRecord
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


def review_queue(*, actor: Actor, status: str = "open", limit: int = 50) -> list[PairView]:
    """Gray-zone pairs, most likely first; only pairs whose both persons the actor may see."""
    require_review(actor)
    visible = Person.objects.visible_to(actor)
    pairs = (
        ReviewPair.objects.filter(status=status)
        .filter(
            Exists(visible.filter(pk=OuterRef("record_a__person_id"))),
            Exists(visible.filter(pk=OuterRef("record_b__person_id"))),
        )
        .select_related("record_a", "record_b")
        .order_by("-probability", "id")[:limit]
    )
    return [
        PairView(
            id=p.pk,
            probability=p.probability,
            match_weight=p.match_weight,
            evidence=sorted(p.evidence.items(), key=lambda kv: -(kv[1].get("match_weight") or 0)),
            left=RecordView.of(p.record_a),
            right=RecordView.of(p.record_b),
            status=p.status,
        )
        for p in pairs
    ]


def review_open_count(*, actor: Actor) -> int:
    require_review(actor)
    return ReviewPair.objects.filter(status="open").count()


def person_source_records(*, actor: Actor, person_id: int, limit: int = 100) -> list[RecordView]:
    """The records behind a person (person 360); none for a person outside the actor's scope."""
    # One query: the scope is a condition on the same statement (nothing for a person out of scope).
    records = SourceRecord.objects.filter(person_id=person_id, person__in=Person.objects.visible_to(actor))
    return [RecordView.of(r) for r in records.order_by("-received_at", "-id")[:limit]]

"""`POST /api/v1/identity/records`: link one record or a batch (up to 500) as they arrive.

Each record is linked in its own transaction: a bad record gets an error in its slot of the
response and the valid ones still link (status 200 when every record linked, 207 when some did not).
Retries are safe without a header: (source, source_key) is the natural idempotency key, and an
unchanged resend returns the stored result with `replayed: true`.

A dealer-scoped integration links records as its dealer: it cannot touch a record another dealer
(or HQ) sent under the same source and key. The response carries the person id, the decision and
its explanation (levels and weights per field, never the values).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from hufen.api.auth import actor_of
from hufen.api.errors import with_errors
from hufen.identity.services import MAX_BATCH, LinkResult, RecordInput, identity_link, require_link

router = Router(tags=["identity"])


class RecordFields(Schema):
    name: str | None = Field(None, max_length=200, examples=["王小伟"])
    phone: str | None = Field(None, max_length=200, examples=["138-1234-5678"])
    email: str | None = Field(None, max_length=200)
    id_number: str | None = Field(None, max_length=200, description="Stored only as a keyed hash and a masked hint.")
    birth_date: str | None = Field(None, max_length=200, examples=["1988年3月2日"])
    gender: str | None = Field(None, max_length=200, examples=["男"])
    province: str | None = Field(None, max_length=200)
    city: str | None = Field(None, max_length=200)
    district: str | None = Field(None, max_length=200)
    address: str | None = Field(None, max_length=200)
    wechat_unionid: str | None = Field(None, max_length=200)
    wechat_openid: str | None = Field(None, max_length=200)
    app_user_id: str | None = Field(None, max_length=200)
    vin: str | None = Field(None, max_length=200)


class RecordIn(Schema):
    source: str = Field(..., max_length=40, examples=["dms"])
    source_key: str = Field(..., max_length=120, examples=["A1-2025-000123"])
    received_at: dt.datetime | None = None
    fields: RecordFields


class RecordsIn(Schema):
    records: list[RecordIn] = Field(..., min_length=1, max_length=MAX_BATCH)


class RecordError(Schema):
    code: str
    field: str
    reason: str


class LinkOut(Schema):
    source: str
    source_key: str
    ok: bool
    person_id: int | None = None
    decision: str | None = Field(
        default=None, description="linked, new, review (new person + review queue) or constraint"
    )
    score: float | None = Field(
        default=None, description="Match probability of the deciding link (1.0 for identifiers)"
    )
    explanation: dict[str, Any] | None = None
    created: bool = False
    replayed: bool = False
    error: RecordError | None = None

    @staticmethod
    def of(result: LinkResult) -> LinkOut:
        if result.error is not None:
            return LinkOut(
                source=result.source, source_key=result.source_key, ok=False, error=RecordError(**result.error)
            )
        return LinkOut(
            source=result.source,
            source_key=result.source_key,
            ok=True,
            person_id=result.person_id,
            decision=result.decision,
            score=result.score,
            explanation=result.explanation,
            created=result.created,
            replayed=result.replayed,
        )


class RecordsOut(Schema):
    linked: int
    failed: int
    results: list[LinkOut]


@router.post(
    "/records",
    response=with_errors({200: RecordsOut, 207: RecordsOut}, 409),
    summary="Link records to persons",
    operation_id="identity_records_link",
)
def records_link(request: HttpRequest, payload: RecordsIn) -> Status[RecordsOut]:
    actor = actor_of(request)
    require_link(actor)
    inputs = [
        RecordInput(
            source=r.source,
            source_key=r.source_key,
            fields={k: v for k, v in r.fields.model_dump().items() if v is not None},
            received_at=r.received_at,
        )
        for r in payload.records
    ]
    results = [LinkOut.of(r) for r in identity_link(actor=actor, records=inputs)]
    failed = sum(1 for r in results if not r.ok)
    return Status(207 if failed else 200, RecordsOut(linked=len(results) - failed, failed=failed, results=results))

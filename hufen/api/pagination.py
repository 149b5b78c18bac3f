"""Cursor pagination: `?limit=&cursor=` in, `{"items": [...], "next_cursor": ...}` out.

Keyset on the primary key (`id > last`), never OFFSET, so page 1000 costs what page 1 does and rows
inserted while a client pages through do not shift it. The cursor is signed with the project's
secret and bound to one listing (its salt), so a client can neither forge nor reuse it elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core import signing
from django.db.models import Model, QuerySet
from ninja import Field, Schema

from hufen.api.errors import ApiError

M = TypeVar("M", bound=Model)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# A cursor is a bearer token for "the rest of this listing": it expires like every other token.
CURSOR_MAX_AGE = 24 * 3600  # seconds


class PageParams(Schema):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page (1 to 200).")
    cursor: str | None = Field(
        None, max_length=400, description="`next_cursor` of the previous page; omit for the first page."
    )


@dataclass(frozen=True)
class CursorPage(Generic[M]):
    items: list[M]
    next_cursor: str | None


def _salt(listing: str) -> str:
    return f"hufen.api.cursor:{listing}"


def encode_cursor(listing: str, last_id: int) -> str:
    return signing.dumps({"after": last_id}, salt=_salt(listing))


def decode_cursor(listing: str, cursor: str) -> int:
    try:
        payload: Any = signing.loads(cursor, salt=_salt(listing), max_age=CURSOR_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise ApiError(400, "expired_cursor", "The cursor has expired: start again from the first page.") from exc
    except signing.BadSignature as exc:
        raise ApiError(400, "invalid_cursor", "The cursor is not one this listing issued.") from exc
    after = payload.get("after") if isinstance(payload, dict) else None
    if not isinstance(after, int) or isinstance(after, bool):
        raise ApiError(400, "invalid_cursor", "The cursor is not one this listing issued.")
    return after


def paginate(qs: QuerySet[M], *, params: PageParams, listing: str) -> CursorPage[M]:
    """One page of `qs` in id order: a single query (plus the queryset's own prefetches)."""
    if params.cursor:
        qs = qs.filter(id__gt=decode_cursor(listing, params.cursor))
    rows = list(qs.order_by("id")[: params.limit + 1])
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = encode_cursor(listing, rows[-1].pk) if has_more else None
    return CursorPage(items=rows, next_cursor=next_cursor)

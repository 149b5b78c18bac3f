"""Cursor pagination: `?limit=&cursor=` in, `{"items": [...], "next_cursor": ...}` out.

Keyset on the primary key, never OFFSET, so page 1000 costs what page 1 does and rows inserted while
a client pages through do not shift it. Two orders: oldest first (`id > last`, the integrators'
lists, where new rows arrive at the end) and newest first (`id < last`, a member's own history,
where new rows arrive before the first page and so never push a row onto the next one twice).

The cursor is signed with the project's secret and bound to one listing (its salt), so a client can
neither forge nor reuse it elsewhere. It also says which order issued it (`after` or `before`), so a
cursor of one order presented to the other is refused with a 400 instead of silently skipping rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from django.core import signing
from django.db.models import Model, QuerySet
from ninja import Field, Schema

from hufen.api.errors import ApiError

M = TypeVar("M", bound=Model)
Order = Literal["newest", "oldest"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# A cursor is a bearer token for "the rest of this listing": it expires like every other token.
CURSOR_MAX_AGE = 24 * 3600  # seconds

# The payload key of each order: "after" is what oldest-first cursors have always carried.
_KEY: dict[Order, str] = {"oldest": "after", "newest": "before"}
_ORDER_NAME: dict[Order, str] = {"oldest": "oldest first", "newest": "newest first"}


class PageParams(Schema):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page (1 to 200).")
    cursor: str | None = Field(
        None, max_length=400, description="`next_cursor` of the previous page; omit for the first page."
    )


class HistoryPageParams(PageParams):
    """A history list that the client may read either way round; newest first unless it asks."""

    order: Order = Field(
        "newest",
        description=(
            "`newest` (default): newest first; `oldest`: oldest first. A cursor only continues the order "
            "that issued it; another order's cursor is a 400 `invalid_cursor`."
        ),
    )


@dataclass(frozen=True)
class CursorPage(Generic[M]):
    items: list[M]
    next_cursor: str | None


def _salt(listing: str) -> str:
    return f"hufen.api.cursor:{listing}"


def encode_cursor(listing: str, last_id: int, *, order: Order = "oldest") -> str:
    return signing.dumps({_KEY[order]: last_id}, salt=_salt(listing))


def _not_ours() -> ApiError:
    return ApiError(400, "invalid_cursor", "The cursor is not one this listing issued.", {"field": "cursor"})


def decode_cursor(listing: str, cursor: str, *, order: Order = "oldest") -> int:
    """The last id of the previous page; a 400 naming the problem for anything this listing and
    order did not issue."""
    try:
        payload: Any = signing.loads(cursor, salt=_salt(listing), max_age=CURSOR_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise ApiError(400, "expired_cursor", "The cursor has expired: start again from the first page.") from exc
    except signing.BadSignature as exc:
        raise _not_ours() from exc
    if not isinstance(payload, dict):
        raise _not_ours()
    if _KEY[order] not in payload:
        other: Order = "newest" if order == "oldest" else "oldest"
        if _KEY[other] in payload:
            raise ApiError(
                400,
                "invalid_cursor",
                f"The cursor continues the {_ORDER_NAME[other]} order, but this request lists "
                f"{_ORDER_NAME[order]}: send the order it was issued for, or start again without a cursor.",
                {"field": "cursor", "cursor_order": other, "order": order},
            )
        raise _not_ours()
    last = payload[_KEY[order]]
    if not isinstance(last, int) or isinstance(last, bool):
        raise _not_ours()
    return last


def paginate(qs: QuerySet[M], *, params: PageParams, listing: str, order: Order = "oldest") -> CursorPage[M]:
    """One page of `qs` in id order (`oldest`: ascending, `newest`: descending): a single query
    (plus the queryset's own prefetches). The queryset's own ordering is replaced."""
    if params.cursor:
        last = decode_cursor(listing, params.cursor, order=order)
        qs = qs.filter(id__gt=last) if order == "oldest" else qs.filter(id__lt=last)
    rows = list(qs.order_by("id" if order == "oldest" else "-id")[: params.limit + 1])
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = encode_cursor(listing, rows[-1].pk, order=order) if has_more else None
    return CursorPage(items=rows, next_cursor=next_cursor)

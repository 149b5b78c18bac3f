"""Keyset pagination: pages of a queryset ordered by id, found by "after id" / "before id".

At a million persons, OFFSET pagination and exact counts get slower with every page and every
keystroke; a keyset page costs the same wherever it is, so the console never counts a huge set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class KeysetPage(Generic[M]):
    items: list[M]
    next_after: int | None  # id to continue after, when there is a next page
    prev_before: int | None  # id to go back before, when there is a previous page

    @property
    def is_whole(self) -> bool:
        """The page holds every row: its length is the exact count, for free."""
        return self.next_after is None and self.prev_before is None


def parse_cursor(raw: str | None) -> int | None:
    """A cursor from the query string; anything but a positive integer means "from the start"."""
    if raw and raw.isdigit() and len(raw) < 19:
        return int(raw)
    return None


def keyset_page(qs: QuerySet[M], *, size: int, after: int | None = None, before: int | None = None) -> KeysetPage[M]:
    """One page of `qs` (which must be ordered by ascending id)."""
    if before is not None:
        rows = list(qs.filter(pk__lt=before).order_by("-pk")[: size + 1])
        more_before = len(rows) > size
        items = list(reversed(rows[:size]))
        return KeysetPage(
            items=items,
            next_after=items[-1].pk if items else None,
            prev_before=items[0].pk if items and more_before else None,
        )
    if after is not None:
        qs = qs.filter(pk__gt=after)
    rows = list(qs[: size + 1])
    items = rows[:size]
    return KeysetPage(
        items=items,
        next_after=items[-1].pk if len(rows) > size else None,
        prev_before=items[0].pk if items and after is not None else None,
    )


def capped_count(qs: QuerySet[Any], cap: int) -> tuple[int, bool]:
    """How many rows, counting no further than `cap`: (count, True) means "at least cap"."""
    n = qs.order_by().values("pk")[: cap + 1].count()
    return (cap, True) if n > cap else (n, False)

"""Reads of the dead-letter store for the console: HQ only, filtered, payloads masked for display.

`RejectedEvent.payload` keeps the event as it was sent (a retry needs the phone to resolve the
person), so every display goes through `mask_payload`: Chinese mobile numbers and ID card numbers
in the text are masked the way the rest of the console masks them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.db.models import Count, QuerySet

from hufen.common.actors import Actor
from hufen.common.errors import FieldError
from hufen.common.pii import mask_id_number, mask_phone
from hufen.tracking.models import RejectedEvent
from hufen.tracking.services import require_hq

SOURCES = ("api", "import", "retry")
# 18-character ID numbers first (they contain 11-digit runs), then mobiles with or without +86.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[\s-]?)?(1[3-9][0-9](?:[\s-]?[0-9]){8})(?![0-9])")


def mask_payload(text: str) -> str:
    masked = _ID_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)
    return _MOBILE.sub(lambda m: mask_phone("+86" + re.sub(r"[\s-]", "", m.group(1))), masked)


@dataclass(frozen=True)
class DeadLetterFilter:
    reason: str = ""
    source: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def parse_dead_letter_filter(
    *, reason: str | None, source: str | None, date_from: str | None, date_to: str | None
) -> DeadLetterFilter:
    def day(value: str | None, field: str) -> dt.date | None:
        if not value:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise FieldError(field, f"{value!r} is not a date (YYYY-MM-DD)") from None

    if source and source not in SOURCES:
        raise FieldError("source", f"{source!r}: use {', '.join(SOURCES)}")
    start, end = day(date_from, "from"), day(date_to, "to")
    if start and end and start > end:
        raise FieldError("from", f"{start} is after {end}")
    return DeadLetterFilter((reason or "").strip()[:100], source or "", start, end)


def dead_letters_for(actor: Actor, flt: DeadLetterFilter, tz: str) -> QuerySet[RejectedEvent]:
    """The rejected events HQ may see, newest first; dates are brand-local days."""
    from zoneinfo import ZoneInfo

    require_hq(actor)
    rows = RejectedEvent.objects.all()
    if flt.reason:
        rows = rows.filter(reason__icontains=flt.reason) | rows.filter(field__icontains=flt.reason)
    if flt.source:
        rows = rows.filter(source=flt.source)
    zone = ZoneInfo(tz)
    if flt.date_from:
        rows = rows.filter(received_at__gte=dt.datetime.combine(flt.date_from, dt.time(), zone))
    if flt.date_to:
        rows = rows.filter(received_at__lt=dt.datetime.combine(flt.date_to + dt.timedelta(days=1), dt.time(), zone))
    return rows.order_by("-received_at", "-id")


def dead_letter_reasons(rows: QuerySet[RejectedEvent], limit: int = 10) -> list[dict[str, object]]:
    top = rows.order_by().values("field", "reason").annotate(n=Count("id")).order_by("-n", "field", "reason")
    return list(top[:limit])

"""Publishing business facts into ONE DATA through the transactional outbox."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from hufen.common.models import DomainEvent


def publish(
    name: str,
    *,
    person_id: int | None = None,
    dealer_id: int | None = None,
    properties: dict[str, Any] | None = None,
    ts: dt.datetime | None = None,
    channel: str = "system",
    event_id: uuid.UUID | None = None,
) -> DomainEvent:
    """Append an event in the caller's transaction: it exists exactly when the change commits."""
    # Round-trip through the Django encoder so dates, decimals and UUIDs store as JSON text.
    props = json.loads(DjangoJSONEncoder().encode(properties or {}))
    return DomainEvent.objects.create(
        event_id=event_id or uuid.uuid4(),
        name=name,
        ts=ts or timezone.now(),
        person_id=person_id,
        dealer_id=dealer_id,
        channel=channel,
        properties=props,
    )

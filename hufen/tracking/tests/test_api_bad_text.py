"""Text the stores cannot keep (NUL, lone surrogates) is a per-event error, never a failed batch.

JSON may carry both (`\\u0000`, `\\ud800`); PostgreSQL text holds neither, and UTF-8 no lone surrogate.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from hufen.api.tests.helpers import API, Caller
from hufen.tracking.models import PendingEvent, RejectedEvent
from hufen.tracking.tests.helpers import raw_event
from hufen.tracking.validation import NUL_REASON, SURROGATE_REASON

pytestmark = pytest.mark.django_db


def test_bad_text_rejects_its_event_and_the_rest_is_stored(caller: Callable[[str], Caller]) -> None:
    good = raw_event(event_id="good-1")
    bad = [
        raw_event(anonymous_id="dev\x00"),
        raw_event(anonymous_id="dev\ud800"),
        raw_event(unionid="u\x00", anonymous_id=None),
        raw_event(properties={"page": "\udfff"}),
        raw_event(event_id="id\x00"),
        {**raw_event(), "col\ud800": 1},
    ]
    api = caller("hq_admin")
    # ASCII JSON, as a client would send it: the escapes `\u0000` and `\ud800` on the wire.
    body_text = json.dumps({"events": [good, *bad]})
    response = api.client.post(f"{API}/events", body_text, content_type="application/json", headers=api.headers)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["accepted"] == 1 and body["rejected"] == len(bad)
    assert [(e["index"], e["field"], e["reason"]) for e in body["errors"]] == [
        (1, "anonymous_id", NUL_REASON),
        (2, "anonymous_id", SURROGATE_REASON),
        (3, "unionid", NUL_REASON),
        (4, "properties", SURROGATE_REASON),
        (5, "event_id", "is required: 1-64 characters of A-Z a-z 0-9 _ . : -"),
        (6, "col\\ud800", "is not a field of the event contract"),
    ]
    assert body["errors"][4]["event_id"] == "id\\u0000"  # echoed as JSON spells it
    assert list(PendingEvent.objects.values_list("event_id", flat=True)) == ["good-1"]
    dead = RejectedEvent.objects.order_by("batch_index")
    assert [d.field for d in dead] == [e["field"] for e in body["errors"]]
    assert dead[1].payload.count("\\ud800") == 1 and dead[4].event_id == "id\\u0000"

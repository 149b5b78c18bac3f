"""The dead-letter page: HQ only, filters, masked payloads, audited retry and discard."""

from __future__ import annotations

import pytest
from django.test import Client

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.models import AuditEvent
from hufen.tracking.models import EventType, PendingEvent, RejectedEvent
from hufen.tracking.selectors import mask_payload
from hufen.tracking.services import events_ingest
from hufen.tracking.tests.helpers import raw_event

pytestmark = pytest.mark.django_db
URL = "/console/analytics/dead-letters/"
PHONE, ID_NUMBER = "13812345678", "11010519491231002X"


def login(world: World, name: str) -> Client:
    client = Client()
    client.force_login(world.staff[name].user)
    return client


@pytest.fixture
def rejected(world: World) -> dict[str, RejectedEvent]:
    events_ingest(
        actor=SYSTEM,
        raw_events=[
            raw_event(event_id="unknown-1", event="showroom_checkin", properties={"证件": ID_NUMBER}),
            raw_event(event_id="phone-1", anonymous_id=None, phone=PHONE[:-1] + "0"),  # nobody holds it
            raw_event(event_id="late-1", ts="2099-01-01T00:00:00+08:00"),
        ],
    )
    return {r.event_id: r for r in RejectedEvent.objects.all()}


def test_masking_covers_phones_and_id_numbers() -> None:
    text = f'{{"phone": "+86{PHONE}", "p2": "138 1234 5678", "id": "{ID_NUMBER}", "order": "SO-202611220012"}}'
    masked = mask_payload(text)
    assert PHONE not in masked and "1234 5678" not in masked and ID_NUMBER not in masked
    assert '"138****5678"' in masked and "110105********002X" in masked and "SO-202611220012" in masked


def test_hq_sees_masked_payloads_and_filters(world: World, rejected: dict[str, RejectedEvent]) -> None:
    client = login(world, "hq_operator")
    page = client.get(URL)
    html = page.content.decode()
    assert page.status_code == 200 and 'data-testid="dead-letters"' in html
    assert ID_NUMBER not in html and PHONE[:-1] + "0" not in html and "110105********002X" in html
    assert all(f"dead-letter-{r.id}" in html for r in rejected.values())
    only_ts = client.get(URL, {"reason": "future"}).content.decode()
    assert f"dead-letter-{rejected['late-1'].id}" in only_ts and f"dead-letter-{rejected['phone-1'].id}" not in only_ts
    assert f"dead-letter-{rejected['late-1'].id}" not in client.get(URL, {"source": "import"}).content.decode()
    assert (
        'data-testid="dead-letter-' not in client.get(URL, {"from": "2000-01-01", "to": "2000-01-02"}).content.decode()
    )
    bad = client.get(URL, {"from": "昨天"})
    assert bad.status_code == 422 and "from: " in bad.content.decode()


@pytest.mark.parametrize("name", ["region_east", "dealer_a1", "butler_a1"])
def test_only_hq_may_see_or_act(world: World, rejected: dict[str, RejectedEvent], name: str) -> None:
    client = login(world, name)
    assert client.get(URL).status_code == 403
    response = client.post(URL, {"action": "discard", "ids": [r.id for r in rejected.values()]})
    assert response.status_code == 403 and RejectedEvent.objects.count() == 3
    assert 'data-testid="tab-dead-letters"' not in client.get("/console/analytics/").content.decode()


def test_retry_after_the_event_type_is_declared(world: World, rejected: dict[str, RejectedEvent]) -> None:
    client = login(world, "hq_admin")
    assert 'data-testid="tab-dead-letters"' in client.get("/console/analytics/").content.decode()
    EventType.objects.create(name="showroom_checkin")
    ids = [rejected["unknown-1"].id, rejected["phone-1"].id]
    response = client.post(URL, {"action": "retry", "ids": ids})
    assert response.status_code == 302 and "notice=" in response["Location"]
    assert PendingEvent.objects.filter(event_id="unknown-1").exists()
    assert not RejectedEvent.objects.filter(id=ids[0]).exists()
    still = RejectedEvent.objects.get(id=ids[1])
    assert still.field == "phone" and "matches no person" in still.reason
    trail = AuditEvent.objects.filter(action="tracking.dead_letter.retry").order_by("object_id")
    assert [(a.object_id, a.summary["outcome"]) for a in trail] == [
        (str(ids[0]), "accepted"),
        (str(ids[1]), "rejected"),
    ]
    assert all(a.actor_label == world.actor("hq_admin").label for a in trail)
    again = client.post(URL, {"action": "retry", "ids": [ids[0]]})  # already gone: said so, nothing done
    assert again.status_code == 422 and "does not exist" in again.content.decode()
    assert PendingEvent.objects.filter(event_id="unknown-1").count() == 1


def test_discard_is_audited_with_its_reason(world: World, rejected: dict[str, RejectedEvent]) -> None:
    client = login(world, "hq_admin")
    late = rejected["late-1"].id
    response = client.post(URL, {"action": "discard", "ids": [late], "reason": "测试流量"})
    assert response.status_code == 302 and not RejectedEvent.objects.filter(id=late).exists()
    entry = AuditEvent.objects.get(action="tracking.dead_letter.discard")
    assert (entry.object_id, entry.reason, entry.summary["field"]) == (str(late), "测试流量", "ts")
    none = client.post(URL, {"action": "discard"})
    assert none.status_code == 422 and "ids: " in none.content.decode()
    assert RejectedEvent.objects.count() == 2

"""POST /api/v1/identity/records: batches with partial errors, idempotency, permissions and scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import World
from hufen.api.tests.helpers import Caller, error_of, text_of
from hufen.common.actors import ROLE_PERMISSIONS, Role
from hufen.common.models import AuditEvent
from hufen.identity.models import SourceRecord

pytestmark = pytest.mark.django_db

ID_NUMBER = "330106198511034525"


def record(key: str, source: str = "dms", **fields: str) -> dict[str, Any]:
    return {"source": source, "source_key": key, "fields": fields}


def test_batch_links_the_valid_records_and_reports_the_bad_ones(caller: Callable[[str], Caller]) -> None:
    api = caller("api_brand_premium")
    body = {
        "records": [
            record("A1-100", name="孙丽", phone="+86 139 0000 1234", gender="女", id_number=ID_NUMBER),
            record("A1-101", name="孙丽", phone="13900001234"),
            record("A1-102", nickname="丽丽"),
            {"source": "dms", "fields": {"name": "无键"}},
        ]
    }
    response = api.post("/identity/records", body)
    # the fourth record misses source_key: the request shape is wrong, nothing links
    assert response.status_code == 422
    assert error_of(response)["details"][0]["field"].endswith("source_key")
    assert not SourceRecord.objects.exists()
    # without the malformed record: the valid ones link, the unknown field is reported in its slot
    body["records"] = body["records"][:3]
    body["records"][2] = record("A1-102", name="  ")
    response = api.post("/identity/records", body)
    assert response.status_code == 207, response.content
    out = response.json()
    assert (out["linked"], out["failed"]) == (2, 1)
    first, second, bad = out["results"]
    assert first["ok"] and first["decision"] == "new" and first["created"]
    assert second["person_id"] == first["person_id"] and second["decision"] == "linked"
    assert second["explanation"]["rule"] == "phone"
    assert bad == {
        "source": "dms",
        "source_key": "A1-102",
        "ok": False,
        "person_id": None,
        "decision": None,
        "score": None,
        "explanation": None,
        "created": False,
        "replayed": False,
        "error": {
            "code": "invalid_field",
            "field": "fields",
            "reason": "has no name and no identifier: nothing to link on",
        },
    }
    # the ID number never comes back, nor is stored
    assert ID_NUMBER not in text_of(response)
    assert not SourceRecord.objects.filter(raw__icontains=ID_NUMBER).exists()


def test_a_retry_returns_the_first_result(caller: Callable[[str], Caller]) -> None:
    api = caller("hq_admin")
    body = {"records": [record("app-1", source="app", name="郑爽", wechat_unionid="oX-1")]}
    first = api.post("/identity/records", body)
    again = api.post("/identity/records", body)
    assert first.status_code == again.status_code == 200
    a, b = first.json()["results"][0], again.json()["results"][0]
    assert (a["person_id"], a["decision"]) == (b["person_id"], b["decision"])
    assert (a["replayed"], b["replayed"]) == (False, True)
    assert SourceRecord.objects.count() == 1
    assert AuditEvent.objects.filter(action="identity.link").count() == 1


@pytest.mark.parametrize("name", ["dealer_a1", "butler_a1", "region_east", "merchant"])
def test_staff_without_identity_link_get_403(caller: Callable[[str], Caller], name: str) -> None:
    response = caller(name).post("/identity/records", {"records": [record("x", name="王伟")]})
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert not SourceRecord.objects.exists()


def test_an_api_client_without_identity_link_gets_403(
    caller: Callable[[str], Caller], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given integrations are not granted identity.link
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.API_CLIENT, ROLE_PERMISSIONS[Role.API_CLIENT] - {"identity.link"})
    response = caller("api_dealer_a1").post("/identity/records", {"records": [record("x", name="王伟")]})
    assert response.status_code == 403
    assert not SourceRecord.objects.exists()


def test_a_dealer_integration_cannot_touch_another_dealers_record(
    caller: Callable[[str], Caller], world: World
) -> None:
    # given HQ's integration sent a DMS record
    hq = caller("api_brand_premium").post(
        "/identity/records", {"records": [record("K-1", name="冯涛", phone="13511112222")]}
    )
    assert hq.status_code == 200
    # when the A1 dealer's integration sends the same source and key with other data
    dealer = caller("api_dealer_a1")
    response = dealer.post("/identity/records", {"records": [record("K-1", name="冯涛", phone="13633334444")]})
    # then that record is refused and left as it was
    assert response.status_code == 207
    result = response.json()["results"][0]
    assert result["error"]["code"] == "forbidden"
    stored = SourceRecord.objects.get(source="dms", source_key="K-1")
    assert stored.normalized["s_phone"] == "+8613511112222" and stored.dealer_id is None
    # and its own records are stamped with its dealer, and can be updated by it
    own = dealer.post("/identity/records", {"records": [record("A1-K-2", name="冯涛", phone="13633334444")]})
    assert own.status_code == 200
    mine = SourceRecord.objects.get(source_key="A1-K-2")
    assert mine.dealer_id == world.dealers["A1"].pk
    update = dealer.post("/identity/records", {"records": [record("A1-K-2", name="冯涛", phone="13511112222")]})
    assert update.json()["results"][0]["person_id"] == hq.json()["results"][0]["person_id"]


def test_more_than_500_records_is_a_422(caller: Callable[[str], Caller]) -> None:
    body = {"records": [record(str(i), name="王伟") for i in range(501)]}
    response = caller("hq_admin").post("/identity/records", body)
    assert response.status_code == 422
    assert not SourceRecord.objects.exists()


def test_anonymous_is_401(client: Any) -> None:
    response = client.post("/api/v1/identity/records", {"records": []}, content_type="application/json")
    assert response.status_code == 401

"""The SMS sender is pluggable; HQ reads the demo outbox at /console/sms/ (numbers masked)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from conftest import World
from hufen.common.sms import Sms, SmsError, sms_send
from hufen.portal.models import LoginCode, SmsMessage
from hufen.portal.services import login_code_request
from hufen.portal.tests.helpers import last_code

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


class RefusingGateway:
    """A gateway that refuses every message, as a real one does when its account has no credit."""

    def send(self, sms: Sms) -> None:
        raise SmsError("insufficient balance")


class RecordingGateway:
    sent: list[Sms] = []

    def send(self, sms: Sms) -> None:
        RecordingGateway.sent.append(sms)


def test_default_backend_writes_the_outbox(world: World) -> None:
    sms_send(Sms(phone="+8615012340002", body="测试短信", purpose="test"))
    message = SmsMessage.objects.get()
    assert (message.phone, message.body, message.purpose, message.status) == (
        "+8615012340002",
        "测试短信",
        "test",
        "sent",
    )
    assert message.backend == "OutboxBackend"


def test_the_setting_picks_another_backend(world: World, settings: Any) -> None:
    settings.HUFEN_SMS_BACKEND = "hufen.portal.tests.test_outbox.RecordingGateway"
    RecordingGateway.sent = []
    login_code_request(phone="15012340002", brand_code="mass")
    assert len(RecordingGateway.sent) == 1 and RecordingGateway.sent[0].phone == "+8615012340002"
    assert SmsMessage.objects.count() == 0


def test_a_refusing_gateway_stores_no_code_and_does_not_throttle(world: World, settings: Any) -> None:
    settings.HUFEN_SMS_BACKEND = "hufen.portal.tests.test_outbox.RefusingGateway"
    response = Client().post("/m/login/", {"step": "send", "phone": "15012340002", "brand": "mass"})
    assert response.status_code == 503
    assert "短信发送失败" in response.content.decode()
    assert LoginCode.objects.count() == 0
    settings.HUFEN_SMS_BACKEND = "hufen.common.sms.OutboxBackend"
    login_code_request(phone="15012340002", brand_code="mass")  # no 60-second wait for a failed send
    assert LoginCode.objects.count() == 1


def test_unknown_backend_path_is_a_clear_error(world: World, settings: Any) -> None:
    settings.HUFEN_SMS_BACKEND = "hufen.nowhere.Gateway"
    with pytest.raises(SmsError, match="HUFEN_SMS_BACKEND"):
        sms_send(Sms(phone="+8615012340002", body="x"))


@pytest.mark.parametrize("name", ["hq_admin", "hq_operator"])
def test_hq_sees_the_outbox_with_masked_numbers_and_codes(world: World, name: str) -> None:
    login_code_request(phone="15012340002", brand_code="mass")
    client = Client()
    client.force_login(world.staff[name].user)
    response = client.get("/console/sms/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "150****0002" in html and "15012340002" not in html
    assert last_code("+8615012340002") in html
    assert 'data-testid="demo-note"' in html
    assert 'href="/console/sms/"' in html  # in the menu
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize("name", ["region_east", "dealer_a1", "butler_a1", "dealer_b1"])
def test_outbox_is_hq_only(world: World, name: str) -> None:
    login_code_request(phone="15012340002", brand_code="mass")
    client = Client()
    client.force_login(world.staff[name].user)
    response = client.get("/console/sms/")
    assert response.status_code == 403
    assert last_code("+8615012340002") not in response.content.decode()
    assert 'href="/console/sms/"' not in client.get("/console/").content.decode()


def test_outbox_needs_a_console_login(world: World) -> None:
    response = Client().get("/console/sms/")
    assert response.status_code == 302 and response["Location"].startswith("/console/login/")


def test_outbox_is_keyset_paged(world: World) -> None:
    for i in range(55):
        sms_send(Sms(phone=f"+861370000{i:04d}", body=f"第 {i} 条", purpose="test"))
    client = Client()
    client.force_login(world.staff["hq_admin"].user)
    first = client.get("/console/sms/").content.decode()
    assert first.count("data-sms=") == 50
    oldest_shown = SmsMessage.objects.order_by("-id")[49].pk
    second = client.get(f"/console/sms/?before={oldest_shown}").content.decode()
    assert second.count("data-sms=") == 5

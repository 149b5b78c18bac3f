"""Personal data stays masked in every page and export; revealing needs the permission and is audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from conftest import World
from hufen.common.models import AuditEvent

CLEAR_PHONE = "13812345678"
CLEAR_NAME = "王小伟"


def assert_masked(body: str) -> None:
    assert CLEAR_PHONE not in body
    assert CLEAR_NAME not in body


@pytest.mark.parametrize("name", ["hq_admin", "dealer_a1", "butler_a1"])
def test_list_detail_and_export_never_show_pii_in_clear(
    world: World, login: Callable[[str], Client], name: str
) -> None:
    client = login(name)
    person = world.persons["a1_owner"]
    for params in [{}, {"q": "5678"}, {"q": "wxw"}]:
        html = client.get(reverse("console:person_list"), params).content.decode()
        assert_masked(html)
        assert "王*伟" in html and "138****5678" in html
    html = client.get(reverse("console:person_detail", args=[person.pk])).content.decode()
    assert_masked(html)
    assert "王*伟" in html and "138****5678" in html
    assert "文三路 90 号 3 幢 501 室" not in html  # the address is masked too
    if name != "butler_a1":
        response: Any = client.get(reverse("console:person_export"))
        body = b"".join(response.streaming_content).decode()
        assert_masked(body)
        assert "王*伟" in body and "138****5678" in body


def reveal(client: Client, person_id: int, field: str, reason: str = "回访核实") -> Any:
    url = reverse("console:person_reveal", args=[person_id, field])
    return client.post(url, headers={"HX-Request": "true", "HX-Prompt": reason})


@pytest.mark.parametrize("name", ["hq_admin", "dealer_a1", "butler_a1"])
def test_reveal_shows_the_value_and_is_audited(world: World, login: Callable[[str], Client], name: str) -> None:
    person = world.persons["a1_owner"]
    client = login(name)
    detail = client.get(reverse("console:person_detail", args=[person.pk])).content.decode()
    assert 'data-testid="reveal-phone"' in detail
    # when the actor reveals the phone, then the clear value comes back and an audit row records it
    response = reveal(client, person.pk, "phone")
    assert response.status_code == 200
    assert "+8613812345678" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.get(action="pii.reveal")
    assert event.actor_user_id == world.staff[name].user_id
    assert (event.object_type, event.object_id) == ("person", str(person.pk))
    assert event.summary == {"field": "phone"}
    assert event.reason == "回访核实"
    assert event.ip_address == "127.0.0.1"
    name_response = reveal(client, person.pk, "name")
    assert CLEAR_NAME in name_response.content.decode()
    assert AuditEvent.objects.filter(action="pii.reveal").count() == 2


def test_reveal_reason_typed_in_chinese_survives_htmx_header_encoding(
    world: World, login: Callable[[str], Client]
) -> None:
    # htmx URI-encodes a header value a browser cannot send as-is and says so in a second header.
    url = reverse("console:person_reveal", args=[world.persons["a1_owner"].pk, "phone"])
    login("hq_admin").post(
        url,
        headers={"HX-Request": "true", "HX-Prompt": "%E5%9B%9E%E8%AE%BF", "HX-Prompt-URI-AutoEncoded": "true"},
    )
    assert AuditEvent.objects.get(action="pii.reveal").reason == "回访"


@pytest.mark.parametrize("name", ["hq_operator", "region_east"])
def test_reveal_is_403_without_the_permission(world: World, login: Callable[[str], Client], name: str) -> None:
    person = world.persons["a1_owner"]
    client = login(name)
    detail = client.get(reverse("console:person_detail", args=[person.pk])).content.decode()
    assert 'data-testid="reveal-' not in detail
    response = reveal(client, person.pk, "phone")
    assert response.status_code == 403
    assert CLEAR_PHONE not in response.content.decode()
    assert not AuditEvent.objects.filter(action="pii.reveal").exists()


def test_reveal_outside_scope_is_404(world: World, login: Callable[[str], Client]) -> None:
    response = reveal(login("dealer_b1"), world.persons["a1_owner"].pk, "phone")
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action="pii.reveal").exists()


def test_reveal_needs_post_and_a_known_field(world: World, login: Callable[[str], Client]) -> None:
    client = login("hq_admin")
    person = world.persons["a1_owner"]
    assert client.get(reverse("console:person_reveal", args=[person.pk, "phone"])).status_code == 405
    assert reveal(client, person.pk, "id_number_hash").status_code == 404
    assert not AuditEvent.objects.filter(action="pii.reveal").exists()


def test_reveal_without_csrf_token_is_refused(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.staff["hq_admin"].user)
    response = reveal(client, world.persons["a1_owner"].pk, "phone")
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="pii.reveal").exists()

"""POST /persons: HQ staff only, validated by `person_create`, safe to retry with Idempotency-Key."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client

from conftest import ACTOR_NAMES, World, build_world
from hufen.api.tests.helpers import API, Caller, error_of, text_of
from hufen.common.models import AuditEvent, IdempotencyRecord
from hufen.people.models import Person

CallerFor = Callable[[str], Caller]

VALID = {
    "name": "赵晓明",
    "phone": "139 0571 8888",
    "gender": "F",
    "email": "Zhao.XM@example.com",
    "id_number": "11010519491231002X",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "address": "文三路 100 号 2 幢 301 室",
}
MAY_CREATE = {"hq_admin", "hq_operator"}


@pytest.mark.parametrize("actor_name", ACTOR_NAMES)
def test_only_hq_staff_may_create(world: World, caller: CallerFor, actor_name: str) -> None:
    before = Person.objects.count()
    response = caller(actor_name).post("/persons", {"name": "赵晓明"})
    if actor_name in MAY_CREATE:
        assert response.status_code == 201
        assert Person.objects.count() == before + 1
    else:
        assert response.status_code == 403
        assert error_of(response)["code"] == "forbidden"
        assert Person.objects.count() == before


def test_created_person_comes_back_masked_and_audited(world: World, caller: CallerFor) -> None:
    response = caller("hq_admin").post("/persons", VALID)
    assert response.status_code == 201
    body = response.json()
    person = Person.objects.get(pk=body["id"])
    assert person.phone == "+8613905718888"
    assert person.source == "api"
    assert body["name"] == "赵*明"
    assert body["phone"] == "139****8888"
    assert body["email"] == "z***@example.com"
    assert body["id_number_hint"] == "110105********002X"
    assert body["gender"] == "F"
    assert body["birth_year"] == 1949
    text = text_of(response)
    for secret in ("13905718888", "赵晓明", "11010519491231002X", "zhao.xm@example.com"):
        assert secret not in text
    assert AuditEvent.objects.filter(action="person.create", object_id=str(person.pk)).exists()
    # and the creator finds the person through the API
    assert caller("hq_admin").get(f"/persons/{person.pk}").status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "+1 415 555 0100"}, "phone"),
        ({"id_number": "110105194912310021"}, "id_number"),
        ({"id_number": "99010519491231002X"}, "id_number"),
        ({"email": "not-an-email"}, "email"),
        ({"name": "   "}, "name"),
        ({"birth_date": "1950-01-01"}, "birth_date"),
        ({"gender": "M"}, "gender"),
    ],
)
def test_bad_fields_are_422_naming_the_field(
    world: World, caller: CallerFor, change: dict[str, str], field: str
) -> None:
    before = Person.objects.count()
    response = caller("hq_admin").post("/persons", {**VALID, **change})
    assert response.status_code == 422, response.content
    error = error_of(response)
    assert error["code"] == "invalid_field"
    assert error["details"]["field"] == field
    assert error["details"]["reason"]
    assert Person.objects.count() == before


def test_a_retry_with_the_same_key_returns_the_first_response(world: World, caller: CallerFor) -> None:
    api = caller("hq_operator")
    key = {"Idempotency-Key": "order-2026-0001"}
    first = api.post("/persons", VALID, headers=key)
    again = api.post("/persons", {**VALID}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Person.objects.filter(name="赵晓明").count() == 1


def test_same_key_different_body_is_409(world: World, caller: CallerFor) -> None:
    api = caller("hq_admin")
    key = {"Idempotency-Key": "k-1"}
    assert api.post("/persons", VALID, headers=key).status_code == 201
    response = api.post("/persons", {**VALID, "city": "宁波市"}, headers=key)
    assert response.status_code == 409
    assert error_of(response)["code"] == "idempotency_conflict"
    assert Person.objects.filter(name="赵晓明").count() == 1


def test_keys_are_per_caller(world: World, caller: CallerFor) -> None:
    key = {"Idempotency-Key": "shared-key"}
    one = caller("hq_admin").post("/persons", VALID, headers=key)
    two = caller("hq_operator").post("/persons", VALID, headers=key)
    assert one.json()["id"] != two.json()["id"]


def test_without_a_key_each_post_creates(world: World, caller: CallerFor) -> None:
    api = caller("hq_admin")
    api.post("/persons", VALID)
    api.post("/persons", VALID)
    assert Person.objects.filter(name="赵晓明").count() == 2


def test_a_rejected_request_is_not_remembered(world: World, caller: CallerFor) -> None:
    # A 422 created nothing, so the same key may carry the corrected request.
    api = caller("hq_admin")
    key = {"Idempotency-Key": "fix-me"}
    assert api.post("/persons", {**VALID, "phone": "12345"}, headers=key).status_code == 422
    assert not IdempotencyRecord.objects.exists()
    assert api.post("/persons", VALID, headers=key).status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 201, "tab\there"])
def test_bad_keys_are_422(world: World, caller: CallerFor, key: str) -> None:
    response = caller("hq_admin").post("/persons", VALID, headers={"Idempotency-Key": key})
    assert response.status_code == 422
    assert error_of(response)["details"]["field"] == "Idempotency-Key"


def test_the_stored_request_hash_reveals_nothing(world: World, caller: CallerFor) -> None:
    caller("hq_admin").post("/persons", VALID, headers={"Idempotency-Key": "k"})
    record = IdempotencyRecord.objects.get()
    assert len(record.request_hash) == 64
    assert "赵晓明" not in str(record.response) and "13905718888" not in str(record.response)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_create_exactly_one_person() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to prove")
    world = build_world()
    user = world.staff["hq_admin"].user
    barrier = threading.Barrier(8)
    results: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def post() -> None:
        try:
            client = Client()
            client.force_login(user)
            barrier.wait()
            response = client.post(
                f"{API}/persons", VALID, content_type="application/json", headers={"Idempotency-Key": "race"}
            )
            with lock:
                results.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 8
    assert {status for status, _ in results} == {201}
    assert len({body["id"] for _, body in results}) == 1
    assert Person.objects.filter(name="赵晓明").count() == 1
    assert IdempotencyRecord.objects.count() == 1

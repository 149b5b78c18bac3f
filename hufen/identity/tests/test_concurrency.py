"""Concurrent links on PostgreSQL: records sharing an identifier must not make two persons."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest

from hufen.common.actors import SYSTEM
from hufen.identity.models import SourceRecord
from hufen.identity.services import RecordInput, identity_link_one
from hufen.people.models import Person
from hufen.testing.concurrency import race, require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pg(transactional_db: None) -> None:
    require_postgres()


def test_concurrent_records_with_one_phone_make_one_person(pg: None) -> None:
    phones = ["13812345678", "+86 138 1234 5678", "86-13812345678", "138-1234-5678", "(138)12345678", "8613812345678"]
    jobs: list[Callable[[], object]] = [
        partial(
            identity_link_one,
            actor=SYSTEM,
            record=RecordInput(source=f"src{i}", source_key=f"k{i}", fields={"name": "王小伟", "phone": phone}),
        )
        for i, phone in enumerate(phones)
    ]
    results = race(jobs)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Person.objects.count() == 1
    assert set(SourceRecord.objects.values_list("person_id", flat=True)) == {Person.objects.get().pk}


def test_concurrent_resends_of_one_record_store_it_once(pg: None) -> None:
    record = RecordInput(source="app", source_key="u-1", fields={"name": "李娜", "wechat_unionid": "oAbc"})
    results = race([partial(identity_link_one, actor=SYSTEM, record=record) for _ in range(5)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert SourceRecord.objects.count() == 1 and Person.objects.count() == 1
    assert sum(1 for r in results if getattr(r, "replayed", False)) == 4


def test_concurrent_records_joining_the_same_two_persons_merge_them_once(pg: None) -> None:
    # given the merchant 梁娜 (name and phone only) and the WeChat 梁娜 (birth date, address): two persons
    chengdu = {"province": "四川省", "city": "成都市", "district": "金牛区"}
    place = {"birth_date": "1989-03-17", "address": "放路763号21栋", **chengdu}
    merchant = identity_link_one(
        actor=SYSTEM, record=RecordInput("merchant", "M-1", {"name": "梁娜", "gender": "女", "phone": "14500145742"})
    )
    wechat = identity_link_one(
        actor=SYSTEM,
        record=RecordInput("wechat", "W-2", {"name": "梁娜", "gender": "女", "wechat_unionid": "oU-1", **place}),
    )
    assert merchant.person_id != wechat.person_id
    # when four records that each link to both arrive at once
    bridges = [
        {"name": "梁娜", "gender": "女", "phone": "14500145742", **place},
        {"name": "梁娜", "gender": "女", "phone": "145 0014 5742", "wechat_unionid": "oU-1"},
        {"name": "梁娜", "phone": "14500145742", **place},
        {"name": "梁娜", "gender": "女", "wechat_unionid": "oU-1", "phone": "14500145742", **place},
    ]
    jobs: list[Callable[[], object]] = [
        partial(identity_link_one, actor=SYSTEM, record=RecordInput("service", f"S-{i}", fields))
        for i, fields in enumerate(bridges)
    ]
    results = race(jobs)
    # then no link failed, the two persons were merged exactly once, and every record is on the survivor
    assert not [r for r in results if isinstance(r, Exception)], results
    from hufen.people.models import PersonMerge

    merge = PersonMerge.objects.get()
    assert {merge.survivor_id, merge.absorbed_id} == {merchant.person_id, wechat.person_id}
    assert set(SourceRecord.objects.values_list("person_id", flat=True)) == {merge.survivor_id}
    assert Person.objects.filter(status="active").count() == 1

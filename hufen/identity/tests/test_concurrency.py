"""Concurrent links on PostgreSQL: records sharing an identifier must not make two persons."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

import pytest
from django.db import connection, connections

from hufen.common.actors import SYSTEM
from hufen.identity.models import SourceRecord
from hufen.identity.services import RecordInput, identity_link_one
from hufen.people.models import Person

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pg(transactional_db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is proven on PostgreSQL; `make test` runs this file there")


def _race(jobs: list[Callable[[], object]]) -> list[object]:
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = jobs[i]()
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


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
    results = _race(jobs)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Person.objects.count() == 1
    assert set(SourceRecord.objects.values_list("person_id", flat=True)) == {Person.objects.get().pk}


def test_concurrent_resends_of_one_record_store_it_once(pg: None) -> None:
    record = RecordInput(source="app", source_key="u-1", fields={"name": "李娜", "wechat_unionid": "oAbc"})
    results = _race([partial(identity_link_one, actor=SYSTEM, record=record) for _ in range(5)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert SourceRecord.objects.count() == 1 and Person.objects.count() == 1
    assert sum(1 for r in results if getattr(r, "replayed", False)) == 4

"""The person 360 page's record lineage: which source records merges moved onto or off a person,
who merged them and when, what an unmerge took back, and which absorbed IDs lead here; masked, and
only the records the viewer may see."""

from __future__ import annotations

from html import escape
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import World
from hufen.common.errors import NotFound
from hufen.identity.linking import normalize_record
from hufen.identity.models import SourceRecord
from hufen.identity.selectors import person_lineage
from hufen.people.merge import person_merge, person_unmerge
from hufen.people.models import Person, PersonMerge

pytestmark = pytest.mark.django_db


def record_on(person: Person, key: str, **fields: str) -> SourceRecord:
    """A source record behind a person of the test world (as a link or a rebuild leaves it)."""
    return SourceRecord.objects.create(
        source="dms",
        source_key=key,
        raw=fields,
        normalized=normalize_record(fields),
        fingerprint="test",
        received_at=timezone.now(),
        person=person,
        decision="new",
    )


def lineage(client: Client, world: World, viewer: str, person: Person) -> tuple[int, str]:
    client.force_login(world.staff[viewer].user)
    response = client.get(f"/console/identity/persons/{person.pk}/lineage/")
    return response.status_code, response.content.decode()


def merged(world: World) -> tuple[Person, Person, PersonMerge]:
    """b1_owner (with record B-1) merged into a1_owner (with record A-1) by an HQ operator."""
    a, b = world.persons["a1_owner"], world.persons["b1_owner"]
    record_on(a, "A-1", name="王小伟", phone="13812345678")
    record_on(b, "B-1", name="刘洋", phone="17712340004")
    merge = person_merge(actor=world.actor("hq_operator"), survivor=a, absorbed=b, reason="同一客户：电话回访确认")
    return a, b, merge


def test_the_360_page_loads_the_lineage_section(client: Client, world: World) -> None:
    person = world.persons["a1_owner"]
    client.force_login(world.staff["dealer_a1"].user)
    html = client.get(f"/console/persons/{person.pk}/").content.decode()
    assert 'data-testid="record-lineage"' in html
    assert f'hx-get="/console/identity/persons/{person.pk}/lineage/"' in html
    status, section = lineage(client, world, "dealer_a1", person)
    assert status == 200 and "尚无合并移入或移出此客户的来源记录" in section


def test_hq_sees_which_records_came_from_whom_and_what_was_undone(client: Client, world: World) -> None:
    a, b, merge = merged(world)
    # when HQ opens the survivor's lineage
    status, html = lineage(client, world, "hq_admin", a)
    # then the moved record is listed, masked, with where it came from, who merged, when and why
    assert status == 200
    assert "B-1" in html and "A-1" not in html  # A-1 never moved
    assert "刘*" in html and "177****0004" in html
    assert "刘洋" not in html and "17712340004" not in html
    assert f"#{b.pk}" in html and f"#{a.pk}" in html and f"#{merge.pk}" in html
    assert escape(merge.actor_label) in html and "同一客户：电话回访确认" in html
    assert "生效中" in html and "已撤销" not in html
    # and the absorbed ID is listed as leading here
    assert f'data-testid="redirect-{b.pk}"' in html
    # when the merge is undone
    person_unmerge(actor=world.actor("hq_admin"), merge=merge, reason="误合并")
    # then both persons' lineage still lists the move, marked undone with when it went back
    for person in (a, b):
        _, html = lineage(client, world, "hq_admin", person)
        assert "B-1" in html and "已撤销" in html and "已移回" in html and "生效中" not in html
        assert 'data-testid="redirect-' not in html


def test_a_dealer_sees_no_move_of_a_record_outside_its_scope(client: Client, world: World) -> None:
    a, b, merge = merged(world)
    # given dealer A1 sees the survivor: the moved record is on it now, so its move is listed,
    # but not the HQ's reason (a dealer cannot merge) nor the absorbed person's name
    status, html = lineage(client, world, "dealer_a1", a)
    assert status == 200 and "B-1" in html and "同一客户" not in html
    assert f'<td class="text-nowrap">#{b.pk}</td>' in html  # an ID only: b1_owner is out of scope
    # when the merge is undone, B-1 goes back to b1_owner, whom dealer A1 may not see
    person_unmerge(actor=world.actor("hq_admin"), merge=merge, reason="误合并")
    # then dealer A1 no longer sees that move, nor anything of the record
    status, html = lineage(client, world, "dealer_a1", a)
    assert status == 200 and "B-1" not in html and "177****" not in html
    assert person_lineage(actor=world.actor("dealer_a1"), person_id=a.pk).moves == []
    # and asking for b1_owner's lineage directly is a 404, as for any person out of scope
    assert lineage(client, world, "dealer_a1", b)[0] == 404
    with pytest.raises(NotFound):
        person_lineage(actor=world.actor("dealer_a1"), person_id=b.pk)
    # dealer B1 sees the move of its customer's record, but not the name of A1's customer
    status, html = lineage(client, world, "dealer_b1", b)
    assert status == 200 and "B-1" in html and "已撤销" in html
    assert f"#{a.pk}" in html and "王*伟" not in html
    # and a butler of A1 or a region manager sees exactly what their scope allows
    assert lineage(client, world, "butler_a1", b)[0] == 404
    assert lineage(client, world, "region_east", b)[0] == 404


def test_the_lineage_costs_the_same_queries_for_one_move_or_many(client: Client, world: World) -> None:
    a, _, _ = merged(world)
    client.force_login(world.staff["hq_admin"].user)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/console/identity/persons/{a.pk}/lineage/").status_code == 200
        return len(captured)

    one = count()
    # given four more persons with records merged into a1_owner, one of them through a chain
    others: list[Any] = []
    for i in range(4):
        other = Person.objects.create(name=f"客户{i}", source="test")
        record_on(other, f"C-{i}", name=f"客户{i}")
        others.append(other)
    person_merge(actor=world.actor("hq_admin"), survivor=others[0], absorbed=others[1], reason="同一人")
    for other in (others[0], others[2], others[3]):
        person_merge(actor=world.actor("hq_admin"), survivor=a, absorbed=other, reason="同一人")
    # then the page lists them all, the chained ID too, for one query more (the chain's level)
    _, html = lineage(client, world, "hq_admin", a)
    assert all(f"C-{i}" in html for i in range(4)) and f'data-testid="redirect-{others[1].pk}"' in html
    assert count() <= one + 1

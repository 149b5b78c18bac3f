"""The review queue: who may see it, what it shows (masked), and what confirm / reject remember."""

from __future__ import annotations

import pytest
from django.test import Client

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.errors import PermissionDenied
from hufen.common.models import AuditEvent
from hufen.identity.models import LinkConstraint, ReviewPair, SourceRecord
from hufen.identity.services import RecordInput, identity_link_one, review_confirm, review_reject
from hufen.people.merge import person_unmerge
from hufen.people.models import Person, PersonMerge

pytestmark = pytest.mark.django_db

REVIEW = "/console/identity/review/"


def gray_pair() -> ReviewPair:
    """李娜 twice in Hangzhou, birth dates one digit apart: the model is not sure."""
    identity_link_one(
        actor=SYSTEM,
        record=RecordInput(
            "dms",
            "A1-5",
            {
                "name": "李娜",
                "birth_date": "1990-01-05",
                "city": "杭州市",
                "phone": "13900001111",
                "address": "西湖区文三路100号",
            },
        ),
    )
    second = identity_link_one(
        actor=SYSTEM,
        record=RecordInput("app", "u-5", {"name": "李娜", "birth_date": "1990-01-06", "city": "杭州市"}),
    )
    assert second.decision == "review", second.explanation
    return ReviewPair.objects.get()


def login(client: Client, world: World, name: str) -> Client:
    client.force_login(world.staff[name].user)
    return client


def test_hq_sees_the_pair_masked_with_per_field_weights(client: Client, world: World) -> None:
    pair = gray_pair()
    page = login(client, world, "hq_operator").get(REVIEW)
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-pair="{pair.pk}"' in html
    assert "李*" in html and "139****1111" in html and "西湖区****" in html
    assert "李娜" not in html and "13900001111" not in html and "文三路100号" not in html
    # per-field evidence, in Chinese, with weights
    assert "出生日期" in html and "差一位数字" in html
    assert 'href="/console/identity/review/"' in html  # the nav entry


@pytest.mark.parametrize("name", ["dealer_a1", "butler_a1", "region_east", "dealer_b1"])
def test_staff_outside_hq_cannot_see_or_decide(client: Client, world: World, name: str) -> None:
    pair = gray_pair()
    client = login(client, world, name)
    assert client.get(REVIEW).status_code == 403
    assert client.post(f"{REVIEW}{pair.pk}/confirm/").status_code == 403
    assert 'href="/console/identity/review/"' not in client.get("/console/").content.decode()
    pair.refresh_from_db()
    assert pair.status == "open" and not LinkConstraint.objects.exists()
    with pytest.raises(PermissionDenied):
        review_reject(actor=world.actor(name), pair_id=pair.pk)


def test_reject_remembers_a_cannot_link_that_holds_online(client: Client, world: World) -> None:
    pair = gray_pair()
    response = login(client, world, "hq_admin").post(f"{REVIEW}{pair.pk}/reject/", {"reason": "生日不同"})
    assert response.status_code == 302
    pair.refresh_from_db()
    assert pair.status == "rejected" and pair.decided_by
    constraint = LinkConstraint.objects.get()
    assert (constraint.kind, constraint.record_a_id, constraint.record_b_id) == (
        "cannot",
        pair.record_a_id,
        pair.record_b_id,
    )
    event = AuditEvent.objects.get(action="identity.review_reject")
    assert event.reason == "生日不同" and event.actor_label
    # when the app record is re-sent with the birth date corrected to match, the cannot-link holds
    again = identity_link_one(
        actor=SYSTEM,
        record=RecordInput("app", "u-5", {"name": "李娜", "birth_date": "1990-01-05", "city": "杭州市"}),
    )
    assert again.person_id == pair.record_b.person_id != pair.record_a.person_id
    # and deciding twice is refused
    response = client.post(f"{REVIEW}{pair.pk}/confirm/", follow=True)
    assert "这对记录已经处理过" in response.content.decode()
    assert LinkConstraint.objects.get().kind == "cannot"


def test_confirm_merges_the_persons_and_unmerge_moves_the_records_back(world: World) -> None:
    pair = gray_pair()
    a, b = pair.record_a, pair.record_b
    review_confirm(actor=world.actor("hq_admin"), pair_id=pair.pk, reason="同一人：门店核实")
    merge = PersonMerge.objects.get()
    assert (merge.survivor_id, merge.absorbed_id) == (a.person_id, b.person_id)  # older person survives a tie
    assert Person.objects.get(pk=b.person_id).status == "merged"
    assert set(SourceRecord.objects.values_list("person_id", flat=True)) == {a.person_id}
    assert LinkConstraint.objects.get().kind == "must"
    assert AuditEvent.objects.filter(action="identity.review_confirm").exists()
    # the unmerge (people.merge) calls identity_on_unmerge: the record goes back to its person
    person_unmerge(actor=world.actor("hq_admin"), merge=merge, reason="核实错误")
    assert SourceRecord.objects.get(pk=b.pk).person_id == b.person_id


def test_person_360_lists_the_source_records_masked(client: Client, world: World) -> None:
    person = world.persons["a1_owner"]
    result = identity_link_one(
        actor=SYSTEM,
        record=RecordInput("dms", "A1-2025-0001", {"name": "王小伟", "phone": "138 1234 5678"}),
    )
    # the record links to the existing person by phone? No: the world's persons have no source
    # records, so the record makes its own person; attach it to a1_owner through a merge instead.
    from hufen.people.merge import person_merge

    assert result.person_id is not None

    person_merge(
        actor=world.actor("hq_admin"),
        survivor=person,
        absorbed=Person.objects.get(pk=result.person_id),
        reason="同一手机号",
    )
    html = login(client, world, "dealer_a1").get(f"/console/persons/{person.pk}/").content.decode()
    assert 'data-testid="source-records"' in html
    assert "A1-2025-0001" in html and "王*伟" in html and "138****5678" in html
    assert "13812345678" not in html
    # a dealer that cannot see the person gets no page, hence no records
    assert login(client, world, "dealer_b1").get(f"/console/persons/{person.pk}/").status_code == 404


def test_the_queue_costs_the_same_queries_for_one_pair_or_many(
    client: Client, world: World, django_assert_max_num_queries: object
) -> None:
    gray_pair()
    client = login(client, world, "hq_admin")
    client.get(REVIEW)  # warm the session
    for i in range(5):
        a = identity_link_one(
            actor=SYSTEM, record=RecordInput("dms", f"Q-{i}", {"name": f"周{i}杰", "birth_date": "1991-02-03"})
        )
        b = identity_link_one(
            actor=SYSTEM, record=RecordInput("app", f"Q-{i}", {"name": f"周{i}杰", "birth_date": "1991-02-04"})
        )
        assert a.record_id is not None and b.record_id is not None
        ReviewPair.objects.get_or_create(
            record_a_id=min(a.record_id, b.record_id),
            record_b_id=max(a.record_id, b.record_id),
            defaults={"probability": 0.6, "match_weight": 0.5},
        )
    assert ReviewPair.objects.filter(status="open").count() == 6
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        page = client.get(REVIEW)
    assert page.content.decode().count('data-testid="pair"') == 6

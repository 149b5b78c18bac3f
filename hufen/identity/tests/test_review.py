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


def gray_zone_for(a: dict[str, str], b: dict[str, str]) -> None:
    """Store a model (the bundled weights) whose gray zone holds the pair (a, b): the queue tests do
    not depend on where the current training happens to put one pair."""
    from hufen.identity.linking import normalize_record
    from hufen.identity.services import identity_model_store
    from hufen.identity.weights import Scorer, load_default

    parameters = load_default()
    p = Scorer(parameters).score(normalize_record(a), normalize_record(b)).probability
    assert 0.0 < p < 1.0, p
    thresholds = {"merge": p + (1.0 - p) / 2, "review": p / 2}
    identity_model_store(
        actor=SYSTEM, parameters={**parameters, "thresholds": thresholds}, trained_on="test", records=0
    )


GRAY_A = {"name": "李娜", "birth_date": "1990-01-05", "city": "杭州市", "district": "西湖区", "phone": "13900001111"}
GRAY_B = {"name": "李娜", "birth_date": "1990-01-06", "city": "杭州市", "district": "西湖区"}


def gray_pair() -> ReviewPair:
    """李娜 twice in 杭州西湖区, birth dates one digit apart: the model is not sure."""
    gray_zone_for(GRAY_A, GRAY_B)
    identity_link_one(actor=SYSTEM, record=RecordInput("dms", "A1-5", {**GRAY_A, "address": "西湖区文三路100号"}))
    second = identity_link_one(actor=SYSTEM, record=RecordInput("app", "u-5", GRAY_B))
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
        record=RecordInput(
            "app", "u-5", {"name": "李娜", "birth_date": "1990-01-05", "city": "杭州市", "district": "西湖区"}
        ),
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


def queue_of(count: int) -> list[ReviewPair]:
    """`count` open pairs, probabilities spread over the gray zone, every third one from `leads`."""
    pairs = []
    for i in range(count):
        source = "leads" if i % 3 == 0 else "app"
        a = identity_link_one(
            actor=SYSTEM, record=RecordInput("dms", f"P-{i}", {"name": f"孙{i}琳", "phone": f"1390000{i:04d}"})
        )
        b = identity_link_one(actor=SYSTEM, record=RecordInput(source, f"P-{i}", {"name": f"孙{i}琳"}))
        assert a.record_id is not None and b.record_id is not None and a.person_id != b.person_id
        pair, _ = ReviewPair.objects.get_or_create(
            record_a_id=min(a.record_id, b.record_id),
            record_b_id=max(a.record_id, b.record_id),
            defaults={"probability": round(0.51 + 0.01 * (i % 45), 6), "match_weight": 0.5},
        )
        pairs.append(pair)
    return pairs


def pair_ids(html: str) -> list[int]:
    import re

    return [int(x) for x in re.findall(r'data-pair="(\d+)"', html)]


def test_the_queue_pages_by_keyset_masked_forwards_and_back(client: Client, world: World) -> None:
    # given 45 open pairs, two of them at the same probability on a page boundary
    pairs = queue_of(45)
    ReviewPair.objects.filter(pk__in=[pairs[24].pk, pairs[25].pk]).update(probability=0.75)
    expected = list(ReviewPair.objects.order_by("-probability", "id").values_list("id", flat=True))
    client = login(client, world, "hq_operator")
    # when the reviewer walks the queue page by page
    seen: list[int] = []
    url = REVIEW
    pages = []
    while url:
        html = client.get(url).content.decode()
        pages.append(html)
        ids = pair_ids(html)
        assert 0 < len(ids) <= 20
        seen += ids
        match = __import__("re").search(r'href="([^"]*)" data-testid="next"', html)
        url = REVIEW + match.group(1).replace("&amp;", "&") if match else ""
    # then every pair shows exactly once, in queue order, over three pages, masked
    assert seen == expected and len(pages) == 3
    assert 'data-testid="previous"' not in pages[0] and 'data-testid="previous"' in pages[2]
    assert "下一页" in pages[0] and "上一页" in pages[2]
    assert "孙1琳" not in "".join(pages) and "13900000001" not in "".join(pages)
    # and the previous link of the last page leads back to the second page
    back = __import__("re").search(r'href="([^"]*)" data-testid="previous"', pages[2])
    assert back is not None
    html = client.get(REVIEW + back.group(1).replace("&amp;", "&")).content.decode()
    assert pair_ids(html) == expected[20:40]


def test_the_queue_filters_by_source_and_probability_band(client: Client, world: World) -> None:
    pairs = queue_of(12)
    client = login(client, world, "hq_admin")
    leads = {p.pk for i, p in enumerate(pairs) if i % 3 == 0}
    assert set(pair_ids(client.get(REVIEW + "?source=leads").content.decode())) == leads
    high = set(ReviewPair.objects.filter(probability__gte=0.9).values_list("id", flat=True))
    low = set(ReviewPair.objects.filter(probability__lt=0.7).values_list("id", flat=True))
    assert not high and low  # 0.51 … 0.62: all in the low band
    assert set(pair_ids(client.get(REVIEW + "?band=low").content.decode())) == low
    html = client.get(REVIEW + "?band=high").content.decode()
    assert pair_ids(html) == [] and 'data-testid="empty"' in html
    # the filters travel with the page links and the source menu lists the queue's sources
    assert '<option value="leads"' in html and '<option value="app"' in html


def test_a_damaged_page_link_says_so_and_shows_the_first_page(client: Client, world: World) -> None:
    queue_of(3)
    html = login(client, world, "hq_admin").get(REVIEW + "?after=abc").content.decode()
    assert "after" in html and len(pair_ids(html)) == 3 and 'data-testid="message"' in html


def test_review_queue_refuses_a_bad_band_or_cursor_by_name(world: World) -> None:
    from hufen.common.pii import FieldError
    from hufen.identity.selectors import review_queue

    hq = world.actor("hq_admin")
    with pytest.raises(FieldError, match="band"):
        review_queue(actor=hq, band="huge")
    with pytest.raises(FieldError) as bad:
        review_queue(actor=hq, before="0.5~x")
    assert bad.value.field == "before"
    with pytest.raises(FieldError, match="not both"):
        review_queue(actor=hq, after="0.5~1", before="0.6~2")


def test_unmerge_keeps_the_record_moves_as_lineage(world: World) -> None:
    from hufen.identity.models import RecordMove
    from hufen.identity.selectors import person_record_moves

    pair = gray_pair()
    a, b = pair.record_a, pair.record_b
    review_confirm(actor=world.actor("hq_admin"), pair_id=pair.pk, reason="同一人")
    merge = PersonMerge.objects.get()
    move = RecordMove.objects.get()
    assert (move.record_id, move.from_person_id, move.to_person_id) == (b.pk, b.person_id, a.person_id)
    assert move.moved_at is not None and move.restored_at is None
    # when the merge is undone
    person_unmerge(actor=world.actor("hq_admin"), merge=merge, reason="核实错误")
    # then the record is back and the move is still there, stamped as restored
    assert SourceRecord.objects.get(pk=b.pk).person_id == b.person_id
    move.refresh_from_db()
    assert move.restored_at is not None and move.note == ""
    # and both persons' lineage shows it, to HQ; a dealer outside the scope sees nothing
    for person_id in (a.person_id, b.person_id):
        [view] = person_record_moves(actor=world.actor("hq_admin"), person_id=person_id)
        assert (view.merge_id, view.record_id, view.source_key) == (merge.pk, b.pk, "u-5")
        assert view.restored_at is not None
    assert person_record_moves(actor=world.actor("dealer_b1"), person_id=a.person_id) == []


def test_an_unmerge_leaves_a_record_that_moved_on_and_notes_why(world: World) -> None:
    from hufen.identity.models import RecordMove
    from hufen.people.services import PersonInput, person_create

    pair = gray_pair()
    b = pair.record_b
    review_confirm(actor=world.actor("hq_admin"), pair_id=pair.pk)
    merge = PersonMerge.objects.get()
    # given the moved record went on to a third person since (a rebuild moved it)
    third = person_create(actor=SYSTEM, data=PersonInput(name="李娜", source="test"))
    SourceRecord.objects.filter(pk=b.pk).update(person_id=third.pk)
    # when the merge is undone, the record stays with the third person, and the move says why
    person_unmerge(actor=world.actor("hq_admin"), merge=merge)
    assert SourceRecord.objects.get(pk=b.pk).person_id == third.pk
    move = RecordMove.objects.get()
    assert move.restored_at is None and "left where it is" in move.note

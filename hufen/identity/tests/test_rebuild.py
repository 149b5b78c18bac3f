"""`identity_rebuild`: stable person IDs, merges of joined persons, reviewers' constraints survive."""

from __future__ import annotations

import pytest

from hufen.common.actors import SYSTEM
from hufen.identity.models import Identifier, ModelParameters, ReviewPair, SourceRecord
from hufen.identity.rebuild import assign, identity_rebuild
from hufen.identity.services import RecordInput, identity_link, identity_link_one, review_confirm, review_reject
from hufen.identity.synthetic import generate
from hufen.people.models import Person

pytestmark = pytest.mark.django_db

FIELDS = ("name", "phone", "email", "id_number", "birth_date", "gender", "province", "city", "district", "address")


def background(n: int = 300) -> None:
    """Noisy multi-source records so that the batch model has something to train on."""
    records = []
    for row, _ in generate(n, seed=11):
        fields = {k: row[k] for k in FIELDS if row.get(k)}
        fields["wechat_unionid"] = row.get("wechat_unionid", "")
        fields["vin"] = row.get("vin", "")
        records.append(RecordInput(source="bg", source_key=row["record_id"], fields=fields))
    for start in range(0, len(records), 100):
        identity_link(actor=SYSTEM, records=records[start : start + 100])


def link(source: str, key: str, **fields: str) -> int:
    result = identity_link_one(actor=SYSTEM, record=RecordInput(source, key, fields))
    assert result.person_id is not None
    return result.person_id


def pair_of(a: str, b: str) -> ReviewPair:
    """A queue entry for two records (as if the model had been unsure), for a reviewer to decide."""
    ra, rb = sorted(SourceRecord.objects.filter(source_key__in=[a, b]).values_list("pk", flat=True))
    return ReviewPair.objects.create(record_a_id=ra, record_b_id=rb, probability=0.7, match_weight=1.2)


def person_of(key: str) -> int:
    return SourceRecord.objects.get(source_key=key).person_id


def test_assign_keeps_ids_and_merges_persons_that_a_cluster_joins() -> None:
    current = {1: 10, 2: 10, 3: 11, 4: 12, 5: 12, 6: 13}
    clusters = {"a": [1, 2, 3], "b": [4], "c": [5], "d": [6]}
    target, merges = assign(clusters, current)
    # 10 holds most of cluster a and keeps it; 11 is wholly inside a → merged into 10;
    # 12 is split: it keeps one of its clusters, the other gets a new person; 13 is untouched
    assert target["a"] == 10 and merges == [(10, 11)]
    assert {target["b"], target["c"]} == {12, None}
    assert target["d"] == 13


def test_rebuild_keeps_ids_and_honours_reviewers(world: object) -> None:
    background()
    # untouched: a person with two records joined by a phone
    kept = link("dms", "K-1", name="钱多多", phone="13611110000", gender="女", birth_date="1988-08-08")
    assert link("app", "K-2", name="钱多多", phone="136 1111 0000") == kept
    # joined: two persons that a third record bridges (phone of one, email of the other)
    p1 = link("dms", "J-1", name="孔明亮", phone="13722220000", city="南京市")
    p2 = link("app", "J-2", name="孔明亮", email="kml@example.com", city="南京市", birth_date="1979-02-03")
    assert p1 != p2
    # (online, the bridge joins the two at once, as the rebuild's connected components will)
    bridged = link("leads", "J-3", name="孔明亮", phone="13722220000", email="kml@example.com")
    assert bridged in {p1, p2}
    other = p2 if bridged == p1 else p1
    assert person_of("J-1") == person_of("J-2") == bridged
    # must-link: a reviewer said these two differing records are one person
    m1 = link("dms", "M-1", name="李强", phone="13833330000", birth_date="1980-01-01", city="西安市")
    m2 = link("service", "M-2", name="李强", phone="13944440000", birth_date="1981-01-01", city="成都市")
    assert m1 != m2
    review_confirm(actor=SYSTEM, pair_id=pair_of("M-1", "M-2").pk, reason="店内核实")
    # cannot-link: a reviewer said two records sharing name and phone are a father and a son
    c = link("dms", "C-1", name="赵刚", phone="13555550000", city="济南市")
    assert link("service", "C-2", name="赵刚", phone="135 5555 0000") == c
    review_reject(actor=SYSTEM, pair_id=pair_of("C-1", "C-2").pk, reason="父子同名同号")
    persons_before = dict(SourceRecord.objects.values_list("source_key", "person_id"))

    summary = identity_rebuild(actor=SYSTEM)

    assert summary.records == SourceRecord.objects.count()
    assert summary.seconds["total"] > 0 and ModelParameters.objects.filter(pk=summary.model_id).exists()
    # untouched persons keep their IDs
    assert person_of("K-1") == person_of("K-2") == kept
    # the bridged persons are one now, under the one holding most records; the other redirects
    assert person_of("J-1") == person_of("J-2") == person_of("J-3") == bridged
    absorbed = Person.objects.get(pk=other)
    assert (absorbed.status, absorbed.merged_into_id) == ("merged", bridged)
    # the must-link holds, the cannot-link splits: C-1 keeps the id, C-2 gets a person of its own
    assert person_of("M-1") == person_of("M-2") == m1
    assert person_of("C-1") == c and person_of("C-2") != c
    assert Identifier.objects.get(record__source_key="C-2").person_id == person_of("C-2")
    # and most background persons kept their IDs
    bg = [k for k in persons_before if k.startswith("R")]
    unchanged = sum(1 for k in bg if persons_before[k] == person_of(k))
    assert unchanged / len(bg) > 0.95

    # a second rebuild with no new evidence changes nothing
    before = dict(SourceRecord.objects.values_list("source_key", "person_id"))
    again = identity_rebuild(actor=SYSTEM)
    assert again.records_moved == 0 and again.merges == 0 and again.new_persons == 0
    assert dict(SourceRecord.objects.values_list("source_key", "person_id")) == before

"""A record that links to two persons joins them, as a rebuild's connected components do.

Online linking decides one record at a time; the batch engine sees every record at once and takes
connected components over the accepted links. When a later record links to a person and also to
another one (kept apart earlier for lack of evidence), the rebuild makes them one person: online
linking must too, or the two disagree (issue 3: online equals a rebuild for >= 99.9 % of records).
Each test builds the situation by hand and then checks that a rebuild moves nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from hufen.common.actors import SYSTEM
from hufen.common.models import AuditEvent
from hufen.identity.models import RecordMove, ReviewPair, SourceRecord
from hufen.identity.rebuild import identity_rebuild
from hufen.identity.services import RecordInput, identity_link_one, review_reject
from hufen.identity.tests.test_rebuild import background, pair_of
from hufen.people.merge import person_resolve_id, person_unmerge
from hufen.people.models import Person, PersonMerge

pytestmark = pytest.mark.django_db

URUMQI = {"province": "新疆维吾尔自治区", "city": "乌鲁木齐市", "district": "新市区"}
CHENGDU = {"province": "四川省", "city": "成都市", "district": "金牛区"}
# 李军 of Urumqi: service records with his ID number, a WeChat record with an address only.
LI_JUN_ID = {"name": "李军", "birth_date": "1986-07-13", "gender": "男", "id_number": "650104198607130011"}
LI_JUN_ADDRESS = "放路700号25栋"
# 梁娜 of Chengdu: a merchant record with her phone, a WeChat record with her birth date and address.
LIANG_NA = {"name": "梁娜", "gender": "女"}
LIANG_NA_PHONE = "14500145742"
LIANG_NA_DETAILS = {"birth_date": "1989-03-17", "address": "放路763号21栋"}


def link(source: str, key: str, **fields: str) -> tuple[int, str, dict[str, Any]]:
    result = identity_link_one(actor=SYSTEM, record=RecordInput(source=source, source_key=key, fields=fields))
    assert result.person_id is not None
    return result.person_id, result.decision, result.explanation


def persons() -> dict[str, int]:
    return dict(SourceRecord.objects.values_list("source_key", "person_id"))


def li_jun_service(key: str, **more: str) -> tuple[int, str, dict[str, Any]]:
    return link("service", key, **LI_JUN_ID, **more, **URUMQI)


def li_jun_wechat(**more: str) -> tuple[int, str, dict[str, Any]]:
    return link("wechat", "W-1", name="李军", gender="男", address=LI_JUN_ADDRESS, **more, **URUMQI)


def li_jun_bridge() -> tuple[int, str, dict[str, Any]]:
    """A service record with the ID number and the WeChat record's exact address."""
    return li_jun_service("S-2", address=LI_JUN_ADDRESS)


def liang_na_merchant() -> tuple[int, str, dict[str, Any]]:
    return link("merchant", "M-1", **LIANG_NA, phone=LIANG_NA_PHONE)


def liang_na_wechat(**more: str) -> tuple[int, str, dict[str, Any]]:
    return link("wechat", "W-2", **LIANG_NA, **LIANG_NA_DETAILS, **more, **CHENGDU)


def liang_na_bridge() -> tuple[int, str, dict[str, Any]]:
    """A service record with the merchant's phone and the WeChat record's birth date and address."""
    return link("service", "S-3", **LIANG_NA, **LIANG_NA_DETAILS, phone=LIANG_NA_PHONE, **CHENGDU)


def test_a_later_record_joins_an_earlier_gray_zone_person_by_the_model() -> None:
    # given 李军 with an ID number and a phone, and a WeChat 李军 in the same district without a
    # birth date: too little to merge, so a person of its own, waiting for a reviewer
    first, _, _ = li_jun_service("S-1", phone="13900007001")
    wechat, decision, _ = li_jun_wechat()
    assert (decision, wechat != first) == ("review", True)
    # when a service record arrives with the ID number and the WeChat record's exact address
    joined, decision, why = li_jun_bridge()
    # then it links by the ID number and joins the WeChat person: one person, the other redirects
    assert (joined, decision, why["rule"]) == (first, "linked", "id_card")
    assert [(j["person_id"], j["rule"], j["merged_into"]) for j in why["joined"]] == [(wechat, "model", first)]
    assert why["joined"][0]["probability"] >= why["thresholds"]["merge"]
    assert set(persons().values()) == {first}
    assert person_resolve_id(wechat) == first
    merge = PersonMerge.objects.get(absorbed_id=wechat)
    assert merge.actor_label == SYSTEM.label and "service:S-2" in merge.reason
    assert AuditEvent.objects.filter(action="identity.link", summary__joined=[wechat]).exists()


def test_a_later_record_joins_two_persons_by_a_phone_and_the_model() -> None:
    # given a merchant record with only a name and a phone, and a WeChat record with a birth date
    # and an address: nothing to compare them by, so two persons
    merchant, _, _ = liang_na_merchant()
    wechat, _, _ = liang_na_wechat(wechat_unionid="oU-783916")
    assert merchant != wechat
    # when a service record has the merchant's phone and the WeChat record's birth date and address
    joined, decision, why = liang_na_bridge()
    # then it links by the phone and joins the WeChat person (both hold one record: the older survives)
    assert (decision, why["rule"]) == ("linked", "phone")
    assert joined == merchant == min(merchant, wechat)
    assert [j["person_id"] for j in why["joined"]] == [wechat]
    assert set(persons().values()) == {merchant}


def test_a_join_that_would_hold_two_id_numbers_goes_to_review() -> None:
    # given the WeChat 李军 of the first test, but now with an ID number of his own
    first, _, _ = li_jun_service("S-1")
    other, _, _ = li_jun_wechat(id_number="650104198607139999")
    assert other != first
    # when the bridging record arrives
    joined, decision, why = li_jun_bridge()
    # then it links by its ID number and leaves the other apart: a person holds one ID number
    assert (joined, decision) == (first, "linked") and "joined" not in why
    assert Person.objects.get(pk=other).status == "active"
    assert persons()["W-1"] == other


def test_a_reviewers_cannot_link_keeps_a_join_apart() -> None:
    # given two records a reviewer said are two persons
    first, _, _ = liang_na_merchant()
    second, _, _ = liang_na_wechat()
    review_reject(actor=SYSTEM, pair_id=pair_of("M-1", "W-2").pk, reason="两人同名")
    # when a record links to both
    joined, decision, why = liang_na_bridge()
    # then it links to one and the other stays apart, the pair on the review queue
    assert (joined, decision) == (first, "linked") and "joined" not in why
    assert persons()["W-2"] == second
    s3 = SourceRecord.objects.get(source_key="S-3").pk
    w2 = SourceRecord.objects.get(source_key="W-2").pk
    assert ReviewPair.objects.filter(record_a_id=min(s3, w2), record_b_id=max(s3, w2), status="open").exists()


def test_a_join_can_be_undone_like_any_merge() -> None:
    merchant, _, _ = liang_na_merchant()
    wechat, _, _ = liang_na_wechat()
    liang_na_bridge()
    merge = PersonMerge.objects.get(absorbed_id=wechat)
    assert RecordMove.objects.filter(merge_id=merge.pk).count() == 1
    person_unmerge(actor=SYSTEM, merge=merge, reason="核实为两人")
    assert persons() == {"M-1": merchant, "W-2": wechat, "S-3": merchant}


def test_online_joins_agree_with_a_rebuild() -> None:
    # given a population the batch model trains on, and the two bridging situations above
    background()
    li_jun_service("S-1", phone="13900007001")
    li_jun_wechat()
    li_jun_bridge()
    liang_na_merchant()
    liang_na_wechat()
    liang_na_bridge()
    online = persons()
    assert online["S-1"] == online["W-1"] == online["S-2"] and online["M-1"] == online["W-2"] == online["S-3"]
    # when the batch engine re-clusters everything
    identity_rebuild(actor=SYSTEM)
    # then the records of the joined persons stay where online linking put them
    after = persons()
    assert {k: after[k] for k in ("S-1", "W-1", "S-2", "M-1", "W-2", "S-3")} == {
        k: online[k] for k in ("S-1", "W-1", "S-2", "M-1", "W-2", "S-3")
    }

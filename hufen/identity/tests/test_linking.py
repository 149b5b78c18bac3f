"""Online linking decisions: identifiers, contradictions, the model's gray zone, idempotency."""

from __future__ import annotations

from typing import Any

import pytest

from hufen.common.actors import SYSTEM
from hufen.common.errors import PermissionDenied
from hufen.common.models import AuditEvent
from hufen.common.pii import FieldError
from hufen.identity.models import Identifier, ReviewPair, SourceRecord
from hufen.identity.services import RecordInput, identity_link, identity_link_one
from hufen.people.models import ContactPoint, Person

pytestmark = pytest.mark.django_db


def link(source: str, key: str, **fields: str) -> tuple[int, str, dict[str, Any]]:
    result = identity_link_one(actor=SYSTEM, record=RecordInput(source=source, source_key=key, fields=fields))
    assert result.person_id is not None
    return result.person_id, result.decision, result.explanation


def test_same_person_with_phone_format_variants_is_one_person() -> None:
    # given a DMS record
    first, decision, _ = link("dms", "A1-1", name="王小伟", phone="+86 138 1234 5678", gender="男")
    assert decision == "new"
    # when the app and a lead platform send the same human with other phone formats
    second, d2, why = link("app", "u-77", name="王小伟", phone="86-13812345678")
    third, d3, _ = link("leads", "L-9", name="王先生", phone="138-1234-5678")
    # then all three are one person, linked by the phone
    assert first == second == third
    assert (d2, d3) == ("linked", "linked")
    assert why["rule"] == "phone" and why["candidate"] == {"person_id": first, "record": "dms:A1-1"}
    assert "name" in why["evidence"] and isinstance(why["evidence"]["name"]["match_weight"], float)
    assert Person.objects.count() == 1
    assert ContactPoint.objects.filter(person_id=first, kind="phone").count() == 1


def test_couple_sharing_a_phone_are_two_persons() -> None:
    # given a husband registered with the family phone
    husband, _, _ = link("dms", "A1-2", name="张建国", phone="13912340001", gender="男", birth_date="1979-05-01")
    # when his wife arrives from the app with the same phone
    wife, decision, why = link("app", "u-88", name="李秀英", phone="139 1234 0001", gender="女")
    # then she is a new person, and the explanation says why the shared phone did not link
    assert wife != husband
    assert decision == "new"
    assert why["contradictions"][0]["person_id"] == husband
    # and the phone index holds both records, each with its own person
    assert set(Identifier.objects.filter(kind="phone").values_list("person_id", flat=True)) == {husband, wife}


HOME = {
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "address": "浙江省杭州市西湖区文三路100号3幢501室",
}


@pytest.mark.parametrize(
    ("owner", "relative"),
    [("杨娜", "杨志强"), ("王娜", "杨志强"), ("张伟", "张桂兰"), ("陈建华", "陈家豪"), ("李子轩", "李梓涵")],
)
def test_a_relative_on_the_household_phone_and_address_is_another_person(owner: str, relative: str) -> None:
    # given the owner, with gender, birth date and home address
    owned, _, _ = link("dms", "H-1", name=owner, phone="13912340001", gender="女", birth_date="1985-03-02", **HOME)
    # when another name arrives on the same phone and address, without gender or birth date (the
    # phone and the address alone outweigh the different name in the model: p ≈ 0.998)
    other, decision, why = link("wechat", "H-2", name=relative, phone="+86 139 1234 0001", address=HOME["address"])
    # then it is a person of its own, and the explanation says which person it contradicts and why
    assert other != owned and decision == "new"
    assert why["rule"] == "contradiction" and why["candidate"]["person_id"] == owned
    assert why["contradictions"] == [
        {"person_id": owned, "record": "dms:H-1", "shared": ["phone"], "reason": "names differ"}
    ]
    assert SourceRecord.objects.get(source_key="H-2").person_id == other != owned


def test_a_contradicted_person_is_not_reached_through_another_of_its_records() -> None:
    # given the owner's person holding two records: one with the household phone, one with her own
    owned, _, _ = link("dms", "H-3", name="杨娜", phone="13912340001", gender="女", **HOME)
    again, _, _ = link("app", "H-4", name="杨娜", phone="13912340001", email="yangna@qq.com", **HOME)
    assert again == owned
    # when 杨志强 arrives on the household phone with an email typed by the owner's app
    other, decision, why = link("leads", "H-5", name="杨志强", phone="13912340001", email="yangna@qq.com")
    # then the shared email cannot link him either: a record of that person contradicts his
    assert other != owned and decision == "new" and why["rule"] == "contradiction"


@pytest.mark.parametrize(
    ("variant", "rule"),
    [
        ("王小伟", "phone"),  # the same name
        ("王晓伟", "phone"),  # a homophone
        ("王小玮", "phone"),  # another homophone
        ("王少伟", "phone"),  # one character mistyped in a three-character name
        ("王曉偉", "phone"),  # traditional characters (a homophone once simplified)
        ("王先生", "phone"),  # surname and honorific only
        ("Xiaowei Wang", "phone"),  # pinyin, given name first
        ("WANG xiaowei", "phone"),  # pinyin, family name first
        ("Xiaowie Wang", "phone"),  # pinyin with a typo
    ],
)
def test_spellings_of_one_name_on_a_shared_phone_still_link(variant: str, rule: str) -> None:
    owned, _, _ = link("dms", "V-1", name="王小伟", phone="13812345678", gender="男", **HOME)
    linked, decision, why = link("app", "V-2", name=variant, phone="138-1234-5678")
    assert (linked, decision, why["rule"]) == (owned, "linked", rule), why


def test_wang_wei_with_different_birth_dates_are_two_persons() -> None:
    a, _, _ = link("dms", "A1-3", name="王伟", birth_date="1985-03-02", city="杭州市", district="西湖区")
    b, decision, _ = link("dms", "A1-4", name="王伟", birth_date="1990-11-20", city="杭州市", district="西湖区")
    assert a != b and decision == "new"


def test_same_name_birth_date_and_district_without_identifier_merges_by_the_model() -> None:
    a, _, _ = link(
        "dms", "B1-1", name="欧阳娜娜", birth_date="1992-07-15", city="广州市", district="天河区", gender="女"
    )
    b, decision, why = link(
        "leads", "L-10", name="歐陽娜娜", birth_date="1992年7月15日", city="广州", district="天河区", gender="F"
    )
    assert (b, decision) == (a, "linked")
    assert why["rule"] == "model" and why["probability"] >= why["thresholds"]["merge"]
    assert why["evidence"]["birth_date"]["level"] == "same date"


def test_gray_zone_goes_to_a_new_person_and_the_review_queue() -> None:
    # given 李娜 in 杭州西湖区 born 1990-01-05
    from hufen.identity.tests.test_review import gray_zone_for

    place = {"province": "浙江省", "city": "杭州市", "district": "西湖区"}
    gray_zone_for(
        {"name": "李娜", "birth_date": "1990-01-05", **place}, {"name": "李娜", "birth_date": "1990-01-06", **place}
    )
    a, _, _ = link("dms", "A1-5", name="李娜", birth_date="1990-01-05", **place)
    # when a record agrees on name and district but its birth date is one digit off
    b, decision, why = link("app", "u-5", name="李娜", birth_date="1990-01-06", **place)
    # then it is kept apart for now and the pair waits for a reviewer
    assert why["rule"] == "model"
    assert why["thresholds"]["review"] <= why["probability"] < why["thresholds"]["merge"], why
    assert decision == "review" and a != b
    pair = ReviewPair.objects.get()
    assert pair.status == "open" and {pair.record_a.person_id, pair.record_b.person_id} == {a, b}


def test_same_id_number_links_despite_a_new_phone_and_is_never_stored_in_clear() -> None:
    id_number = "11010519491231002X"
    a, _, _ = link("dms", "A1-6", name="赵敏", id_number=id_number, phone="13800001111")
    b, decision, why = link("service", "S-1", name="赵敏", id_number=id_number.lower(), phone="13600002222")
    assert (b, decision, why["rule"]) == (a, "linked", "id_card")
    for record in SourceRecord.objects.all():
        text = str(record.raw) + str(record.normalized) + str(record.explanation)
        assert id_number not in text and id_number.lower() not in text
        assert record.raw["id_number_hint"] == "110105********002X"
    assert not AuditEvent.objects.filter(summary__icontains=id_number).exists()


def test_two_different_id_numbers_never_link_even_with_a_shared_phone() -> None:
    a, _, _ = link("dms", "A1-7", name="陈静", id_number="11010519491231002X", phone="15012340002")
    b, decision, _ = link("dms", "A1-8", name="陈静", id_number="11010519900307873X", phone="15012340002")
    assert a != b and decision == "new"


def test_resend_is_idempotent_and_an_update_re_evaluates() -> None:
    record = RecordInput(source="app", source_key="u-1", fields={"name": "黄建国", "phone": "18612340003"})
    first = identity_link_one(actor=SYSTEM, record=record)
    again = identity_link_one(actor=SYSTEM, record=record)
    assert (again.person_id, again.decision, again.record_id) == (first.person_id, first.decision, first.record_id)
    assert again.replayed and not again.created
    assert SourceRecord.objects.count() == 1 and Person.objects.count() == 1
    # given another person with a different phone
    other, _, _ = link("dms", "B1-2", name="刘洋", phone="17712340004", gender="男")
    # when the app record is updated to that person's phone and name
    updated = identity_link_one(
        actor=SYSTEM,
        record=RecordInput(source="app", source_key="u-1", fields={"name": "刘洋", "phone": "17712340004"}),
    )
    # then it is re-evaluated: the same record, now on the other person, with its index rows
    assert (updated.record_id, updated.person_id, updated.created) == (first.record_id, other, False)
    assert set(Identifier.objects.filter(record_id=first.record_id).values_list("value", flat=True)) == {
        "+8617712340004"
    }
    assert Identifier.objects.get(record_id=first.record_id).person_id == other


def test_batch_reports_each_bad_record_and_links_the_good_ones() -> None:
    results = identity_link(
        actor=SYSTEM,
        records=[
            RecordInput(source="dms", source_key="ok-1", fields={"name": "周芳", "phone": "13712345670"}),
            RecordInput(source="DMS!", source_key="bad-1", fields={"name": "周芳"}),
            RecordInput(source="dms", source_key="bad-2", fields={"nickname": "芳芳"}),
            RecordInput(source="dms", source_key="bad-3", fields={"gender": "女"}),
            RecordInput(source="dms", source_key="ok-2", fields={"name": "吴磊", "wechat_unionid": "oUnion123"}),
        ],
    )
    assert [r.error["field"] if r.error else None for r in results] == [
        None,
        "source",
        "fields.nickname",
        "fields",
        None,
    ]
    assert SourceRecord.objects.count() == 2


def test_batch_above_the_limit_is_refused() -> None:
    records = [RecordInput(source="dms", source_key=str(i), fields={"name": "王伟"}) for i in range(501)]
    with pytest.raises(FieldError, match="at most 500"):
        identity_link(actor=SYSTEM, records=records)
    assert not SourceRecord.objects.exists()


def test_actors_without_identity_link_are_refused(world: object) -> None:
    from conftest import World

    assert isinstance(world, World)
    for name in ("dealer_a1", "butler_a1", "region_east", "merchant", "member_a2"):
        with pytest.raises(PermissionDenied):
            identity_link(
                actor=world.actor(name),
                records=[RecordInput(source="dms", source_key="x", fields={"name": "王伟"})],
            )
    assert not SourceRecord.objects.exists()


def test_an_updated_record_that_matches_nobody_keeps_its_person() -> None:
    first = identity_link_one(
        actor=SYSTEM,
        record=RecordInput(source="app", source_key="u-9", fields={"name": "马超", "phone": "13300001111"}),
    )
    moved = identity_link_one(
        actor=SYSTEM,
        record=RecordInput(source="app", source_key="u-9", fields={"name": "马超", "phone": "13300002222"}),
    )
    assert moved.person_id == first.person_id and not moved.replayed
    assert Person.objects.count() == 1


# --- statements per link: a fixed budget, however many candidates a record has --------------------

# The link's own statements: the test transaction's savepoint pair, the advisory locks (one
# statement, PostgreSQL only), one lookup, the record with its identifier and blocking-key rows and
# its name count (one statement on PostgreSQL, up to four elsewhere), the audit row and the event.
# A new person adds the people service's (savepoint, person, contact, audit, event, release), a new
# mobile on a linked person its seven (look-up, two savepoint pairs, insert, audit).
BUDGET = {"postgresql": {"new": 13, "linked": 7, "phone": 14}, "sqlite": {"new": 15, "linked": 9, "phone": 16}}


def statements(call: Any) -> tuple[Any, list[str]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        result = call()
    return result, [q["sql"][:60] for q in captured.captured_queries]


@pytest.mark.parametrize("crowd", [1, 40])
def test_a_link_costs_a_fixed_number_of_statements(crowd: int) -> None:
    from django.db import connection

    budget = BUDGET[connection.vendor]
    # given `crowd` stored namesakes born the same day in the same city (all candidates by blocking)
    for i in range(crowd):
        link("dms", f"W-{i}", name="王伟", birth_date="1985-03-02", city="杭州市", phone=f"1380000{i:04d}")
    # when a new customer arrives, then the same one again from another source, then with a new mobile
    (first, decision, _), sql = statements(lambda: link("app", "u-1", name="赵丽颖", phone="13912345678", gender="女"))
    assert decision == "new" and len(sql) <= budget["new"], sql
    (second, decision, _), sql = statements(
        lambda: link("wechat", "w-1", name="赵丽颖", phone="139 1234 5678", wechat_unionid="oX")
    )
    assert (second, decision) == (first, "linked") and len(sql) <= budget["linked"], sql
    (third, decision, why), sql = statements(
        lambda: link("leads", "L-1", name="赵丽颖", phone="13600001111", wechat_unionid="oX", gender="女")
    )
    assert (third, decision, why["rule"]) == (first, "linked", "unionid") and len(sql) <= budget["phone"], sql
    assert ContactPoint.objects.filter(person_id=first, kind="phone").count() == 2
    # and a namesake of the crowd costs what anyone costs
    (_, decision, why), sql = statements(
        lambda: link("service", "S-1", name="王伟", birth_date="1985-03-02", city="杭州市", phone="13800000000")
    )
    assert (decision, why.get("rule")) == ("linked", "phone") and len(sql) <= budget["linked"], (why, sql)


def test_records_attached_to_existing_persons_are_found_by_later_links() -> None:
    from hufen.identity.services import identity_records_attach
    from hufen.people.services import PersonInput, person_create

    id_number = "11010519491231002X"
    person = person_create(actor=SYSTEM, data=PersonInput(name="赵敏", phone="13800001111", source="dms"))
    record = RecordInput(
        source="dms", source_key="C-77", fields={"name": "赵敏", "phone": "13800001111", "id_number": id_number}
    )
    assert identity_records_attach(actor=SYSTEM, records=[(person.pk, record)]) == 1
    stored = SourceRecord.objects.get(source="dms", source_key="C-77")
    # stored as a first record that matched nobody, on the given person, the ID number never in clear
    assert (stored.person_id, stored.decision, stored.explanation["rule"]) == (person.pk, "new", "no_candidate")
    assert id_number not in str(stored.raw) and stored.raw["id_number_hint"] == "110105********002X"
    assert Identifier.objects.filter(record_id=stored.pk, kind="phone").exists()
    # and a later record from another system links to that person through it
    linked, decision, _ = link("app", "U-1", name="赵敏", phone="+86 138 0000 1111")
    assert (linked, decision) == (person.pk, "linked")
    # resending it through the linking path is recognised as the same record
    again = identity_link_one(actor=SYSTEM, record=record)
    assert (again.person_id, again.created, again.replayed) == (person.pk, False, True)

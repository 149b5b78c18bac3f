"""The matching engine without a database: quality on generated truth, and the hard rules."""

from __future__ import annotations

import numpy as np
import pytest

from hufen.common.pii import id_check_char
from hufen.identity.matching import Columns, contradiction, contradicts, names_compatible, resolve
from hufen.identity.prepare import prepare_frame, prepare_rows
from hufen.identity.schema import DEFAULT_SCHEMA
from hufen.identity.synthetic import generate, pairwise_scores


def _id(region: str, birth: str, seq: str) -> str:
    first17 = f"{region}{birth}{seq}"
    return first17 + id_check_char(first17)


@pytest.fixture(scope="module")
def generated() -> tuple[list[dict[str, str]], list[int], list[str]]:
    data = list(generate(3000, seed=7))
    records = [r for r, _ in data]
    truth = [t for _, t in data]
    return records, truth, resolve(records, DEFAULT_SCHEMA).person_ids


def test_precision_and_recall_on_noisy_multi_source_records(generated) -> None:
    # given 3,000 records of ~1,600 persons: typos, traditional characters, pinyin in either order,
    # 王先生-style lead names, phone formats, couples sharing a phone, many 王伟 and 王芳
    _, truth, persons = generated
    # then pairwise precision ≥ 0.98 and recall ≥ 0.9 (measured: precision ≈ 0.999, recall ≈ 0.94)
    scores = pairwise_scores(truth, persons)
    assert scores["precision"] >= 0.98, scores
    assert scores["recall"] >= 0.9, scores


def test_person_ids_are_the_smallest_record_id_of_the_cluster(generated) -> None:
    records, _, persons = generated
    by_person: dict[str, list[str]] = {}
    for record, person in zip(records, persons, strict=True):
        by_person.setdefault(person, []).append(record["record_id"])
    assert all(person == min(rids) for person, rids in by_person.items())


def _filler(n: int) -> list[dict[str, str]]:
    """Unrelated background records so the model has a population to estimate u from."""
    return [record | {"record_id": f"Z{i:05d}"} for i, (record, _) in enumerate(generate(n, seed=11))]


def test_contradictions() -> None:
    husband_id = _id("330106", "19800101", "001")
    wife_id = _id("330106", "19820202", "002")
    other_id = _id("110105", "19800101", "003")
    cases = [
        # a couple on one phone: two persons
        {"record_id": "A1", "name": "张伟", "phone": "13812345678", "gender": "男", "city": "杭州市"},
        {"record_id": "A2", "name": "李娜", "phone": "138-1234-5678", "gender": "女", "city": "杭州市"},
        # the same ID number with a different spelling: one person
        {"record_id": "B1", "name": "陈晓华", "id_number": husband_id},
        {"record_id": "B2", "name": "Chen Xiaohua", "id_number": husband_id.lower()},
        # two different valid ID numbers are never one person, even with name and phone shared
        {"record_id": "C1", "name": "刘洋", "phone": "13912345678", "id_number": wife_id},
        {"record_id": "C2", "name": "刘洋", "phone": "13912345678", "id_number": other_id},
        # a chain C1 — C3 — C2 through a shared email must not join the two ID numbers
        {"record_id": "C3", "name": "刘洋", "email": "liuyang@qq.com", "phone": "13912345678"},
        {"record_id": "C4", "name": "刘洋", "email": "liuyang@qq.com", "id_number": other_id},
        # an honorific-only lead name on the same phone is the same person
        {"record_id": "D1", "name": "黄先生", "phone": "+86 137 0000 1111"},
        {"record_id": "D2", "name": "黄志强", "phone": "13700001111", "gender": "M"},
        # ...but not when the title says another gender
        {"record_id": "D3", "name": "黄女士", "phone": "13700001111"},
    ]
    result = resolve(cases + _filler(300), DEFAULT_SCHEMA)
    person = dict(zip(result.record_ids, result.person_ids, strict=True))
    assert person["A1"] != person["A2"]
    assert person["B1"] == person["B2"]
    assert person["C1"] != person["C2"]
    assert person["C2"] == person["C4"]
    assert person["C3"] in {person["C1"], person["C2"]}
    assert person["D1"] == person["D2"] != person["D3"]


def test_same_input_same_person_ids_and_review_pairs_carry_evidence(generated) -> None:
    records, _, _ = generated
    result = resolve(records[:1000], DEFAULT_SCHEMA)
    assert resolve(records[:1000], DEFAULT_SCHEMA).person_ids == result.person_ids
    assert result.stats["records"] == 1000
    for pair in result.review:
        assert DEFAULT_SCHEMA.review <= pair["match_probability"] < 1.0 or pair["refused"]
        for field in pair["evidence"].values():
            assert {"level", "bayes_factor", "match_weight"} <= set(field)


def test_array_contradictions_equal_the_per_pair_rule() -> None:
    # given prepared records and pairs: namesakes, honorific names, Latin names, shared phones
    records = [r for r, _ in generate(1500, seed=17)]
    records += [
        {"record_id": "W1", "name": "魏女士", "phone": "13534466106"},
        {"record_id": "W2", "name": "Xia Wei", "phone": "13534466106"},
        {"record_id": "W3", "name": "夏先生", "phone": "13534466106"},
        {"record_id": "W4", "name": "张伟", "phone": "13534466106", "birth_date": "1980-01-01"},
        {"record_id": "W5", "name": "张玮", "phone": "13534466106", "birth_date": "1980-01-10"},
        # relatives and spellings on one household phone
        {"record_id": "W6", "name": "张桂兰", "phone": "13534466106"},
        {"record_id": "W7", "name": "Zhang Guilan", "phone": "13534466106"},
        {"record_id": "W8", "name": "张贵兰", "phone": "13534466106"},
        {"record_id": "W9", "name": "Wei Zhang", "phone": "13534466106"},
        {"record_id": "W10", "name": "Zhang Xin", "phone": "13534466106"},
        {"record_id": "W11", "name": "张秀英", "phone": "13534466106"},
    ]
    frame = prepare_frame(records, DEFAULT_SCHEMA)
    rows = prepare_rows(records, DEFAULT_SCHEMA)
    rng = np.random.default_rng(3)
    a = rng.integers(0, len(rows), 4000)
    b = rng.integers(0, len(rows), 4000)
    tail = np.arange(len(rows) - 11, len(rows))
    a = np.concatenate([a, np.repeat(tail, 11)])
    b = np.concatenate([b, np.tile(tail, 11)])
    # when checked as arrays and one pair at a time
    got = contradicts(Columns(frame), a, b, ["d_birth_date"])
    expected = [contradiction(rows[x], rows[y], ["d_birth_date"]) is not None for x, y in zip(a, b, strict=True)]
    # then both agree on every pair
    assert got.tolist() == expected


def test_honorific_name_meets_a_latin_name_in_either_order() -> None:
    # a lead form's 魏女士 and the app's "Xia Wei" (given name first) on one phone, one DMS record
    # 魏霞 on it too: one person, whichever way round the Latin name was read
    cases = [
        {"record_id": "L1", "name": "魏女士", "phone": "13534466106"},
        {"record_id": "L2", "name": "Xia Wei", "phone": "+86 135 3446 6106", "gender": "F"},
        {"record_id": "L3", "name": "魏霞", "phone": "13534466106", "gender": "女"},
    ]
    result = resolve(cases + _filler(300), DEFAULT_SCHEMA)
    person = dict(zip(result.record_ids, result.person_ids, strict=True))
    assert person["L1"] == person["L2"] == person["L3"]


def _name(name: str) -> dict[str, str]:
    return prepare_rows([{"record_id": "x", "name": name}], DEFAULT_SCHEMA)[0]


@pytest.mark.parametrize(
    ("a", "b", "compatible"),
    [
        # one name written another way: one person on a shared phone
        ("王小伟", "王晓伟", True),  # homophone
        ("王小伟", "王少伟", True),  # one character mistyped in a three-character name
        ("欧阳娜娜", "歐陽娜娜", True),  # traditional characters
        ("王小伟", "王先生", True),  # surname and honorific
        ("王小伟", "Xiaowei Wang", True),  # pinyin, either order
        ("王小伟", "Xiaowie Wang", True),  # pinyin with a typo
        ("Xia Wei", "魏霞", True),  # a Latin name read the other way round
        ("smith john", "smith jon", True),  # a Latin spelling variant
        # another name: a relative on the household phone
        ("杨娜", "杨志强", False),
        ("王娜", "杨志强", False),
        ("王强", "王倩", False),  # two-character names: one character is the whole given name
        ("王鑫", "王秀英", False),  # `wang xin` / `wang xiuying`: alike keys, only the surname agrees
        ("王子轩", "王梓涵", False),  # a homophone and another character: two changes
        ("陈建华", "陈家豪", False),
        ("王强", "张强", False),  # another surname on a two-character name
        ("Xin Wang", "王秀英", False),  # pinyin of another given name under the same surname
        ("john smith", "jane smith", False),
    ],
)
def test_names_compatible_only_for_spellings_of_one_name(a: str, b: str, compatible: bool) -> None:
    assert names_compatible(_name(a), _name(b)) is compatible
    assert names_compatible(_name(b), _name(a)) is compatible


def test_a_relative_on_the_household_phone_and_address_stays_apart_in_batch() -> None:
    # given the owner, her other records spelled differently, and her father-in-law on the
    # household's phone and address without gender or birth date
    home = {"phone": "13912340001", "city": "杭州市", "district": "西湖区", "address": "文三路100号3幢501室"}
    cases = [
        {"record_id": "H1", "name": "杨娜", "gender": "女", "birth_date": "1985-03-02", **home},
        {"record_id": "H2", "name": "楊娜", "phone": "139-1234-0001", "birth_date": "1985年3月2日"},
        {"record_id": "H3", "name": "Na Yang", "phone": "+86 139 1234 0001", "address": home["address"]},
        {"record_id": "H4", "name": "杨女士", "phone": "13912340001"},
        {"record_id": "H5", "name": "杨志强", "phone": "139 1234 0001", "address": home["address"]},
        {"record_id": "H6", "name": "杨志强", "phone": "13912340001", "city": "杭州市", "district": "西湖区"},
        # another household: mother and son on one phone, pinyin keys alike (`wang xin`, `wang xiuying`)
        {"record_id": "K1", "name": "王秀英", "phone": "13700002222", "birth_date": "1960-05-01"},
        {"record_id": "K2", "name": "王鑫", "phone": "137-0000-2222"},
        {"record_id": "K3", "name": "王秀英", "phone": "13700002222", "city": "杭州市"},
    ]
    result = resolve(cases + _filler(300), DEFAULT_SCHEMA)
    person = dict(zip(result.record_ids, result.person_ids, strict=True))
    # then the owner's spellings are one person, and each relative's records another
    assert person["H1"] == person["H2"] == person["H3"] == person["H4"]
    assert person["H5"] == person["H6"] != person["H1"]
    assert person["K1"] == person["K3"] != person["K2"]

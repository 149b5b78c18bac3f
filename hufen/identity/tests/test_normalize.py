"""Normalisers: examples for each real-world format, and properties (Hypothesis) for any text."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hufen.common.pii import id_check_char, vin_check_digit
from hufen.identity import normalize as nz
from hufen.identity.places import split_address

TEXT = st.text(max_size=40)


@pytest.mark.parametrize(
    "raw", ["+86 138 1234 5678", "86-13812345678", "138-1234-5678", "0086 13812345678", "１３８１２３４５６７８"]
)
def test_phone_formats_reach_e164(raw: str) -> None:
    assert nz.normalize_phone(raw) == nz.Normalized("+8613812345678")


@pytest.mark.parametrize("raw", ["12345", "138123456789", "+1 415 555 0100", "not a phone"])
def test_invalid_phone_is_flagged_not_raised(raw: str) -> None:
    assert nz.normalize_phone(raw) == nz.Normalized(None, invalid=True)


def test_empty_phone_is_missing_not_invalid() -> None:
    assert nz.normalize_phone("  ") == nz.Normalized(None, invalid=False)


@given(TEXT)
def test_phone_never_raises_and_is_idempotent(raw: str) -> None:
    once = nz.normalize_phone(raw)
    if once.value:
        assert nz.normalize_phone(once.value).value == once.value


@given(st.sampled_from(["138", "139", "150", "186", "199"]), st.integers(0, 10**8 - 1))
def test_phone_round_trip_through_display_formats(prefix: str, rest: int) -> None:
    national = f"{prefix}{rest:08d}"
    spaced = f"+86 {national[:3]} {national[3:7]} {national[7:]}"
    assert nz.normalize_phone(spaced).value == nz.normalize_phone(f"86-{national}").value == f"+86{national}"


@pytest.mark.parametrize(
    ("raw", "full", "key", "gender", "honorific"),
    [
        ("王伟", "王伟", "wang wei", None, False),
        (" 王　偉 ", "王伟", "wang wei", None, False),  # full-width space, traditional
        ("Wang Wei", "wang wei", "wang wei", None, False),
        ("Wei Wang", "wei wang", "wang wei", None, False),
        ("WANG wei", "wang wei", "wang wei", None, False),
        ("王先生", "", "wang", "M", True),
        ("李女士", "", "li", "F", True),
        ("欧阳女士", "", "ouyang", "F", True),
        ("单田芳", "单田芳", "shan tianfang", None, False),  # surname reading shan, not dan
        ("歐陽娜娜", "欧阳娜娜", "nana ouyang", None, False),
    ],
)
def test_names(raw: str, full: str, key: str, gender: str | None, honorific: bool) -> None:
    name = nz.normalize_name(raw)
    assert (name.full, name.key, name.gender_hint, name.honorific_only) == (full, key, gender, honorific)


@given(TEXT)
def test_name_never_raises_and_is_idempotent(raw: str) -> None:
    once = nz.normalize_name(raw)
    if once.full:
        assert nz.normalize_name(once.full).full == once.full
        assert nz.normalize_name(once.full).key == once.key


@given(st.sampled_from(["王伟", "张小明", "欧阳娜娜", "单田芳", "李娜"]))
def test_pinyin_name_in_either_order_has_the_chinese_key(name: str) -> None:
    chinese = nz.normalize_name(name)
    latin = f"{chinese.given_pinyin.capitalize()} {chinese.surname_pinyin.upper()}"
    assert nz.normalize_name(latin).key == chinese.key


def test_id_card_lower_x_and_derived_fields() -> None:
    card, invalid = nz.parse_id_number("11010519491231002x")
    assert not invalid and card is not None
    assert (card.number, card.birth_date, card.gender, card.province) == (
        "11010519491231002X",
        dt.date(1949, 12, 31),
        "F",
        "北京市",
    )


def test_id_card_15_digits_is_upgraded() -> None:
    card, invalid = nz.parse_id_number("110105491231002")
    assert not invalid and card is not None and card.number == "11010519491231002X"


@pytest.mark.parametrize("raw", ["110105194912310021", "1101051949123100", "990105194912310020", "abc"])
def test_bad_id_cards_are_flagged(raw: str) -> None:
    assert nz.parse_id_number(raw) == (None, True)


@given(st.dates(dt.date(1900, 1, 1), dt.date(1999, 12, 31)), st.integers(0, 999))
def test_id_card_upgrade_round_trip(birth: dt.date, seq: int) -> None:
    old = f"330106{birth:%y%m%d}{seq:03d}"
    card, _ = nz.parse_id_number(old)
    assert card is not None and card.birth_date == birth
    assert nz.parse_id_number(card.number)[0] == card  # idempotent
    assert card.number[17] == id_check_char(card.number[:17])


@pytest.mark.parametrize("raw", ["1988年5月12日", "1988/5/12", "19880512", "1988-05-12", "88年5月12日", "1988.05.12"])
def test_date_formats(raw: str) -> None:
    assert nz.parse_date(raw) == dt.date(1988, 5, 12)


@pytest.mark.parametrize("raw", ["1988-02-30", "2999-01-01", "1850-01-01", "yesterday", ""])
def test_impossible_dates_are_none(raw: str) -> None:
    assert nz.parse_date(raw) is None


@given(st.dates(dt.date(1900, 1, 1), dt.date(2020, 12, 31)))
def test_date_round_trip(day: dt.date) -> None:
    for text in (
        day.isoformat(),
        f"{day.year}年{day.month}月{day.day}日",
        f"{day:%Y%m%d}",
        f"{day.year}/{day.month}/{day.day}",
    ):
        assert nz.parse_date(text) == day


@given(TEXT)
def test_date_never_raises(raw: str) -> None:
    value = nz.parse_date(raw)
    assert value is None or nz.parse_date(value.isoformat()) == value


def test_vin_and_email() -> None:
    body = "LSVAG218XE2100171"
    vin = body[:8] + vin_check_digit(body) + body[9:]
    wrong = body[:8] + ("1" if vin[8] != "1" else "2") + body[9:]
    assert nz.normalize_vin(f" {vin.lower()} ").value == vin
    assert nz.normalize_vin(wrong).invalid
    assert nz.normalize_email(" Wang.Wei@QQ.com ").value == "wang.wei@qq.com"
    assert nz.normalize_email("wang@").invalid


@given(TEXT)
def test_vin_and_email_never_raise(raw: str) -> None:
    for normalise in (nz.normalize_vin, nz.normalize_email):
        once = normalise(raw)
        if once.value:
            assert normalise(once.value).value == once.value


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        ("浙江省杭州市西湖区文三路100号", ("浙江省", "杭州市", "西湖区", "文三路100号")),
        ("浙江杭州西湖区文三路100号", ("浙江省", "杭州市", "西湖区", "文三路100号")),
        ("北京市朝阳区建国路1号", ("北京市", "北京市", "朝阳区", "建国路1号")),
        ("上海上海市浦东新区张杨路", ("上海市", "上海市", "浦东新区", "张杨路")),
        ("广西壮族自治区南宁市青秀区民族大道", ("广西壮族自治区", "南宁市", "青秀区", "民族大道")),
        ("江苏省常州市武进区湖塘镇", ("江苏省", "常州市", "武进区", "湖塘镇")),
        ("香港特别行政区中环", ("香港特别行政区", "", "", "中环")),
        ("文三路100号", ("", "", "", "文三路100号")),
    ],
)
def test_address_split(raw: str, parts: tuple[str, str, str, str]) -> None:
    address = split_address(raw)
    assert (address.province, address.city, address.district, address.rest) == parts


@given(TEXT)
def test_address_never_raises_and_rest_is_the_unparsed_tail(raw: str) -> None:
    address = split_address(raw)
    assert "".join(raw.split()).endswith(address.rest)

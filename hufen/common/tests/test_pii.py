from __future__ import annotations

import datetime as dt
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hufen.common.pii import (
    FieldError,
    hash_id_number,
    id_check_char,
    id_number_birth_date,
    id_number_gender,
    mask_id_number,
    mask_name,
    mask_phone,
    normalize_cn_mobile,
    validate_id_number,
    validate_plate,
    validate_vin,
    vin_check_digit,
)

VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


@pytest.mark.parametrize(
    "raw",
    ["13812345678", "+86 138 1234 5678", "86-13812345678", "138-1234-5678", "+8613812345678", "(+86)138 1234 5678"],
)
def test_common_phone_formats_normalise_to_e164(raw: str) -> None:
    assert normalize_cn_mobile(raw) == "+8613812345678"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "is empty"),
        ("12345", "not a valid"),
        ("+1 650 253 0000", "not a Chinese"),
        ("010-12345678", "not a"),
        ("abc", "not a phone"),
    ],
)
def test_bad_phones_are_rejected_naming_the_field(raw: str, reason: str) -> None:
    with pytest.raises(FieldError) as err:
        normalize_cn_mobile(raw)
    assert err.value.field == "phone"
    assert reason in err.value.reason


@given(st.sampled_from(["130", "135", "138", "150", "177", "186", "199"]), st.integers(0, 99_999_999))
def test_any_valid_mobile_round_trips_and_masks(prefix: str, rest: int) -> None:
    national = f"{prefix}{rest:08d}"
    e164 = normalize_cn_mobile(f"{national[:3]} {national[3:7]} {national[7:]}")
    assert e164 == "+86" + national
    assert mask_phone(e164) == f"{national[:3]}****{national[-4:]}"


def _id_number(birth: dt.date, region: str = "330106", seq: int = 123) -> str:
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_char(first17)


@given(st.dates(min_value=dt.date(1920, 1, 1), max_value=dt.date(2010, 12, 31)), st.integers(0, 999))
def test_generated_id_numbers_validate_and_reveal_birth_and_gender(birth: dt.date, seq: int) -> None:
    number = _id_number(birth, seq=seq)
    assert validate_id_number(number.lower()) == number
    assert id_number_birth_date(number) == birth
    assert id_number_gender(number) == ("M" if seq % 2 else "F")
    assert mask_id_number(number).startswith("330106") and "*" * 8 in mask_id_number(number)


@given(st.dates(min_value=dt.date(1920, 1, 1), max_value=dt.date(2010, 12, 31)), st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_change_is_caught(birth: dt.date, position: int, delta: int) -> None:
    number = _id_number(birth)
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    with pytest.raises(FieldError):
        validate_id_number(changed)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("33010619900230123X", "not a real date"),
        ("990106199001011234", "not a Chinese province"),
        ("1234", "18 characters"),
        (
            _id_number(dt.date(1990, 1, 1))[:-1] + ("0" if _id_number(dt.date(1990, 1, 1))[-1] != "0" else "1"),
            "check character",
        ),
    ],
)
def test_bad_id_numbers_name_the_reason(raw: str, reason: str) -> None:
    with pytest.raises(FieldError) as err:
        validate_id_number(raw)
    assert err.value.field == "id_number" and reason in err.value.reason


def test_id_number_with_birth_date_in_the_future_is_impossible() -> None:
    number = _id_number(dt.date(2030, 1, 1))
    with pytest.raises(FieldError, match="impossible"):
        validate_id_number(number, today=dt.date(2026, 11, 22))


def test_id_hash_is_keyed_and_stable() -> None:
    number = _id_number(dt.date(1985, 6, 15))
    assert hash_id_number(number) == hash_id_number(number)
    assert number not in hash_id_number(number) and len(hash_id_number(number)) == 64


@given(st.text(alphabet=VIN_ALPHABET, min_size=16, max_size=16))
def test_vin_with_computed_check_digit_validates(body: str) -> None:
    vin = body[:8] + vin_check_digit(body[:8] + "0" + body[8:]) + body[8:]
    assert validate_vin(vin.lower()) == vin


def test_vin_known_example_and_errors() -> None:
    assert validate_vin("1M8GDM9AXKP042788") == "1M8GDM9AXKP042788"  # the textbook example
    with pytest.raises(FieldError, match="check digit"):
        validate_vin("1M8GDM9A1KP042788")
    with pytest.raises(FieldError, match="17 characters"):
        validate_vin("LHF12345")
    with pytest.raises(FieldError, match="I, O and Q"):
        validate_vin("1M8GDM9AXKP04278O")


@pytest.mark.parametrize(
    ("name", "masked"), [("王伟", "王*"), ("王小伟", "王*伟"), ("欧阳娜娜", "欧**娜"), ("Li Lei", "L*****"), ("", "")]
)
def test_names_are_masked(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@given(st.text(alphabet=string.ascii_letters + "王李张", min_size=3, max_size=12))
def test_masked_name_never_shows_the_middle(name: str) -> None:
    masked = mask_name(name)
    assert len(masked) == len(name.strip()) and masked != name.strip()


def test_plates() -> None:
    assert validate_plate("浙A·12345") == "浙A12345"
    assert validate_plate("粤BD12345") == "粤BD12345"
    with pytest.raises(FieldError):
        validate_plate("AB12345")

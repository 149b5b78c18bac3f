"""Personal data: validation, normalisation, keyed hashing and masking.

Every validator raises `FieldError` naming the field and the reason, so an importer, a form and the
API can all report "which field, and why" in the same words.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

import phonenumbers
from django.conf import settings


class FieldError(ValueError):
    """A value rejected for a named field, with a reason a person can act on."""

    def __init__(self, field: str, reason: str, value: object = None) -> None:
        self.field = field
        self.reason = reason
        self.value = value
        super().__init__(f"{field}: {reason}")


# --- phones -----------------------------------------------------------------------------------


def normalize_cn_mobile(raw: str, field: str = "phone") -> str:
    """Return a Chinese mobile number in E.164 (`+8613812345678`) or raise FieldError."""
    text = (raw or "").strip()
    if not text:
        raise FieldError(field, "is empty", raw)
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException as exc:
        raise FieldError(field, f"{text!r} is not a phone number ({exc})", raw) from exc
    if number.country_code != 86:
        raise FieldError(field, f"{text!r} is not a Chinese number (+86)", raw)
    if not phonenumbers.is_valid_number(number):
        raise FieldError(field, f"{text!r} is not a valid Chinese mobile number", raw)
    kind = phonenumbers.number_type(number)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise FieldError(field, f"{text!r} is not a mobile number", raw)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_national(e164: str) -> str:
    return e164[3:] if e164.startswith("+86") else e164.lstrip("+")


def mask_phone(e164: str | None) -> str:
    """`+8613812345678` → `138****5678`."""
    if not e164:
        return ""
    national = phone_national(e164)
    if len(national) < 7:
        return "*" * len(national)
    return f"{national[:3]}****{national[-4:]}"


# --- names and other text ---------------------------------------------------------------------


def mask_name(name: str | None) -> str:
    """`王伟` → `王*`, `王小伟` → `王*伟`, `欧阳娜娜` → `欧**娜`, `Li Lei` → `L*****`."""
    if not name:
        return ""
    name = name.strip()
    if len(name) == 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    if name.isascii():
        return name[0] + "*" * (len(name) - 1)
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_email(email: str | None) -> str:
    if not email or "@" not in email:
        return ""
    local, domain = email.split("@", 1)
    return f"{local[:1]}***@{domain}"


def mask_address(address: str | None) -> str:
    """Keep the first few characters (street level) and hide the house number."""
    if not address:
        return ""
    keep = max(2, len(address) // 3)
    return address[:keep] + "****"


def normalize_email(raw: str, field: str = "email") -> str:
    text = (raw or "").strip().lower()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", text):
        raise FieldError(field, f"{raw!r} is not an email address", raw)
    return text


# --- resident ID-card numbers (GB 11643) ------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# Province-level codes that may open an ID number.
ID_PROVINCE_CODES = frozenset(
    {
        11,
        12,
        13,
        14,
        15,
        21,
        22,
        23,
        31,
        32,
        33,
        34,
        35,
        36,
        37,
        41,
        42,
        43,
        44,
        45,
        46,
        50,
        51,
        52,
        53,
        54,
        61,
        62,
        63,
        64,
        65,
        71,
        81,
        82,
        83,
        91,
    }
)


def id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def validate_id_number(raw: str, field: str = "id_number", today: dt.date | None = None) -> str:
    """Validate an 18-digit resident ID number and return it upper-cased.

    Checks the province code, the birth date (a real date, not in the future, not before 1900)
    and the GB 11643 check character.
    """
    text = (raw or "").strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", text):
        raise FieldError(field, "must be 18 characters: 17 digits and a digit or X", raw)
    if int(text[:2]) not in ID_PROVINCE_CODES:
        raise FieldError(field, f"region code {text[:6]} is not a Chinese province", raw)
    try:
        birth = dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError as exc:
        raise FieldError(field, f"birth date {text[6:14]} is not a real date", raw) from exc
    today = today or dt.date.today()
    if birth > today or birth.year < 1900:
        raise FieldError(field, f"birth date {birth.isoformat()} is impossible", raw)
    if id_check_char(text[:17]) != text[17]:
        raise FieldError(field, "check character does not match (a digit was mistyped)", raw)
    return text


def id_number_birth_date(id_number: str) -> dt.date:
    return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def id_number_gender(id_number: str) -> str:
    """The 17th digit is odd for men and even for women."""
    return "M" if int(id_number[16]) % 2 else "F"


def keyed_hash(value: str, purpose: str) -> str:
    """HMAC-SHA256 of a normalised identifier; equal inputs match, the input cannot be recovered."""
    key = f"{settings.PII_HASH_KEY}:{purpose}".encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def hash_id_number(id_number: str) -> str:
    return keyed_hash(id_number, "id_number")


def mask_id_number(id_number: str) -> str:
    """Show only the region and the last four: `110105**********1234`."""
    return f"{id_number[:6]}{'*' * 8}{id_number[-4:]}" if len(id_number) == 18 else "*" * len(id_number)


# --- VINs (ISO 3779 with the check digit in position 9, as GB 16735 requires) ------------------

_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    "A": 1,
    "B": 2,
    "C": 3,
    "D": 4,
    "E": 5,
    "F": 6,
    "G": 7,
    "H": 8,
    "J": 1,
    "K": 2,
    "L": 3,
    "M": 4,
    "N": 5,
    "P": 7,
    "R": 9,
    "S": 2,
    "T": 3,
    "U": 4,
    "V": 5,
    "W": 6,
    "X": 7,
    "Y": 8,
    "Z": 9,
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check_digit(vin: str) -> str:
    total = sum(_VIN_VALUES[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def validate_vin(raw: str, field: str = "vin") -> str:
    text = (raw or "").strip().upper()
    if len(text) != 17:
        raise FieldError(field, f"must be 17 characters, got {len(text)}", raw)
    bad = sorted({c for c in text if c not in _VIN_VALUES})
    if bad:
        raise FieldError(
            field, f"contains characters not allowed in a VIN: {''.join(bad)} (I, O and Q never appear)", raw
        )
    expected = vin_check_digit(text)
    if text[8] != expected:
        raise FieldError(field, f"check digit (9th character) is {text[8]}, expected {expected}", raw)
    return text


# --- plates -------------------------------------------------------------------------------------

_PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_RE = re.compile(rf"^[{_PLATE_PROVINCES}][A-HJ-NP-Z][A-HJ-NP-Z0-9]{{5,6}}$")


def validate_plate(raw: str, field: str = "plate") -> str:
    """Chinese plates: 7 characters (fuel) or 8 (new-energy green plates)."""
    text = (raw or "").strip().upper().replace(" ", "").replace("·", "")
    if not _PLATE_RE.match(text):
        raise FieldError(field, f"{raw!r} is not a Chinese licence plate", raw)
    return text

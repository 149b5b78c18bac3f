"""Validating merchant input: the unified social credit code (GB 32100-2015), coordinates inside
China, life scenarios. Every error is a `FieldError` naming the field, its reason a gettext message
(Chinese first, English when the language is English)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from hufen.common.errors import FieldError
from hufen.partners.models import SCENARIO_CHOICES

# GB 32100-2015: 31 characters (no I, O, S, V, Z), weights 3^(i) mod 31 for positions 1..17.
CREDIT_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# Registration authorities (position 1) and their organisation types (position 2).
CREDIT_AUTHORITIES = {
    "1": "12379",
    "2": "19",
    "3": "123459",
    "4": "129",
    "5": "1239",
    "6": "129",
    "7": "129",
    "8": "19",
    "9": "123",
    "A": "19",
    "N": "12345679",
    "Y": "1",
}

# China's bounding box (Zengmu Ansha to Mohe, Pamirs to Fuyuan).
LAT_RANGE = (Decimal("3.86"), Decimal("53.56"))
LNG_RANGE = (Decimal("73.50"), Decimal("135.09"))

SCENARIOS = {code for code, _ in SCENARIO_CHOICES}


def credit_check_char(first17: str) -> str:
    total = sum(CREDIT_CHARSET.index(c) * w for c, w in zip(first17, CREDIT_WEIGHTS, strict=True))
    return CREDIT_CHARSET[(31 - total % 31) % 31]


def normalize_credit_code(raw: str, field: str = "credit_code") -> str:
    """A valid unified social credit code in upper case, or FieldError saying what is wrong."""
    code = (raw or "").strip().upper()
    shown = repr(raw)
    if len(code) != 18:
        raise FieldError(field, _("%(value)s must be 18 characters") % {"value": shown}, raw)
    bad = [c for c in code if c not in CREDIT_CHARSET]
    if bad:
        chars = "".join(sorted(set(bad)))
        raise FieldError(
            field, _("%(value)s contains characters not allowed: %(chars)s") % {"value": shown, "chars": chars}, raw
        )
    types = CREDIT_AUTHORITIES.get(code[0])
    if types is None or code[1] not in types:
        message = _("%(value)s has an unknown registration authority or type %(prefix)s")
        raise FieldError(field, message % {"value": shown, "prefix": code[:2]}, raw)
    if not code[2:8].isdigit():
        message = _("%(value)s: positions 3-8 must be an administrative division code")
        raise FieldError(field, message % {"value": shown}, raw)
    expected = credit_check_char(code[:17])
    if code[17] != expected:
        message = _("%(value)s fails the check character (expected %(expected)s)")
        raise FieldError(field, message % {"value": shown, "expected": expected}, raw)
    return code


def coordinate(raw: object, field: str) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError) as exc:
        raise FieldError(field, _("%(value)s is not a number") % {"value": repr(raw)}, raw) from exc
    if not value.is_finite():
        raise FieldError(field, _("%(value)s is not a number") % {"value": repr(raw)}, raw)
    return value.quantize(Decimal("0.000001"))


def china_coordinates(lat_raw: object, lng_raw: object) -> tuple[Decimal, Decimal]:
    lat = coordinate(lat_raw, "latitude")
    lng = coordinate(lng_raw, "longitude")
    if not LAT_RANGE[0] <= lat <= LAT_RANGE[1]:
        message = _("latitude %(value)s is outside China (%(low)s–%(high)s°N)")
        raise FieldError("latitude", message % {"value": lat, "low": LAT_RANGE[0], "high": LAT_RANGE[1]}, lat_raw)
    if not LNG_RANGE[0] <= lng <= LNG_RANGE[1]:
        message = _("longitude %(value)s is outside China (%(low)s–%(high)s°E)")
        raise FieldError("longitude", message % {"value": lng, "low": LNG_RANGE[0], "high": LNG_RANGE[1]}, lng_raw)
    return lat, lng


def scenario(raw: str) -> str:
    if raw not in SCENARIOS:
        message = _("%(value)s is not one of the ten life scenarios: %(codes)s")
        raise FieldError("scenario", message % {"value": repr(raw), "codes": ", ".join(sorted(SCENARIOS))}, raw)
    return raw


def required_text(data: dict[str, object], field: str, max_length: int) -> str:
    text = str(data.get(field) or "").strip()
    if not text:
        raise FieldError(field, _("is required"))
    if len(text) > max_length:
        raise FieldError(field, _("is longer than %(n)d characters") % {"n": max_length}, text)
    return text


def optional_text(data: dict[str, object], field: str, max_length: int) -> str:
    text = str(data.get(field) or "").strip()
    if len(text) > max_length:
        raise FieldError(field, _("is longer than %(n)d characters") % {"n": max_length}, text)
    return text

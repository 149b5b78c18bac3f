"""Validating merchant input: the unified social credit code (GB 32100-2015), coordinates inside
China, life scenarios. Every error is a `FieldError` naming the field."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

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
    if len(code) != 18:
        raise FieldError(field, f"{raw!r} must be 18 characters (统一社会信用代码为 18 位)", raw)
    bad = [c for c in code if c not in CREDIT_CHARSET]
    if bad:
        raise FieldError(
            field, f"{raw!r} contains characters not allowed: {''.join(sorted(set(bad)))} (含有不允许的字符)", raw
        )
    types = CREDIT_AUTHORITIES.get(code[0])
    if types is None or code[1] not in types:
        raise FieldError(
            field,
            f"{raw!r} has an unknown registration authority/type {code[:2]!r} (登记管理部门或机构类别代码无效)",
            raw,
        )
    if not code[2:8].isdigit():
        raise FieldError(
            field, f"{raw!r}: positions 3-8 must be an administrative division code (第 3-8 位应为行政区划码)", raw
        )
    expected = credit_check_char(code[:17])
    if code[17] != expected:
        raise FieldError(
            field, f"{raw!r} fails the check character (expected {expected!r}; 校验位错误，请核对营业执照)", raw
        )
    return code


def coordinate(raw: object, field: str) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError) as exc:
        raise FieldError(field, f"{raw!r} is not a number (请输入数字)", raw) from exc
    if not value.is_finite():
        raise FieldError(field, f"{raw!r} is not a number (请输入数字)", raw)
    return value.quantize(Decimal("0.000001"))


def china_coordinates(lat_raw: object, lng_raw: object) -> tuple[Decimal, Decimal]:
    lat = coordinate(lat_raw, "latitude")
    lng = coordinate(lng_raw, "longitude")
    if not LAT_RANGE[0] <= lat <= LAT_RANGE[1]:
        raise FieldError(
            "latitude", f"{lat} is outside China ({LAT_RANGE[0]}–{LAT_RANGE[1]}°N; 坐标不在中国境内)", lat_raw
        )
    if not LNG_RANGE[0] <= lng <= LNG_RANGE[1]:
        raise FieldError(
            "longitude", f"{lng} is outside China ({LNG_RANGE[0]}–{LNG_RANGE[1]}°E; 坐标不在中国境内)", lng_raw
        )
    return lat, lng


def scenario(raw: str) -> str:
    if raw not in SCENARIOS:
        raise FieldError(
            "scenario",
            f"{raw!r} is not one of the ten life scenarios {sorted(SCENARIOS)} (请选择衣食住行娱学购健财游之一)",
            raw,
        )
    return raw


def required_text(data: dict[str, object], field: str, max_length: int) -> str:
    text = str(data.get(field) or "").strip()
    if not text:
        raise FieldError(field, "is required (必填)")
    if len(text) > max_length:
        raise FieldError(field, f"is longer than {max_length} characters (不能超过 {max_length} 个字)", text)
    return text


def optional_text(data: dict[str, object], field: str, max_length: int) -> str:
    text = str(data.get(field) or "").strip()
    if len(text) > max_length:
        raise FieldError(field, f"is longer than {max_length} characters (不能超过 {max_length} 个字)", text)
    return text

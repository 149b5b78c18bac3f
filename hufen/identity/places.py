"""Chinese addresses split into province / city / district / rest.

A compact table is enough: the province level is complete (34 units and their short forms, which
users write without the 省/市/自治区 suffix), and cities come from the demo geography plus the
rule that a city name ends in 市/州/盟/地区. Only the first two levels decide matching blocks, so
an unknown small city still splits correctly when its suffix is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from hufen.demo.geo import CITIES

# GB/T 2260 province codes → full names; the code also opens every resident ID number.
PROVINCE_BY_CODE: dict[str, str] = {
    "11": "北京市",
    "12": "天津市",
    "13": "河北省",
    "14": "山西省",
    "15": "内蒙古自治区",
    "21": "辽宁省",
    "22": "吉林省",
    "23": "黑龙江省",
    "31": "上海市",
    "32": "江苏省",
    "33": "浙江省",
    "34": "安徽省",
    "35": "福建省",
    "36": "江西省",
    "37": "山东省",
    "41": "河南省",
    "42": "湖北省",
    "43": "湖南省",
    "44": "广东省",
    "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市",
    "51": "四川省",
    "52": "贵州省",
    "53": "云南省",
    "54": "西藏自治区",
    "61": "陕西省",
    "62": "甘肃省",
    "63": "青海省",
    "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
    "71": "台湾省",
    "81": "香港特别行政区",
    "82": "澳门特别行政区",
}
MUNICIPALITIES = frozenset({"北京市", "上海市", "天津市", "重庆市"})
_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")


def _short(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


# Short and full forms → full name, longest first so 黑龙江 wins over a two-character prefix.
_PROVINCE_FORMS: list[tuple[str, str]] = sorted(
    [(form, full) for full in PROVINCE_BY_CODE.values() for form in {full, _short(full)}],
    key=lambda pair: -len(pair[0]),
)
_CITY_FORMS: list[tuple[str, str, str]] = sorted(
    [(form, city.name, city.province) for city in CITIES.values() for form in {city.name, city.short}],
    key=lambda triple: -len(triple[0]),
)
# Exact-form lookups and first-character indexes: addresses are mostly unique, so the split runs
# once per record and a scan over every form per record was the slowest step of a large batch.
_PROVINCE_EXACT = dict(_PROVINCE_FORMS)
_CITY_EXACT = {form: full for form, full, _ in _CITY_FORMS}
_PROVINCE_BY_HEAD: dict[str, list[tuple[str, str]]] = {}
for _form, _full in _PROVINCE_FORMS:
    _PROVINCE_BY_HEAD.setdefault(_form[0], []).append((_form, _full))
_CITY_BY_HEAD: dict[str, list[tuple[str, str, str]]] = {}
for _triple in _CITY_FORMS:
    _CITY_BY_HEAD.setdefault(_triple[0][0], []).append(_triple)
_CITY_RE = re.compile(r"^(.{2,6}?(?:市|自治州|州|盟|地区))")
_DISTRICT_RE = re.compile(r"^(.{1,7}?(?:新区|区|县|旗|市))")


@dataclass(frozen=True)
class Address:
    province: str = ""
    city: str = ""
    district: str = ""
    rest: str = ""


def canonical_province(text: str) -> str:
    """`浙江` / `浙江省` → `浙江省`; unknown text is returned as given."""
    text = text.strip()
    return _PROVINCE_EXACT.get(text, text)


def canonical_city(text: str) -> str:
    """`杭州` / `杭州市` → `杭州市`; unknown text keeps its own suffix."""
    text = text.strip()
    return _CITY_EXACT.get(text, text)


@lru_cache(maxsize=131072)
def split_address(text: str) -> Address:
    """Split a free-text address; missing levels stay empty, nothing is ever invented."""
    rest = "".join(text.split())
    province = city = district = ""
    for form, full in _PROVINCE_BY_HEAD.get(rest[:1], ()):
        if rest.startswith(form):
            province, rest = full, rest[len(form) :]
            break
    if province in MUNICIPALITIES:
        # 北京市朝阳区: the city is the province; tolerate a repeated 北京市.
        city = province
        for form in (province, _short(province)):
            if rest.startswith(form):
                rest = rest[len(form) :]
                break
    else:
        for form, full, prov in _CITY_BY_HEAD.get(rest[:1], ()):
            if rest.startswith(form) and (not province or prov == province):
                city, rest = full, rest[len(form) :]
                province = province or prov
                break
        else:
            match = _CITY_RE.match(rest) if province else None
            if match:
                city, rest = match.group(1), rest[match.end() :]
    if city:
        match = _DISTRICT_RE.match(rest)
        if match:
            district, rest = match.group(1), rest[match.end() :]
    return Address(province, city, district, rest)

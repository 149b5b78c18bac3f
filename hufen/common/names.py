"""Chinese names: surname-aware pinyin for search and matching."""

from __future__ import annotations

from functools import lru_cache

from pypinyin import Style, lazy_pinyin

# Compound surnames, longest first, with their surname readings.
COMPOUND_SURNAMES = {
    "欧阳": "ouyang",
    "司马": "sima",
    "上官": "shangguan",
    "诸葛": "zhuge",
    "东方": "dongfang",
    "皇甫": "huangfu",
    "尉迟": "yuchi",
    "公孙": "gongsun",
    "长孙": "zhangsun",
    "慕容": "murong",
    "令狐": "linghu",
    "司徒": "situ",
    "夏侯": "xiahou",
    "万俟": "moqi",
    "澹台": "tantai",
    "宇文": "yuwen",
    "轩辕": "xuanyuan",
    "端木": "duanmu",
    "南宫": "nangong",
    "申屠": "shentu",
}
# Single-character surnames whose surname reading differs from the common reading.
SURNAME_READINGS = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "仇": "qiu",
    "朴": "piao",
    "查": "zha",
    "区": "ou",
    "乐": "yue",
    "缪": "miao",
    "覃": "qin",
    "盖": "ge",
    "翟": "zhai",
    "黑": "he",
    "召": "shao",
    "秘": "bi",
    "折": "she",
    "种": "chong",
    "繁": "po",
    "员": "yun",
    "贲": "ben",
    "华": "hua",
    "任": "ren",
    "纪": "ji",
    "冼": "xian",
    "尉": "yu",
    "句": "gou",
    "郇": "huan",
    "隗": "wei",
    "长": "chang",
    "重": "chong",
    "都": "du",
    "朝": "chao",
    "宿": "su",
    "过": "guo",
    "沈": "shen",
    "薄": "bo",
    "燕": "yan",
    "谌": "chen",
    "柏": "bai",
    "藏": "zang",
    "卜": "bu",
}


def split_surname(name: str) -> tuple[str, str]:
    """Split a Chinese name into (surname, given name)."""
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[:2], name[2:]
    return name[:1], name[1:]


@lru_cache(maxsize=65536)
def _syllables(text: str) -> tuple[str, ...]:
    return tuple(lazy_pinyin(text, style=Style.NORMAL, errors="ignore"))


def name_syllables(name: str) -> list[str]:
    """Pinyin syllables of a name, the surname read as a surname (单 → shan, not dan)."""
    if name.isascii():
        return [part.lower() for part in name.replace("-", " ").split()]
    name = "".join(name.split())
    if not name:
        return []
    surname, given = split_surname(name)
    if surname in COMPOUND_SURNAMES:
        head = [COMPOUND_SURNAMES[surname]]
    elif surname in SURNAME_READINGS:
        head = [SURNAME_READINGS[surname]]
    else:
        head = list(_syllables(surname))
    return head + [s for ch in given for s in _syllables(ch)]


def name_pinyin(name: str) -> str:
    """`王小伟` → `wangxiaowei`."""
    return "".join(name_syllables(name)).replace("ü", "v")


def name_initials(name: str) -> str:
    """`王小伟` → `wxw`; a compound surname gives two letters (`欧阳娜娜` → `oynn`)."""
    if name.isascii():
        return "".join(p[0] for p in name_syllables(name) if p)
    name = "".join(name.split())
    if not name:
        return ""
    surname, given = split_surname(name)
    if surname in COMPOUND_SURNAMES:
        head = "".join(s[0] for s in _syllables(surname))
    else:
        reading = SURNAME_READINGS.get(surname) or (_syllables(surname) or ("",))[0]
        head = reading[:1]
    return head + "".join(s[0] for ch in given for s in _syllables(ch) if s)

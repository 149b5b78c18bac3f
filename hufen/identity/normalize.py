"""Chinese-aware normalisation of the fields ONE ID matches on.

Every function here takes arbitrary text and never raises: batch input is dirty, and one bad cell
must flag that cell, not stop a million-row file. Validation itself is reused from
`hufen.common.pii` (which raises `FieldError` for forms and the API); here its errors become flags.
Every normaliser is idempotent: feeding its output back in gives the same output.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import opencc
from opencc import OpenCC

from hufen.common import pii
from hufen.common.names import COMPOUND_SURNAMES, SURNAME_READINGS, name_syllables, split_surname
from hufen.identity.places import PROVINCE_BY_CODE

_T2S = OpenCC("t2s")


def _traditional_chars() -> frozenset[str]:
    # OpenCC (pure Python) is slow; most text has no traditional character at all, so convert
    # only text containing a character that its character table rewrites.
    table = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
    return frozenset(line.split("\t", 1)[0] for line in table.read_text(encoding="utf-8").splitlines() if line)


_TRADITIONAL = _traditional_chars()


def fold(text: object) -> str:
    """NFKC (full-width → half-width, compatibility forms) and collapse whitespace."""
    if text is None:
        return ""
    return " ".join(unicodedata.normalize("NFKC", str(text)).split())


@lru_cache(maxsize=262144)
def to_simplified(text: str) -> str:
    if text.isascii() or _TRADITIONAL.isdisjoint(text):
        return text
    return str(_T2S.convert(text))


# --- phones ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Normalized:
    """A normalised value, or None with `invalid` set when the input had text that did not parse."""

    value: str | None
    invalid: bool = False


_MOBILE = re.compile(r"^(?:\+?86|0086)?(1[3-9]\d{9})$")
_SEPARATORS = re.compile(r"[\s\-().]")


@lru_cache(maxsize=4096)
def _mobile_prefix_valid(prefix5: str) -> bool:
    # Validity of an 11-digit Chinese mobile depends only on its operator block: phonenumbers'
    # CN mobile pattern fixes at most five leading digits (1740x), so pii decides once per
    # 5-digit prefix instead of once per number (~0.5 ms a call dominated large runs).
    try:
        pii.normalize_cn_mobile(f"+86{prefix5}000000")
    except pii.FieldError:
        return False
    return True


def normalize_phone(raw: object) -> Normalized:
    """`+86 138 1234 5678`, `86-13812345678`, `138-1234-5678`, full-width digits → `+8613812345678`."""
    text = fold(raw)
    if not text:
        return Normalized(None)
    fast = _MOBILE.match(_SEPARATORS.sub("", text))
    if fast:
        national = fast.group(1)
        return Normalized(f"+86{national}") if _mobile_prefix_valid(national[:5]) else Normalized(None, True)
    try:
        return Normalized(pii.normalize_cn_mobile(text))
    except pii.FieldError:
        return Normalized(None, invalid=True)


def normalize_email(raw: object) -> Normalized:
    text = fold(raw)
    if not text:
        return Normalized(None)
    try:
        return Normalized(pii.normalize_email(text))
    except pii.FieldError:
        return Normalized(None, invalid=True)


def normalize_vin(raw: object) -> Normalized:
    text = fold(raw).replace(" ", "")
    if not text:
        return Normalized(None)
    try:
        return Normalized(pii.validate_vin(text))
    except pii.FieldError:
        return Normalized(None, invalid=True)


def normalize_identifier(raw: object) -> str | None:
    """Opaque identifiers (WeChat unionid, app user id): folded, case kept (they are case-sensitive)."""
    text = fold(raw).replace(" ", "")
    return text or None


# --- ID-card numbers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IdCard:
    number: str
    birth_date: dt.date
    gender: str  # "M" / "F"
    province: str


def upgrade_id15(text: str) -> str:
    """A 15-digit card (before 1999) → 18: insert the century 19 and append the check character."""
    first17 = text[:6] + "19" + text[6:]
    return first17 + pii.id_check_char(first17)


def parse_id_number(raw: object) -> tuple[IdCard | None, bool]:
    """(card, invalid): lower-case x accepted, 15-digit cards upgraded, checksum and date checked."""
    text = fold(raw).replace(" ", "").upper()
    if not text:
        return None, False
    if re.fullmatch(r"\d{15}", text):
        text = upgrade_id15(text)
    try:
        number = pii.validate_id_number(text)
    except pii.FieldError:
        return None, True
    province = PROVINCE_BY_CODE.get(number[:2], "")
    return IdCard(number, pii.id_number_birth_date(number), pii.id_number_gender(number), province), False


# --- dates -------------------------------------------------------------------------------------

_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    re.compile(r"^(\d{2})年(\d{1,2})月(\d{1,2})日?$"),
)


def parse_date(raw: object, today: dt.date | None = None) -> dt.date | None:
    """`1988年5月12日`, `1988/5/12`, `19880512`, `1988-05-12`, `88年5月12日` → date; else None.

    A two-digit year is the latest year not in the future (88 → 1988, 05 → 2005). Dates before 1900
    or in the future are impossible birth dates and give None.
    """
    text = fold(raw).replace(" ", "")
    text = text.split("T")[0]
    today = today or dt.date.today()
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if not match:
            continue
        year, month, day = (int(g) for g in match.groups())
        if year < 100:
            year += 2000 if 2000 + year <= today.year else 1900
        try:
            value = dt.date(year, month, day)
        except ValueError:
            return None
        return value if dt.date(1900, 1, 1) <= value <= today else None
    return None


def normalize_gender(raw: object) -> str | None:
    text = fold(raw).lower()
    if text in {"m", "male", "man", "男", "先生", "1"}:
        return "M"
    if text in {"f", "female", "woman", "女", "女士", "2"}:
        return "F"
    return None


# --- names -------------------------------------------------------------------------------------

# Honorifics after a bare surname, as lead forms and call-centre notes write them, with the gender
# they imply (None: the title says nothing about gender).
HONORIFICS: dict[str, str | None] = {
    "先生": "M",
    "女士": "F",
    "小姐": "F",
    "太太": "F",
    "夫人": "F",
    "老板": None,
    "老师": None,
    "师傅": None,
    "总": None,
    "经理": None,
    "姐": "F",
    "哥": "M",
}
_HONORIFIC_RE = re.compile("^(.{1,2}?)(" + "|".join(sorted(HONORIFICS, key=len, reverse=True)) + ")$")
# A Chinese name keeps only Han characters (dots, digits and stray Latin letters are noise).
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NON_HAN = re.compile(r"[^\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# Pinyin of the surnames common enough to decide which end of a Latin name is the family name.
_SURNAME_PINYIN = (
    frozenset(
        name_syllables(ch)[0]
        for ch in "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
        "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
        "覃武戴莫孔向汤"
    )
    | frozenset(COMPOUND_SURNAMES.values())
    | frozenset(SURNAME_READINGS.values())
)


@dataclass(frozen=True)
class PersonName:
    """A name ready for matching; `key` is order-free so `Wang Wei`, `Wei Wang` and 王伟 agree."""

    full: str  # cleaned, simplified; "" when only a title was given
    surname: str
    given: str
    surname_pinyin: str
    given_pinyin: str
    gender_hint: str | None  # from an honorific such as 先生 / 女士
    honorific_only: bool

    @property
    def key(self) -> str:
        parts = [p for p in (self.surname_pinyin, self.given_pinyin) if p]
        return " ".join(sorted(parts))

    @property
    def pinyin(self) -> str:
        return self.surname_pinyin + self.given_pinyin


EMPTY_NAME = PersonName("", "", "", "", "", None, False)


def _latin_name(text: str) -> PersonName:
    tokens = [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]
    if not tokens:
        return EMPTY_NAME
    if len(tokens) == 1:
        return PersonName(tokens[0], "", tokens[0], "", tokens[0], None, False)
    # Chinese order (family first) unless only the last token reads as a surname: `Wei Wang`.
    if tokens[-1] in _SURNAME_PINYIN and tokens[0] not in _SURNAME_PINYIN:
        surname, given_text = tokens[-1], "".join(tokens[:-1])
    else:
        surname, given_text = tokens[0], "".join(tokens[1:])
        if given_text in _SURNAME_PINYIN and surname not in _SURNAME_PINYIN:
            # The joined given name reads as a surname (`0 w an` → `wan`): normalising the output
            # again would swap it, so swap now and stay idempotent.
            surname, given_text = given_text, surname
    return PersonName(f"{surname} {given_text}", surname, given_text, surname, given_text, None, False)


@lru_cache(maxsize=262144)
def normalize_name(raw: str) -> PersonName:
    """Fold, simplify, split surname/given with surname readings; read 王先生 as surname + gender."""
    text = to_simplified(fold(raw))
    if not text:
        return EMPTY_NAME
    if not _HAN.search(text):
        return _latin_name(unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode())
    text = _NON_HAN.sub("", text)
    if not text:
        return EMPTY_NAME
    match = _HONORIFIC_RE.match(text)
    if match and (len(match.group(1)) == 1 or match.group(1) in COMPOUND_SURNAMES):
        surname = match.group(1)
        surname_py = "".join(name_syllables(surname))
        return PersonName("", surname, "", surname_py, "", HONORIFICS[match.group(2)], True)
    surname, given = split_surname(text)
    # name_syllables reads the surname (compound or not) as its first item, with its surname reading.
    syllables = name_syllables(text)
    return PersonName(text, surname, given, "".join(syllables[:1]), "".join(syllables[1:]), None, False)

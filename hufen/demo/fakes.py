"""Fast, deterministic generators for the demo's hot path.

Faker would do most of this, but at a few microseconds per value rather than tens, a million
persons fit in minutes. Every generator draws from the `random.Random` it is given, so the same
seed gives the same data; identifiers that must be unique (phones, VINs, plates) are derived from
counters through bijections instead of drawn at random, so they never collide.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import itertools
import math
import random
from collections.abc import Sequence
from typing import Generic, TypeVar

from hufen.common.names import name_initials, name_pinyin
from hufen.common.pii import hash_id_number, id_check_char, mask_id_number, vin_check_digit
from hufen.demo import data
from hufen.demo.geo import City

EPOCH = dt.datetime(1970, 1, 1)  # naive UTC: both backends store it as UTC (Django sets the session to UTC)
DAY = 86_400
T = TypeVar("T")
YEAR = 365 * DAY


def to_datetime(seconds: float) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=int(seconds))


def to_seconds(moment: dt.datetime) -> int:
    return int((moment - EPOCH).total_seconds())


class Weighted(Generic[T]):
    """`random.choices` with precomputed cumulative weights, for one draw at a time."""

    def __init__(self, items: Sequence[tuple[T, float]]) -> None:
        self.values = [v for v, _ in items]
        self.cum = list(itertools.accumulate(w for _, w in items))
        self.total = self.cum[-1]

    def pick(self, rng: random.Random) -> T:
        return self.values[bisect.bisect_right(self.cum, rng.random() * self.total)]


# --- time ----------------------------------------------------------------------------------------

# Deliveries by calendar month: the Chinese New Year rush in January, a February trough and the
# "golden September, silver October" season, rising into the year-end push.
_SEASON = (1.12, 0.62, 0.95, 0.90, 0.95, 1.05, 0.88, 0.94, 1.10, 1.08, 1.12, 1.30)


class Timeline:
    """The five years the demo spans, ending at `as_of`, with growth and seasonality."""

    def __init__(self, as_of: dt.datetime, years: int = 5) -> None:
        self.end = to_seconds(as_of)
        first = dt.datetime(as_of.year - years, as_of.month, 1)
        self.start = to_seconds(first)
        months: list[tuple[int, int]] = []
        weights: list[float] = []
        y, m = first.year, first.month
        count = years * 12 + 1
        for i in range(count):
            lo = to_seconds(dt.datetime(y, m, 1))
            days = calendar.monthrange(y, m)[1]
            hi = min(lo + days * DAY, self.end)
            if hi > lo:
                months.append((lo, hi))
                # Sales grow by about 2.5x over the five years (the brands are young).
                weights.append((0.55 + 0.85 * i / count) * _SEASON[m - 1] * (hi - lo) / (days * DAY))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        self.months = months
        self.cum = list(itertools.accumulate(weights))

    def moment(self, rng: random.Random) -> int:
        """A business-hours moment (09:00-20:00 Beijing time) following the sales curve."""
        lo, hi = self.months[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]
        day = lo + int(rng.random() * (hi - lo) / DAY) * DAY
        return day + 3600 + int(rng.random() * 11 * 3600)  # 01:00-12:00 UTC


# --- names ---------------------------------------------------------------------------------------


class NameMaker:
    def __init__(self) -> None:
        self.surnames = Weighted(data.SURNAMES)
        self._spelled: dict[str, tuple[str, str]] = {}

    def surname(self, rng: random.Random) -> str:
        return self.surnames.pick(rng)

    def given(self, rng: random.Random, sex: str, birth_year: int) -> str:
        era = data.era_of(birth_year)
        first, second = data.given_pools(sex, era)
        if rng.random() < data.SINGLE_GIVEN_SHARE[era]:
            return rng.choice(second)
        if rng.random() < 0.06:  # reduplicated names: 婷婷, 晨晨
            ch = rng.choice(second)
            return ch + ch
        return rng.choice(first) + rng.choice(second)

    def spell(self, name: str) -> tuple[str, str]:
        """(pinyin, initials), cached: names repeat a lot and pypinyin is the slow part."""
        hit = self._spelled.get(name)
        if hit is None:
            if len(self._spelled) > 200_000:  # bound the memory; the hit rate barely drops
                self._spelled.clear()
            hit = self._spelled[name] = (name_pinyin(name)[:120], name_initials(name)[:20])
        return hit


# --- phones and e-mail ---------------------------------------------------------------------------

_PHONE_SPACE = len(data.MOBILE_PREFIXES) * 100_000_000
_PHONE_MULT = 2_654_435_761  # odd and not a multiple of 5, so coprime with the space: a bijection


def mobile(n: int) -> str:
    """The n-th demo mobile in E.164; distinct n give distinct numbers (n < 4e9)."""
    k = (n * _PHONE_MULT + 12_345_677) % _PHONE_SPACE
    prefix, rest = divmod(k, 100_000_000)
    return f"+86{data.MOBILE_PREFIXES[prefix]}{rest:08d}"


_EMAIL_DOMAINS = Weighted(data.EMAIL_DOMAINS)


def email(rng: random.Random, pinyin: str, birth_year: int) -> str:
    domain = _EMAIL_DOMAINS.pick(rng)
    if domain in ("qq.com", "foxmail.com") and rng.random() < 0.7:
        return f"{rng.randrange(10_000_000, 3_999_999_999)}@{domain}"
    tail = str(birth_year % 100).zfill(2) if rng.random() < 0.5 else str(rng.randrange(1, 9999))
    return f"{pinyin or 'user'}{tail}@{domain}"


# --- addresses -----------------------------------------------------------------------------------


def home_address(rng: random.Random) -> str:
    street = rng.choice(data.STREET_WORDS) + rng.choice(data.STREET_SUFFIXES)
    community = rng.choice(data.COMMUNITIES)
    floor = rng.randint(1, 28)
    return (
        f"{street}{rng.randint(1, 999)}号{community}{rng.randint(1, 36)}幢"
        f"{rng.randint(1, 4)}单元{floor}{rng.randint(1, 4):02d}室"
    )


# --- resident ID numbers -------------------------------------------------------------------------


class IdNumbers:
    """Valid GB 11643 numbers, unique within a run, whose region code lies in the person's city."""

    def __init__(self) -> None:
        self._used: set[int] = set()

    def make(self, rng: random.Random, city: City, district: str, birth: dt.date, sex: str) -> tuple[str, str]:
        """Return (keyed hash, masked hint); the clear number is dropped here."""
        eligible = [d for d in city.districts if d.since <= birth.year] or [city.districts[0]]
        home = next((d for d in eligible if d.name == district), None)
        region = home.code if home is not None and rng.random() < 0.7 else rng.choice(eligible).code
        stem = f"{region}{birth:%Y%m%d}"
        for _ in range(20):
            seq = rng.randrange(1000)
            if (seq % 2 == 1) != (sex == "M"):  # the 17th digit is odd for men
                seq ^= 1
            first17 = f"{stem}{seq:03d}"
            key = int(first17)
            if key not in self._used:
                break
        self._used.add(key)
        number = first17 + id_check_char(first17)
        return hash_id_number(number), mask_id_number(number)


# --- VINs and plates -----------------------------------------------------------------------------


def vin(wmi: str, vds: str, model_year: int, counter: int) -> str:
    """A valid 17-character VIN; the counter (per WMI) picks the plant and serial, so VINs are unique."""
    plant, serial = divmod(counter, 900_000)
    body = f"{wmi}{vds}0{data.VIN_YEAR_CODES[model_year]}{data.VIN_PLANTS[plant]}{serial + 100_000:06d}"
    return body[:8] + vin_check_digit(body) + body[9:]


_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on Chinese plates
_PLATE_ALNUM = _PLATE_LETTERS + "0123456789"
# Ordinary plates: five characters of which at most two are letters, in any position.
_FUEL_PATTERNS = [frozenset(p) for r in range(3) for p in itertools.combinations(range(5), r)]
_FUEL_SIZES = [24 ** len(p) * 10 ** (5 - len(p)) for p in _FUEL_PATTERNS]
_FUEL_STARTS = list(itertools.accumulate([0, *_FUEL_SIZES[:-1]]))
FUEL_PLATE_SPACE = sum(_FUEL_SIZES)
# Small new-energy plates: D (battery) or F (plug-in) then a letter or digit and four digits.
NEV_PLATE_SPACE = 34 * 10_000
_PLATE_MULT = 1_000_003  # prime, coprime with both spaces
assert math.gcd(_PLATE_MULT, FUEL_PLATE_SPACE) == 1 and math.gcd(_PLATE_MULT, NEV_PLATE_SPACE) == 1


def plate_prefix(city_plate: str, energy: str) -> str:
    """Green 8-character plates for BEV (D) and PHEV (F); blue 7-character plates otherwise."""
    if energy == "bev":
        return city_plate + "D"
    if energy == "phev":
        return city_plate + "F"
    return city_plate


def plate(prefix: str, counter: int) -> str | None:
    """The counter-th plate under a prefix, scrambled so that neighbours look unrelated.

    None once the prefix's numbers are used up (cars then keep temporary plates).
    """
    if len(prefix) == 3:
        if counter >= NEV_PLATE_SPACE:
            return None
        k = (counter * _PLATE_MULT + 7919) % NEV_PLATE_SPACE
        head, digits = divmod(k, 10_000)
        return f"{prefix}{_PLATE_ALNUM[head]}{digits:04d}"
    if counter >= FUEL_PLATE_SPACE:
        return None
    k = (counter * _PLATE_MULT + 7919) % FUEL_PLATE_SPACE
    i = bisect.bisect_right(_FUEL_STARTS, k) - 1
    letters, k = _FUEL_PATTERNS[i], k - _FUEL_STARTS[i]
    out = []
    for pos in range(5):
        if pos in letters:
            k, r = divmod(k, 24)
            out.append(_PLATE_LETTERS[r])
        else:
            k, r = divmod(k, 10)
            out.append(str(r))
    return prefix + "".join(out)

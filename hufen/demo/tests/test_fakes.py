"""The fast generators: valid formats, and unique where the database needs unique values."""

from __future__ import annotations

import datetime as dt
import random

from hufen.common.pii import normalize_cn_mobile, validate_plate, validate_vin
from hufen.demo import fakes
from hufen.demo.geo import CITIES


def test_plates_are_valid_distinct_and_run_out_cleanly() -> None:
    fuel = [fakes.plate("浙A", n) for n in range(50_000)]
    green = [fakes.plate("浙AD", n) for n in range(50_000)]
    for plate in fuel + green:
        assert plate is not None and validate_plate(plate) == plate
    assert len(set(fuel)) == len(set(green)) == 50_000
    assert all(sum(c.isalpha() for c in p[2:]) <= 2 for p in fuel if p)  # at most two letters
    assert all(len(p) == 8 and p[3].isalnum() and p[4:].isdigit() for p in green if p)
    assert fakes.plate("浙AF", fakes.NEV_PLATE_SPACE) is None
    assert fakes.plate("浙A", fakes.FUEL_PLATE_SPACE) is None


def test_vins_are_valid_and_distinct_across_plants() -> None:
    counters = [*range(20_000), 899_999, 900_000, 900_001]
    vins = [fakes.vin("LY9", "S3B11", 2024, n) for n in counters]
    assert len(set(vins)) == len(vins)
    for vin in vins:
        assert validate_vin(vin) == vin and vin[9] == "R"
    assert vins[-3][10] != vins[-2][10], "a new plant after 900,000 cars"


def test_mobiles_are_distinct_valid_e164() -> None:
    phones = [fakes.mobile(n) for n in range(100_000)]
    assert len(set(phones)) == len(phones)
    for phone in phones[::997]:
        assert normalize_cn_mobile(phone) == phone


def test_id_numbers_are_unique_even_for_twins_of_one_district() -> None:
    ids = fakes.IdNumbers()
    rng = random.Random(1)
    city = CITIES["hangzhou"]
    made = {ids.make(rng, city, "西湖区", dt.date(1990, 5, 1), "F")[0] for _ in range(300)}
    assert len(made) == 300


def test_timeline_grows_and_stays_inside_the_window() -> None:
    timeline = fakes.Timeline(dt.datetime(2026, 11, 20))
    rng = random.Random(3)
    moments = [timeline.moment(rng) for _ in range(20_000)]
    assert all(timeline.start <= m < timeline.end for m in moments)
    first_year = sum(1 for m in moments if m < timeline.start + fakes.YEAR)
    last_year = sum(1 for m in moments if m >= timeline.end - fakes.YEAR)
    assert last_year > 1.5 * first_year
    hours = {(m % fakes.DAY) // 3600 for m in moments}
    assert hours <= set(range(1, 12)), "business hours in Beijing time"

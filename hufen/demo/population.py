"""Persons and everything hanging off them, generated as plain tuples in streaming chunks.

A unit is either a prospect (one person, no car) or an owner household: a head who bought a car,
maybe a spouse (co-user or a second car), a parent or an adult child, plus the history of older
cars (traded in and sold on, sold privately, scrapped), service visits and butler assignments.
Rows are tuples in the column order of the `*_FIELDS` in rows.py; ids of households, persons and
vehicles are assigned here so that later rows can point at them without asking the database.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

from hufen.demo import data, fakes
from hufen.demo.fakes import DAY, YEAR, to_datetime
from hufen.demo.geo import City
from hufen.demo.org import DealerInfo, GridInfo, OrgSnapshot, model_pickers
from hufen.demo.rows import Counters, Place, Rows

# Share of units that are prospects; with about 2.2 persons per owner unit, a fifth of all persons.
PROSPECT_UNIT_SHARE = 0.35
# The first households of a fresh dataset go to the demo dealer's first grid, so the demo butler
# login always has owners to serve, even with a few hundred persons.
DEMO_HOUSEHOLDS = 12


class Population:
    def __init__(
        self,
        org: OrgSnapshot,
        rng: random.Random,
        timeline: fakes.Timeline,
        counters: Counters,
        demo_households: int = 0,
    ) -> None:
        self.rng = rng
        self.timeline = timeline
        self.end = timeline.end
        self.c = counters
        self.rows = Rows()
        self.left = 0
        self.names = fakes.NameMaker()
        self.id_numbers = fakes.IdNumbers()
        self.dealers = [d for d in org.dealers if d.brands]
        self.demo_dealer = self.dealers[0]
        self.demo_households = demo_households if self.demo_dealer.grids else 0
        self.dealer_pick = fakes.Weighted([(d, d.weight) for d in self.dealers])
        self.nearby_by: dict[tuple[str, str], list[DealerInfo]] = {}
        for d in self.dealers:
            for b in d.brands:
                self.nearby_by.setdefault((d.region_code, b), []).append(d)
                self.nearby_by.setdefault(("", b), []).append(d)
        self.grids_by = {d.id: _grids_by_district(d) for d in self.dealers}
        self.models = model_pickers(org.models)
        self.colours = {b.code: fakes.Weighted(b.colours) for b in data.BRANDS}
        self.owner_sources = fakes.Weighted(data.OWNER_SOURCES)
        self.prospect_sources = fakes.Weighted(data.PROSPECT_SOURCES)
        self.visit_kinds = fakes.Weighted(data.VISIT_KINDS)
        self.birth_ordinals = {y: dt.date(y, 1, 1).toordinal() for y in range(1900, 2100)}

    # --- driving ------------------------------------------------------------------------------

    def chunks(self, persons: int, chunk: int) -> Iterator[tuple[int, Rows]]:
        """Yield (persons in chunk, rows) until exactly `persons` persons are generated."""
        remaining = persons
        while remaining > 0:
            self.left = min(chunk, remaining)
            take = self.left
            while self.left > 0:
                if self.demo_households == 0 and self.rng.random() < PROSPECT_UNIT_SHARE:
                    self.prospect()
                else:
                    self.owner_household()
            remaining -= take
            rows, self.rows = self.rows, Rows()
            yield take, rows

    def between(self, lo: float, hi: float) -> int:
        return int(lo + self.rng.random() * (hi - lo))

    def at_work(self, t: int) -> int:
        """The same day during opening hours, 09:00-20:00 Beijing time (01:00-12:00 UTC)."""
        return t - t % DAY + 3600 + int(self.rng.random() * 11 * 3600)

    # --- units --------------------------------------------------------------------------------

    def prospect(self) -> None:
        rng = self.rng
        dealer = self.dealer_pick.pick(rng)
        created = self.timeline.moment(rng)
        sex = "M" if rng.random() < 0.6 else "F"
        age = 22 + int(rng.triangular(0, 30, 8))
        place = Place(dealer.city, rng.choice(dealer.city.districts).name, fakes.home_address(rng))
        self.person(
            sex=sex,
            birth_year=to_datetime(created).year - age,
            surname=self.names.surname(rng),
            place=place,
            household=None,
            role="",
            source=self.prospect_sources.pick(rng),
            created=created,
            id_share=0.12,
            email_share=0.2,
        )

    def owner_household(self) -> None:
        rng = self.rng
        forced = self.demo_households > 0
        if forced:
            self.demo_households -= 1
            dealer = self.demo_dealer
            district = rng.choice(dealer.grids[0].districts)
        else:
            dealer = self.dealer_pick.pick(rng)
            district = rng.choice(dealer.city.districts).name
        city = dealer.city
        brand = self.brand_at(dealer)
        t1 = self.timeline.moment(rng)
        place = Place(city, district, fakes.home_address(rng))
        roll = rng.random()
        members = ["head"] + (["spouse"] if roll >= 0.30 else []) + (["parent"] if 0.70 <= roll < 0.85 else [])
        members += ["child"] if roll >= 0.85 else []
        members = members[: self.left]

        # An older car before this one: traded in here, sold privately, or scrapped.
        history = rng.random()
        old = "trade_in" if history < 0.22 else "scrapped" if history < 0.25 else "transfer" if history < 0.29 else ""
        t0 = t1 - self.between(*((8 * YEAR, 12 * YEAR) if old == "scrapped" else (3 * YEAR, 8 * YEAR)))
        first_fact = t0 if old else t1
        created = self.at_work(first_fact - self.between(3 * DAY, 90 * DAY))
        source = self.owner_sources.pick(rng)
        if created < self.timeline.start:  # customers from before the platform were imported from the DMS
            created, source = self.at_work(self.timeline.start + self.between(0, 30 * DAY)), "dms"

        head_sex = "M" if rng.random() < 0.68 else "F"
        head_age = 24 + int(rng.triangular(0, 36, 9))
        if "child" in members:  # an adult child: at least 20 when the car was bought
            head_age = max(head_age, 48 + rng.randint(0, 10))
        head_year = to_datetime(t1).year - head_age
        surname = self.names.surname(rng)
        spouse_surname = self.names.surname(rng)
        hid = self.c.household
        self.c.household += 1
        self.rows.households.append(
            (hid, f"{surname}家", city.province, city.name, district, place.address, to_datetime(created))
        )
        head = self.person(
            sex=head_sex,
            birth_year=head_year,
            surname=surname,
            role="head",
            created=created,
            id_share=0.7,
            email_share=0.3,
            place=place,
            household=hid,
            source=source,
        )
        spouse = child = None
        if "spouse" in members:
            spouse = self.person(
                sex="F" if head_sex == "M" else "M",
                birth_year=head_year + rng.randint(-2, 5) * (1 if head_sex == "M" else -1),
                surname=spouse_surname,
                role="spouse",
                created=created + DAY,
                id_share=0.5,
                email_share=0.25,
                place=place,
                household=hid,
                source=source,
            )
        if "parent" in members:
            parent_sex = "M" if rng.random() < 0.5 else "F"
            self.person(
                sex=parent_sex,
                birth_year=head_year - rng.randint(22, 32),
                role="parent",
                surname=surname if parent_sex == "M" else self.names.surname(rng),
                created=created + DAY,
                id_share=0.3,
                email_share=0.02,
                place=place,
                household=hid,
                source=source,
            )
        child_year = head_year + rng.randint(22, 28)
        if "child" in members:
            child = self.person(
                sex="M" if rng.random() < 0.5 else "F",
                birth_year=child_year,
                role="child",
                surname=surname if head_sex == "M" else spouse_surname,
                created=created + DAY,
                id_share=0.4,
                email_share=0.4,
                place=place,
                household=hid,
                source=source,
            )

        current = self.buy(head, brand, dealer, t1, city)
        grid = self.assign(head, dealer, district, t1, share=1.0 if forced else 0.72)
        if old:
            self.old_car(head, old, brand, dealer, t0, t1, city)
        if spouse is not None:
            self.spouse_cars(spouse, current, dealer, district, t1, city, grid)
        if child is not None:
            start = max(t1 + 30 * DAY, fakes.to_seconds(dt.datetime(child_year + 20, 1, 1)))
            if start < self.end - 30 * DAY and rng.random() < 0.3:
                t3 = self.at_work(self.between(start, self.end))
                self.buy(child, self.brand_at(dealer), dealer, t3, city)
                self.assign(child, dealer, district, t3, share=0.4)

    def spouse_cars(
        self,
        spouse: int,
        current: int,
        dealer: DealerInfo,
        district: str,
        t1: int,
        city: City,
        grid: tuple[GridInfo, int] | None,
    ) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.18 and t1 + 60 * DAY < self.end:  # a second car for the household (增购)
            t2 = self.at_work(self.between(t1 + 60 * DAY, self.end))
            other = dealer if rng.random() < 0.7 else self.nearby(dealer.region_code, self.brand_at(dealer))
            self.buy(spouse, self.brand_at(other), other, t2, city)
            self.assign(spouse, other, district, t2, share=0.5)
        elif roll < 0.58:
            self.rows.ownerships.append((spouse, current, "co_user", dealer.id, to_datetime(t1), None, ""))
            if grid is not None and rng.random() < 0.35:
                g, start = grid
                self.rows.assignments.append((spouse, g.id, g.butler_id, to_datetime(start), None, "随户主分配"))

    def old_car(self, head: int, how: str, brand: str, dealer: DealerInfo, t0: int, t1: int, city: City) -> None:
        rng = self.rng
        if rng.random() > 0.8:
            brand = next((b.code for b in data.BRANDS if b.code != brand), brand)
        seller = dealer if brand in dealer.brands and rng.random() < 0.65 else self.nearby(dealer.region_code, brand)
        if how == "scrapped":
            ended = self.at_work(t1 - self.between(0, 90 * DAY))
            vid = self.vehicle(brand, t0, city, registered=False)  # a scrapped car's plate is cancelled
            self.own(head, vid, seller, t0, ended, "scrapped", brand)
            return
        vid = self.vehicle(brand, t0, city)
        ended = t1 if how == "trade_in" else self.at_work(t1 - self.between(30 * DAY, 300 * DAY))
        self.own(head, vid, seller, t0, ended, how, brand)
        # The car lives on with a second owner: bought used at the dealer that took it in, or privately.
        if self.left <= 0 or rng.random() > (0.6 if how == "trade_in" else 0.8):
            return
        handover = self.at_work(ended + self.between(7 * DAY, 60 * DAY)) if how == "trade_in" else ended
        if handover >= self.end:
            return
        buyer = self.standalone(city, created=self.at_work(handover - self.between(0, 20 * DAY)))
        via = dealer if how == "trade_in" else None
        self.own(
            buyer, vid, via, handover, None, "", brand, km0=int((handover - t0) / DAY * 35), region=dealer.region_code
        )
        if via is not None:
            self.assign(buyer, via, rng.choice(city.districts).name, handover, share=0.3)

    def standalone(self, city: City, created: int) -> int:
        rng = self.rng
        sex = "M" if rng.random() < 0.7 else "F"
        age = 23 + int(rng.triangular(0, 30, 6))
        place = Place(city, rng.choice(city.districts).name, fakes.home_address(rng))
        return self.person(
            sex=sex,
            birth_year=to_datetime(created).year - age,
            surname=self.names.surname(rng),
            place=place,
            household=None,
            role="",
            source="dms",
            created=created,
            id_share=0.6,
            email_share=0.2,
        )

    # --- rows ---------------------------------------------------------------------------------

    def person(
        self,
        *,
        sex: str,
        birth_year: int,
        surname: str,
        place: Place,
        household: int | None,
        role: str,
        source: str,
        created: int,
        id_share: float,
        email_share: float,
    ) -> int:
        rng = self.rng
        pid = self.c.person
        self.c.person += 1
        self.left -= 1
        name = surname + self.names.given(rng, sex, birth_year)
        pinyin, initials = self.names.spell(name)
        phone = fakes.mobile(2 * pid)
        born = dt.date.fromordinal(self.birth_ordinals[birth_year] + rng.randrange(365))
        birth: dt.date | None = born
        id_hash = id_hint = ""
        if rng.random() < id_share:
            id_hash, id_hint = self.id_numbers.make(rng, place.city, place.district, born, sex)
        elif rng.random() < 0.6:
            birth = None  # many records carry no birth date
        mail = fakes.email(rng, pinyin, birth_year) if rng.random() < email_share else ""
        at = to_datetime(created)
        city = place.city
        self.rows.persons.append(
            (
                pid,
                name,
                pinyin,
                initials,
                sex,
                birth,
                phone,
                mail,
                id_hash,
                id_hint,
                city.province,
                city.name,
                place.district,
                place.address,
                household,
                role,
                "active",
                None,
                source,
                at,
                at,
            )
        )
        verified = to_datetime(created + self.between(0, 3 * DAY)) if rng.random() < 0.7 else None
        self.rows.contacts.append((pid, "phone", phone, phone[-4:], True, verified))
        if rng.random() < 0.12:
            second = fakes.mobile(2 * pid + 1)
            self.rows.contacts.append((pid, "phone", second, second[-4:], False, None))
        if mail:
            self.rows.contacts.append((pid, "email", mail, "", True, None))
        return pid

    def vehicle(self, brand: str, delivered: int, city: City, registered: bool = True) -> int:
        rng = self.rng
        when = to_datetime(delivered)
        year = when.year + (1 if when.month >= 9 and rng.random() < 0.4 else 0)
        model = self.models[(brand, year)].pick(rng)
        vid = self.c.vehicle
        self.c.vehicle += 1
        serial = self.c.vin.get(model.wmi, 0)
        self.c.vin[model.wmi] = serial + 1
        plate = None
        if registered:
            local = city.plates[0] if len(city.plates) == 1 or rng.random() < 0.6 else rng.choice(city.plates)
            prefix = fakes.plate_prefix(local, model.energy)
            n = self.c.plate.get(prefix, 0)
            self.c.plate[prefix] = n + 1
            plate = fakes.plate(prefix, n)
        produced = (when - dt.timedelta(days=rng.randint(15, 120))).date()
        self.rows.vehicles.append(
            (
                vid,
                fakes.vin(model.wmi, model.vds, model.year, serial),
                model.id,
                self.colours[brand].pick(rng),
                plate,
                produced,
                to_datetime(delivered - self.between(DAY, 5 * DAY)),
            )
        )
        return vid

    def buy(self, pid: int, brand: str, dealer: DealerInfo, at: int, city: City) -> int:
        vid = self.vehicle(brand, at, city)
        self.own(pid, vid, dealer, at, None, "", brand)
        return vid

    def own(
        self,
        pid: int,
        vid: int,
        dealer: DealerInfo | None,
        start: int,
        ended: int | None,
        reason: str,
        brand: str,
        km0: int = 0,
        region: str = "",
    ) -> None:
        self.rows.ownerships.append(
            (
                pid,
                vid,
                "owner",
                dealer.id if dealer else None,
                to_datetime(start),
                to_datetime(ended) if ended is not None else None,
                reason,
            )
        )
        self.visits(pid, vid, dealer, brand, start, self.end if ended is None else ended, km0, region)

    def visits(
        self, pid: int, vid: int, dealer: DealerInfo | None, brand: str, start: int, end: int, km0: int, region: str
    ) -> None:
        """Maintenance every six to eleven months, mostly at the selling dealer, sometimes elsewhere."""
        rng = self.rng
        home = dealer if dealer is not None and brand in dealer.brands else None
        region = dealer.region_code if dealer is not None else region
        t = start + self.between(60 * DAY, 200 * DAY)
        rate = 25 + rng.random() * 35  # km per day
        first, count = True, 0
        while t < end and count < 10:
            if first or rng.random() < 0.85:
                where = home if home is not None and rng.random() < 0.8 else self.nearby(region, brand)
                kind = "maintenance" if first else self.visit_kinds.pick(rng)
                self.rows.visits.append(
                    (pid, vid, where.id, kind, to_datetime(self.at_work(t)), km0 + int((t - start) / DAY * rate))
                )
                count += 1
            first = False
            t += self.between(150 * DAY, 330 * DAY)

    def assign(
        self, pid: int, dealer: DealerInfo, district: str, since: int, share: float
    ) -> tuple[GridInfo, int] | None:
        """Give the person a butler of the grid they live in; some were handed over once already."""
        rng = self.rng
        if not dealer.grids or rng.random() >= share:
            return None
        options = self.grids_by[dealer.id].get(district) or dealer.grids
        grid = options[0] if len(options) == 1 else rng.choice(options)
        start = self.at_work(since + self.between(DAY, 14 * DAY))
        if start >= self.end:
            return None
        reason = "新车交付分配"
        others = [b for b in dealer.butler_ids if b != grid.butler_id]
        if others and rng.random() < 0.15 and start + 60 * DAY < self.end:
            switch = self.at_work(self.between(start + 30 * DAY, self.end))
            self.rows.assignments.append(
                (pid, grid.id, rng.choice(others), to_datetime(start), to_datetime(switch), reason)
            )
            start, reason = switch, rng.choice(data.ASSIGNMENT_HANDOVER_REASONS)
        self.rows.assignments.append((pid, grid.id, grid.butler_id, to_datetime(start), None, reason))
        return grid, start

    # --- choices ------------------------------------------------------------------------------

    def brand_at(self, dealer: DealerInfo) -> str:
        if len(dealer.brands) == 1:
            return dealer.brands[0]
        # Dual-brand stores sell more of the mass-market brand.
        mass = data.BRANDS[0].code
        return mass if self.rng.random() < 0.7 else next(b for b in dealer.brands if b != mass)

    def nearby(self, region: str, brand: str) -> DealerInfo:
        options = self.nearby_by.get((region, brand)) or self.nearby_by[("", brand)]
        return options[0] if len(options) == 1 else self.rng.choice(options)


def _grids_by_district(dealer: DealerInfo) -> dict[str, list[GridInfo]]:
    out: dict[str, list[GridInfo]] = {}
    for grid in dealer.grids:
        for district in grid.districts:
            out.setdefault(district, []).append(grid)
    return out

"""The demo organisation: brands, regions, dealers, staff, grids and the model range.

Everything here is keyed by a natural key (brand and region codes, dealer codes, usernames, grid
names, model names) and only the missing rows are created, so running it again writes nothing.
It returns plain snapshots that the person generator uses without touching the ORM again.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from hufen.common.actors import Role
from hufen.demo import data, fakes
from hufen.demo.geo import CITIES, DEALERS, REGIONS, City, DealerSpec, region_of_province
from hufen.demo.logins import DEMO_PASSWORD
from hufen.org.models import Brand, Dealer, Grid, Region, Staff
from hufen.people.models import VehicleModel

# Staff phones come from their own slice of the phone space, far above any person's.
STAFF_PHONE_BASE = 3_000_000_000


@dataclass(frozen=True)
class GridInfo:
    id: int
    butler_id: int
    districts: tuple[str, ...]


@dataclass
class DealerInfo:
    id: int
    code: str
    region_code: str
    city: City
    district: str
    brands: tuple[str, ...]
    weight: float
    grids: list[GridInfo] = field(default_factory=list)
    butler_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ModelInfo:
    id: int
    brand: str
    energy: str
    year: int
    wmi: str
    vds: str
    weight: float


@dataclass
class OrgSnapshot:
    dealers: list[DealerInfo]
    models: list[ModelInfo]
    created: dict[str, int]


@dataclass(frozen=True)
class StaffSpec:
    username: str
    role: Role
    region: str | None = None
    dealer: str | None = None
    brands: tuple[str, ...] = ()


def dealer_code(index: int) -> str:
    return f"DL{index + 1:03d}"


def _grid_plan(spec: DealerSpec, index: int) -> list[tuple[str, tuple[str, ...]]]:
    """2-4 grids per dealer, named after the districts they cover, the dealer's own district first."""
    city = CITIES[spec.city]
    districts = [spec.district] + [d.name for d in city.districts if d.name != spec.district]
    count = 2 + (index * 7) % 3  # varies from dealer to dealer, but the same on every run
    if count <= len(districts):
        groups: list[list[str]] = [[] for _ in range(count)]
        for i, name in enumerate(districts):
            groups[i % count].append(name)
        return [("·".join(g) + "网格", tuple(g)) for g in groups]
    # A city with fewer districts than grids: split the home district into parts.
    parts = count - len(districts) + 1
    halves = ("东片", "西片", "南片", "北片")[:parts]
    plan: list[tuple[str, tuple[str, ...]]] = [(f"{spec.district}{h}网格", (spec.district,)) for h in halves]
    return plan + [(f"{d}网格", (d,)) for d in districts[1:]]


def _butler_count(index: int) -> int:
    """One butler per grid, and a spare at every other dealer (to take over on handovers)."""
    return len(_grid_plan(DEALERS[index], index)) + (1 if index % 2 == 0 else 0)


def staff_plan() -> list[StaffSpec]:
    """About 300 staff covering every role; the demo logins are the first of their kind."""
    both = tuple(b.code for b in data.BRANDS)
    plan = [StaffSpec("hq_admin", Role.HQ_ADMIN, brands=both), StaffSpec("hq_admin2", Role.HQ_ADMIN, brands=both)]
    plan += [
        StaffSpec("hq_operator" if i == 0 else f"hq_operator{i + 1}", Role.HQ_OPERATOR, brands=both) for i in range(8)
    ]
    for region in REGIONS:
        plan += [
            StaffSpec(f"region_{region.code}", Role.REGION_MANAGER, region=region.code, brands=both),
            StaffSpec(f"region_{region.code}_2", Role.REGION_MANAGER, region=region.code, brands=both),
        ]
    for i, spec in enumerate(DEALERS):
        code, brands = dealer_code(i), _dealer_brands(spec)
        prefix = code.lower()
        plan.append(
            StaffSpec(
                "dealer_manager" if i == 0 else f"{prefix}_manager", Role.DEALER_MANAGER, dealer=code, brands=brands
            )
        )
        plan += [
            StaffSpec(_butler_username(i, k), Role.BUTLER, dealer=code, brands=brands) for k in range(_butler_count(i))
        ]
    plan += [StaffSpec("merchant" if i == 0 else f"merchant{i + 1}", Role.MERCHANT_OPERATOR) for i in range(10)]
    return plan


def _butler_username(dealer_index: int, k: int) -> str:
    return "butler" if dealer_index == 0 and k == 0 else f"{dealer_code(dealer_index).lower()}_butler{k + 1}"


def _dealer_brands(spec: DealerSpec) -> tuple[str, ...]:
    return tuple(
        b.code
        for b in data.BRANDS
        if (b.positioning == "mass" and "m" in spec.brands) or (b.positioning == "premium" and "p" in spec.brands)
    )


@cache
def _demo_password_hash() -> str:
    # One PBKDF2 run (about half a second) shared by all demo staff instead of one per user.
    return make_password(DEMO_PASSWORD)


def ensure_org(rng: random.Random, today: dt.date) -> OrgSnapshot:
    created: dict[str, int] = {}
    brands = _ensure_brands(created)
    regions = _ensure_regions(created)
    dealers = _ensure_dealers(brands, regions, rng, today, created)
    staff_ids = _ensure_staff(brands, regions, dealers, rng, created)
    snapshot = _ensure_grids(dealers, staff_ids, created)
    models = _ensure_models(brands, created)
    return OrgSnapshot(dealers=snapshot, models=models, created=created)


def _ensure_brands(created: dict[str, int]) -> dict[str, Brand]:
    out = {}
    for spec in data.BRANDS:
        brand, new = Brand.objects.get_or_create(
            code=spec.code, defaults={"name": spec.name, "name_en": spec.name_en, "positioning": spec.positioning}
        )
        out[spec.code] = brand
        created["brands"] = created.get("brands", 0) + int(new)
    return out


def _ensure_regions(created: dict[str, int]) -> dict[str, Region]:
    out = {}
    for spec in REGIONS:
        region, new = Region.objects.get_or_create(
            code=spec.code, defaults={"name": spec.name, "provinces": list(spec.provinces)}
        )
        out[spec.code] = region
        created["regions"] = created.get("regions", 0) + int(new)
    return out


def _ensure_dealers(
    brands: dict[str, Brand], regions: dict[str, Region], rng: random.Random, today: dt.date, created: dict[str, int]
) -> dict[str, Dealer]:
    codes = [dealer_code(i) for i in range(len(DEALERS))]
    existing = {d.code: d for d in Dealer.objects.filter(code__in=codes)}
    missing: list[tuple[Dealer, tuple[str, ...]]] = []
    for i, spec in enumerate(DEALERS):
        city = CITIES[spec.city]
        number = rng.randint(1, 999)  # drawn for every dealer, so later draws do not depend on what exists
        phone = f"{city.area_code}-{rng.randint(6000_0000, 8999_9999)}"
        opened = today - dt.timedelta(days=rng.randint(2 * 365, 12 * 365))
        if codes[i] in existing:
            continue
        brand_names = "·".join(brands[b].name for b in _dealer_brands(spec))
        missing.append(
            (
                Dealer(
                    code=codes[i],
                    name=f"{brand_names} {city.short}{spec.district.removesuffix('区')}店",
                    region=regions[region_of_province(city.province)],
                    province=city.province,
                    city=city.name,
                    district=spec.district,
                    address=f"{city.name}{spec.district}{spec.road}{number}号",
                    phone=phone,
                    opened_on=opened,
                ),
                _dealer_brands(spec),
            )
        )
    Dealer.objects.bulk_create([d for d, _ in missing])
    Through = Dealer.brands.through
    Through.objects.bulk_create([Through(dealer_id=d.pk, brand_id=brands[b].pk) for d, bs in missing for b in bs])
    created["dealers"] = len(missing)
    existing.update({d.code: d for d, _ in missing})
    return existing


def _ensure_staff(
    brands: dict[str, Brand],
    regions: dict[str, Region],
    dealers: dict[str, Dealer],
    rng: random.Random,
    created: dict[str, int],
) -> dict[str, int]:
    User = get_user_model()
    plan = staff_plan()
    maker = fakes.NameMaker()
    names = {s.username: _staff_name(maker, rng) for s in plan}
    usernames = [s.username for s in plan]
    position = {u: i for i, u in enumerate(usernames)}
    taken = set(User.objects.filter(username__in=usernames).values_list("username", flat=True))
    todo = [s for s in plan if s.username not in taken]
    if todo:
        password = _demo_password_hash()
        users = User.objects.bulk_create([User(username=s.username, password=password) for s in todo])
        rows = [
            Staff(
                user_id=u.pk,
                name=names[s.username],
                role=s.role.value,
                phone=fakes.mobile(STAFF_PHONE_BASE + position[s.username]),
                region=regions[s.region] if s.region else None,
                dealer=dealers[s.dealer] if s.dealer else None,
            )
            for s, u in zip(todo, users, strict=True)
        ]
        Staff.objects.bulk_create(rows)
        Through = Staff.brands.through
        Through.objects.bulk_create(
            [Through(staff_id=st.pk, brand_id=brands[b].pk) for s, st in zip(todo, rows, strict=True) for b in s.brands]
        )
    created["staff"] = len(todo)
    return dict(Staff.objects.filter(user__username__in=usernames).values_list("user__username", "id"))


def _staff_name(names: fakes.NameMaker, rng: random.Random) -> str:
    sex = "M" if rng.random() < 0.55 else "F"
    return names.surname(rng) + names.given(rng, sex, rng.randint(1975, 2000))


def _ensure_grids(dealers: dict[str, Dealer], staff_ids: dict[str, int], created: dict[str, int]) -> list[DealerInfo]:
    existing = {(g.dealer_id, g.name): g for g in Grid.objects.filter(dealer__in=list(dealers.values()))}
    missing = []
    for i, spec in enumerate(DEALERS):
        dealer = dealers[dealer_code(i)]
        for k, (name, districts) in enumerate(_grid_plan(spec, i)):
            if (dealer.pk, name) not in existing:
                missing.append(
                    Grid(
                        dealer=dealer,
                        name=name,
                        districts=list(districts),
                        butler_id=staff_ids.get(_butler_username(i, k)),
                    )
                )
    Grid.objects.bulk_create(missing)
    created["grids"] = len(missing)
    existing.update({(g.dealer_id, g.name): g for g in missing})
    butlers: dict[int, list[int]] = {}
    for staff_id, dealer_id in Staff.objects.filter(
        role=Role.BUTLER.value, dealer__in=list(dealers.values()), is_active=True
    ).values_list("id", "dealer_id"):
        butlers.setdefault(dealer_id, []).append(staff_id)
    dealer_brands: dict[int, list[str]] = {}
    pairs = Dealer.brands.through.objects.filter(dealer__in=list(dealers.values())).values_list(
        "dealer_id", "brand__code"
    )
    for dealer_id, code in pairs:
        dealer_brands.setdefault(dealer_id, []).append(code)
    out = []
    for i, spec in enumerate(DEALERS):
        dealer = dealers[dealer_code(i)]
        city = CITIES[spec.city]
        info = DealerInfo(
            id=dealer.pk,
            code=dealer.code,
            region_code=region_of_province(city.province),
            city=city,
            district=spec.district,
            brands=tuple(sorted(dealer_brands.get(dealer.pk, []))),
            weight=spec.weight,
            butler_ids=sorted(butlers.get(dealer.pk, [])),
        )
        for name, districts in _grid_plan(spec, i):
            grid = existing[(dealer.pk, name)]
            butler = grid.butler_id or (info.butler_ids[0] if info.butler_ids else None)
            if butler is not None:
                info.grids.append(GridInfo(grid.pk, butler, districts))
        out.append(info)
    return out


def _model_rows() -> list[tuple[data.SeriesSpec, int, str, str, int, int]]:
    """(series, trim index, name, energy, year, guide price in yuan) for every model year."""
    rows = []
    for series in data.SERIES:
        for year in range(series.first_year, series.last_year + 1):
            for t, (trim, energy, price) in enumerate(series.trims):
                if energy in ("bev", "phev") and year < 2019:
                    continue  # the range had no plug-ins before 2019
                age = series.last_year - year
                # Battery cars got cheaper every year (price war); others drift up with inflation.
                factor = (1 + 0.05 * age) if energy == "bev" else (1 - 0.012 * age)
                rows.append((series, t, f"{year}款 {trim}", energy, year, int(round(price * factor, -2))))
    return rows


def _ensure_models(brands: dict[str, Brand], created: dict[str, int]) -> list[ModelInfo]:
    by_code = {b.code: b for b in data.BRANDS}
    rows = _model_rows()
    existing = {(m.brand_id, m.series, m.name): m for m in VehicleModel.objects.filter(brand__in=list(brands.values()))}
    missing = []
    for series, _t, name, energy, year, price in rows:
        brand = brands[series.brand]
        if (brand.pk, series.series, name) not in existing:
            missing.append(
                VehicleModel(
                    brand=brand,
                    series=series.series,
                    name=name,
                    energy_type=energy,
                    price_band=data.price_band(price),
                    msrp_fen=price * 100,
                    year=year,
                    wmi=by_code[series.brand].wmi,
                )
            )
    VehicleModel.objects.bulk_create(missing)
    created["vehicle_models"] = len(missing)
    existing.update({(m.brand_id, m.series, m.name): m for m in missing})
    out = []
    for series, t, name, energy, year, _price in rows:
        model = existing[(brands[series.brand].pk, series.series, name)]
        vds = f"{series.vds}{series.body}{data.VIN_ENERGY_CODES[energy]}{t + 1}"
        out.append(
            ModelInfo(
                id=model.pk,
                brand=series.brand,
                energy=energy,
                year=year,
                wmi=model.wmi,
                vds=vds,
                weight=series.popularity / len(series.trims),
            )
        )
    return out


def model_pickers(models: list[ModelInfo]) -> dict[tuple[str, int], fakes.Weighted[ModelInfo]]:
    """For each (brand, model year) a weighted pick that follows that year's new-energy share.

    Years outside a brand's range borrow the nearest year that has models.
    """
    out: dict[tuple[str, int], fakes.Weighted[ModelInfo]] = {}
    for brand in {m.brand for m in models}:
        years = sorted({m.year for m in models if m.brand == brand})
        for year in range(1990, 2101):
            near = min(years, key=lambda y: abs(y - year))
            group = [m for m in models if m.brand == brand and m.year == near]
            nev = [m for m in group if m.energy in ("bev", "phev")]
            fuel = [m for m in group if m.energy not in ("bev", "phev")]
            share = data.nev_share(near) if nev and fuel else (1.0 if nev else 0.0)
            total_nev = sum(m.weight for m in nev) or 1.0
            total_fuel = sum(m.weight for m in fuel) or 1.0
            out[(brand, year)] = fakes.Weighted(
                [(m, m.weight / total_nev * share) for m in nev]
                + [(m, m.weight / total_fuel * (1 - share)) for m in fuel]
            )
    return out

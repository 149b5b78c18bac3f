"""Shared test world: named example users in every role, and persons placed so that each role's
data scope is known exactly. Tests parametrize over `ACTOR_NAMES` and compare with `world.expected`.

    brands:  mass (大众品牌), premium (高端品牌)
    regions: east (华东): dealers A1 (mass+premium, 杭州) and A2 (mass, 上海); south (华南): B1 (premium, 广州)
    persons: a1_owner   bought at A1, served by butler_a1
             a1_other   bought at A1, served by butler_a1b
             a2_owner   bought at A2
             b1_owner   bought at B1
             b1_serviced_at_a1  bought at B1, serviced at A1
             prospect   no dealer at all
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from hufen.common.actors import Actor, Role
from hufen.org.models import ApiClient, Brand, Dealer, Grid, Region, Staff
from hufen.org.selectors import actor_for_api_client, actor_for_staff
from hufen.org.services import api_client_create
from hufen.org.tests.factories import (
    PASSWORD,
    BrandFactory,
    DealerFactory,
    GridFactory,
    RegionFactory,
    StaffFactory,
    UserFactory,
)
from hufen.people.models import ButlerAssignment, Person
from hufen.people.tests.factories import (
    HouseholdFactory,
    OwnershipFactory,
    PersonFactory,
    ServiceVisitFactory,
    VehicleFactory,
    VehicleModelFactory,
)
from hufen.testing.concurrency import require_postgres

pytest_plugins = ["hufen.testing.browser"]

ALL_PERSONS = frozenset({"a1_owner", "a1_other", "a2_owner", "b1_owner", "b1_serviced_at_a1", "prospect"})

# Who must see which persons: the contract every person-showing page and endpoint is tested against.
EXPECTED_SCOPE: dict[str, frozenset[str]] = {
    "hq_admin": ALL_PERSONS,
    "hq_operator": ALL_PERSONS,
    "region_east": frozenset({"a1_owner", "a1_other", "a2_owner", "b1_serviced_at_a1"}),
    "dealer_a1": frozenset({"a1_owner", "a1_other", "b1_serviced_at_a1"}),
    "butler_a1": frozenset({"a1_owner"}),
    "dealer_b1": frozenset({"b1_owner", "b1_serviced_at_a1"}),
    "merchant": frozenset(),
    "api_dealer_a1": frozenset({"a1_owner", "a1_other", "b1_serviced_at_a1"}),
    "api_brand_premium": frozenset({"a1_owner", "a1_other", "b1_owner", "b1_serviced_at_a1"}),
    "member_a2": frozenset({"a2_owner"}),
}
STAFF_ACTORS = ["hq_admin", "hq_operator", "region_east", "dealer_a1", "butler_a1", "dealer_b1", "merchant"]
API_ACTORS = ["api_dealer_a1", "api_brand_premium"]
ACTOR_NAMES = STAFF_ACTORS + API_ACTORS
# Owners signed in to the portal (/m/): they act as their own person. Not API or console users, so
# they are kept out of ACTOR_NAMES; selector-level scope tests use SCOPE_ACTORS.
MEMBER_ACTORS = ["member_a2"]
MEMBER_PERSONS = {"member_a2": "a2_owner"}
SCOPE_ACTORS = ACTOR_NAMES + MEMBER_ACTORS


@dataclass
class World:
    brands: dict[str, Brand]
    regions: dict[str, Region]
    dealers: dict[str, Dealer]
    grids: dict[str, Grid]
    staff: dict[str, Staff]
    persons: dict[str, Person]
    api_clients: dict[str, ApiClient] = field(default_factory=dict)
    api_tokens: dict[str, str] = field(default_factory=dict)

    def actor(self, name: str) -> Actor:
        if name in MEMBER_PERSONS:
            person = self.persons[MEMBER_PERSONS[name]]
            return Actor(kind="member", role=Role.MEMBER, label=f"member:{person.pk}", person_id=person.pk)
        if name in self.api_clients:
            return actor_for_api_client(self.api_clients[name])
        return actor_for_staff(self.staff[name])

    def expected(self, name: str) -> set[int]:
        return {self.persons[k].pk for k in EXPECTED_SCOPE[name]}

    def key_of(self, person_id: int) -> str:
        return next(k for k, p in self.persons.items() if p.pk == person_id)

    password: str = PASSWORD


def build_world() -> World:
    brands = {
        "mass": BrandFactory.create(code="mass", name="星河汽车", positioning="mass"),
        "premium": BrandFactory.create(code="premium", name="极境", positioning="premium"),
    }
    regions = {
        "east": RegionFactory.create(code="east", name="华东大区"),
        "south": RegionFactory.create(code="south", name="华南大区"),
    }
    dealers = {
        "A1": DealerFactory.create(
            code="A1", name="杭州星河之江店", region=regions["east"], brands=[brands["mass"], brands["premium"]]
        ),
        "A2": DealerFactory.create(
            code="A2",
            name="上海星河浦东店",
            region=regions["east"],
            province="上海市",
            city="上海市",
            district="浦东新区",
            brands=[brands["mass"]],
        ),
        "B1": DealerFactory.create(
            code="B1",
            name="广州极境天河店",
            region=regions["south"],
            province="广东省",
            city="广州市",
            district="天河区",
            brands=[brands["premium"]],
        ),
    }

    def staff(username: str, name: str, role: str, **kw: object) -> Staff:
        return StaffFactory.create(user=UserFactory.create(username=username), name=name, role=role, **kw)

    staff_rows = {
        "hq_admin": staff("hq_admin", "张总", "hq_admin"),
        "hq_operator": staff("hq_operator", "李运营", "hq_operator"),
        "region_east": staff("region_east", "王大区", "region_manager", region=regions["east"]),
        "dealer_a1": staff("dealer_a1", "赵店长", "dealer_manager", dealer=dealers["A1"]),
        "butler_a1": staff("butler_a1", "钱管家", "butler", dealer=dealers["A1"]),
        "butler_a1b": staff("butler_a1b", "孙管家", "butler", dealer=dealers["A1"]),
        "dealer_b1": staff("dealer_b1", "周店长", "dealer_manager", dealer=dealers["B1"]),
        "merchant": staff("merchant", "吴老板", "merchant_operator"),
    }
    grids = {
        "A1-west": GridFactory.create(dealer=dealers["A1"], name="西湖网格", butler=staff_rows["butler_a1"]),
        "A1-north": GridFactory.create(dealer=dealers["A1"], name="拱墅网格", butler=staff_rows["butler_a1b"]),
    }
    household = HouseholdFactory.create(name="王家")
    persons = {
        "a1_owner": PersonFactory.create(
            name="王小伟", phone="+8613812345678", household=household, household_role="head"
        ),
        "a1_other": PersonFactory.create(
            name="李娜", gender="F", phone="+8613912340001", household=household, household_role="spouse"
        ),
        "a2_owner": PersonFactory.create(name="陈静", gender="F", phone="+8615012340002", city="上海市"),
        "b1_owner": PersonFactory.create(name="黄建国", phone="+8618612340003", city="广州市"),
        "b1_serviced_at_a1": PersonFactory.create(name="刘洋", phone="+8617712340004", city="广州市"),
        "prospect": PersonFactory.create(name="欧阳娜娜", gender="F", phone="+8619912340005"),
    }
    mass_model = VehicleModelFactory.create(brand=brands["mass"], series="星河 S7", name="2025款 1.5T 旗舰版")
    premium_model = VehicleModelFactory.create(
        brand=brands["premium"],
        series="极境 E9",
        name="2025款 纯电长续航",
        energy_type="bev",
        price_band="e",
        msrp_fen=32_980_000,
    )
    OwnershipFactory.create(
        person=persons["a1_owner"], dealer=dealers["A1"], vehicle=VehicleFactory.create(model=mass_model)
    )
    OwnershipFactory.create(
        person=persons["a1_other"],
        dealer=dealers["A1"],
        vehicle=VehicleFactory.create(model=premium_model, plate="浙AD12345"),
    )
    OwnershipFactory.create(
        person=persons["a2_owner"], dealer=dealers["A2"], vehicle=VehicleFactory.create(model=mass_model)
    )
    OwnershipFactory.create(
        person=persons["b1_owner"], dealer=dealers["B1"], vehicle=VehicleFactory.create(model=premium_model)
    )
    b1s = OwnershipFactory.create(
        person=persons["b1_serviced_at_a1"], dealer=dealers["B1"], vehicle=VehicleFactory.create(model=premium_model)
    )
    ServiceVisitFactory.create(person=persons["b1_serviced_at_a1"], vehicle=b1s.vehicle, dealer=dealers["A1"])
    now = timezone.now()
    ButlerAssignment.objects.create(
        person=persons["a1_owner"], grid=grids["A1-west"], butler=staff_rows["butler_a1"], started_at=now
    )
    ButlerAssignment.objects.create(
        person=persons["a1_other"], grid=grids["A1-north"], butler=staff_rows["butler_a1b"], started_at=now
    )
    world = World(brands=brands, regions=regions, dealers=dealers, grids=grids, staff=staff_rows, persons=persons)
    admin = world.actor("hq_admin")
    for name, kw in {
        "api_dealer_a1": {"dealer": dealers["A1"]},
        "api_brand_premium": {"brand": brands["premium"]},
    }.items():
        client, token = api_client_create(actor=admin, name=name, **kw)  # type: ignore[arg-type]
        world.api_clients[name] = client
        world.api_tokens[name] = token
    return world


@pytest.fixture(autouse=True, scope="session")
def _no_persistent_connections() -> None:
    """The live server's request threads must not keep PostgreSQL connections open past a request,
    or the test database cannot be dropped at the end of the session."""
    from django.db import connections

    for alias in connections:
        connections[alias].settings_dict["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # PBKDF2's real cost (~0.3 s a hash) would dominate the suite; production keeps it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db: None) -> World:
    return build_world()


@pytest.fixture
def pg_world(transactional_db: None) -> World:
    """The test world for concurrency tests: committed rows that every thread's connection sees.
    PostgreSQL only (SQLite serialises writers: there is no race to prove)."""
    require_postgres()
    return build_world()


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests leave screenshots and other artifacts (git-ignored)."""
    path = Path(__file__).resolve().parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


def pytest_report_header(config: pytest.Config) -> str:
    from django.conf import settings

    return f"hufen database: {settings.DATABASES['default']['ENGINE']} {settings.DATABASES['default']['NAME']}"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under `make test-postgres` the suite must really run on PostgreSQL, never fall back."""
    import os

    from django.conf import settings

    if os.environ.get("HUFEN_REQUIRE_POSTGRES") and "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        raise pytest.UsageError("HUFEN_REQUIRE_POSTGRES is set but DATABASE_URL does not point at PostgreSQL")
    if os.environ.get("HUFEN_REQUIRE_REDIS") and "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        raise pytest.UsageError("HUFEN_REQUIRE_REDIS is set but REDIS_URL does not point at Redis")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Every test starts with an empty cache (locmem, or the Redis test database in the PostgreSQL
    pass), so rate-limit counters and cached figures never leak from one test or run to the next."""
    from django.core.cache import cache

    cache.clear()
    yield

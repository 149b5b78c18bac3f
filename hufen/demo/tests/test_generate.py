"""`generate_demo` on a few hundred persons: every rule the issue names, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.db.models import Count, F, Q, QuerySet

from hufen.common.actors import Role
from hufen.common.models import AuditEvent
from hufen.common.names import name_initials, name_pinyin
from hufen.common.pii import (
    hash_id_number,
    id_number_gender,
    normalize_cn_mobile,
    validate_id_number,
    validate_plate,
    validate_vin,
)
from hufen.demo import data
from hufen.demo.generate import COUNTED, generate_demo
from hufen.demo.geo import CITIES, REGIONS
from hufen.demo.logins import DEMO_PASSWORD, demo_logins
from hufen.org.models import Brand, Dealer, Grid, Region, Staff
from hufen.people.models import (
    ButlerAssignment,
    ContactPoint,
    Household,
    Ownership,
    Person,
    ServiceVisit,
    Vehicle,
)

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 11, 20)
PERSONS = 300


@pytest.fixture
def demo() -> None:
    generate_demo(persons=PERSONS, seed=7, today=TODAY)


def _snapshot() -> dict[str, int]:
    counts = {name: model._default_manager.count() for name, model in COUNTED.items()}
    counts["audit"] = AuditEvent.objects.count()
    counts["users"] = get_user_model().objects.count()
    return counts


def test_organisation_has_two_brands_six_regions_sixty_dealers_and_grids(demo: None) -> None:
    assert set(Brand.objects.values_list("positioning", flat=True)) == {"mass", "premium"}
    assert Region.objects.count() == 6
    assert Dealer.objects.count() == 60
    provinces = {r.code: set(r.provinces) for r in REGIONS}
    for dealer in Dealer.objects.select_related("region").annotate(grids_n=Count("grids")):
        assert dealer.province in provinces[dealer.region.code]
        assert dealer.city.endswith("市") and dealer.address.startswith(dealer.city + dealer.district)
        assert 2 <= dealer.grids_n <= 4, dealer.code
    assert not Grid.objects.filter(butler__isnull=True).exists()
    assert not Grid.objects.exclude(butler__dealer_id=F("dealer_id")).exists()
    assert 280 <= Staff.objects.count() <= 330


def test_every_role_has_staff_and_every_demo_login_works(demo: None) -> None:
    assert set(Staff.objects.values_list("role", flat=True)) == {r.value for r in Role} - {
        "api_client",
        "system",
        "member",
    }
    for login in demo_logins():
        user = authenticate(username=login.username, password=DEMO_PASSWORD)
        assert user is not None, login.username
        assert user.staff.role == login.role.value
    region = Staff.objects.get(user__username="region_east").region
    assert region is not None and region.code == "east"
    manager = Staff.objects.get(user__username="dealer_manager")
    butler = Staff.objects.get(user__username="butler")
    assert manager.dealer is not None and butler.dealer is not None
    assert manager.dealer.code == butler.dealer.code == "DL001"
    assert ButlerAssignment.objects.filter(butler=butler, ended_at__isnull=True).count() >= 5
    for dealer in Dealer.objects.all():
        roles = set(dealer.staff.values_list("role", flat=True))
        assert roles == {"dealer_manager", "butler"}, dealer.code


def test_vehicles_have_valid_vins_and_plates_for_their_energy(demo: None) -> None:
    wmi = {b.code: b.wmi for b in data.BRANDS}
    plate_provinces = {p[0] for c in CITIES.values() for p in c.plates}
    vehicles = list(Vehicle.objects.select_related("model__brand"))
    assert len(vehicles) > PERSONS // 3
    for v in vehicles:
        assert validate_vin(v.vin) == v.vin and v.vin[:3] == wmi[v.model.brand.code] == v.model.wmi
        assert v.produced_on is not None
        if v.plate is None:
            continue
        assert validate_plate(v.plate) == v.plate and v.plate[0] in plate_provinces
        if v.model.energy_type in ("bev", "phev"):
            assert len(v.plate) == 8 and v.plate[2] == ("D" if v.model.energy_type == "bev" else "F")
        else:
            assert len(v.plate) == 7
    energies = {v.model.energy_type for v in vehicles}
    assert {"ice", "bev", "phev"} <= energies
    assert Vehicle.objects.filter(plate__isnull=False).count() >= len(vehicles) * 0.9


def _own_persons() -> QuerySet[Person]:
    """The demo's persons, without those ONE ID linking created from the demo's records (identity.py)."""
    linked = AuditEvent.objects.filter(action="person.create").values_list("object_id", flat=True)
    return Person.objects.exclude(pk__in=[int(pk) for pk in linked])


def test_phones_are_valid_e164_mobiles_with_contact_points(demo: None) -> None:
    own = _own_persons()
    persons = list(own)
    assert len(persons) == PERSONS
    assert len({p.phone for p in persons}) == PERSONS
    for p in persons[:200]:
        assert normalize_cn_mobile(p.phone) == p.phone and p.phone[3:5] in {"13", "15", "16", "17", "18", "19"}
    primary = ContactPoint.objects.filter(kind="phone", is_primary=True, person__in=own)
    assert primary.count() == PERSONS
    assert not primary.exclude(value=F("person__phone")).exists()
    for c in ContactPoint.objects.filter(kind="phone"):
        assert c.last4 == c.value[-4:]
    assert ContactPoint.objects.filter(kind="phone", is_primary=False).exists()
    emails = ContactPoint.objects.filter(kind="email", person__in=own)
    assert emails.count() == own.exclude(email="").count() > 0


def test_id_numbers_are_hashed_and_consistent_with_birth_date_gender_and_province(demo: None) -> None:
    with_id = list(Person.objects.exclude(id_number_hint=""))
    assert PERSONS * 0.2 < len(with_id) < PERSONS * 0.9
    codes = {d.code: c.province for c in CITIES.values() for d in c.districts}
    for p in with_id:
        assert p.birth_date is not None and len(p.id_number_hash) == 64
        hint = p.id_number_hint
        assert hint[6:14] == "*" * 8
        # The hint keeps region and last four; with the birth date they rebuild the number.
        number = validate_id_number(f"{hint[:6]}{p.birth_date:%Y%m%d}{hint[-4:]}")
        assert hash_id_number(number) == p.id_number_hash
        assert id_number_gender(number) == p.gender
        assert codes[hint[:6]] == p.province


def test_names_are_chinese_with_pinyin_and_realistic_surnames(demo: None) -> None:
    persons = list(Person.objects.all())
    for p in persons:
        assert 2 <= len(p.name) <= 4
        assert p.name_pinyin == name_pinyin(p.name) and p.name_initials == name_initials(p.name)
    common = sum(1 for p in persons if p.name[0] in "王李张刘陈杨黄赵吴周")
    assert common > PERSONS * 0.3


def test_ownership_history_has_trade_ins_transfers_and_one_current_owner(demo: None) -> None:
    current = Ownership.objects.filter(role="owner", ended_at__isnull=True)
    assert not current.values("vehicle").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert not Vehicle.objects.exclude(ownerships__role="owner").exists()
    assert not Ownership.objects.filter(ended_at__lt=F("delivered_at")).exists()
    trade_ins = Ownership.objects.filter(end_reason="trade_in")
    assert trade_ins.exists()
    # Some traded-in cars were sold on to a second owner.
    assert current.filter(vehicle__in=trade_ins.values("vehicle")).exists()
    assert Ownership.objects.filter(role="co_user").exists()
    assert set(Ownership.objects.exclude(end_reason="").values_list("end_reason", flat=True)) >= {"trade_in"}
    owners = Ownership.objects.values("person").distinct().count()
    assert 0 < owners < PERSONS, "some persons are prospects without a car"
    span = Ownership.objects.filter(delivered_at__gte=dt.datetime(2021, 11, 1, tzinfo=dt.UTC))
    assert span.filter(delivered_at__year=2022).exists() and span.filter(delivered_at__year=2026).exists()


def test_households_group_couples_and_parents(demo: None) -> None:
    sizes = Household.objects.annotate(n=Count("members")).values_list("n", flat=True)
    assert max(sizes) >= 3 and min(sizes) >= 1
    assert {"head", "spouse"} <= set(Person.objects.values_list("household_role", flat=True))


def test_service_visits_and_butler_assignments(demo: None) -> None:
    assert ServiceVisit.objects.exists()
    sold_by = {(o.person_id, o.vehicle_id): o.dealer_id for o in Ownership.objects.filter(role="owner")}
    visits = list(ServiceVisit.objects.all())
    assert all((v.person_id, v.vehicle_id) in sold_by for v in visits)
    assert any(sold_by[(v.person_id, v.vehicle_id)] != v.dealer_id for v in visits), "some at another dealer"
    open_ = ButlerAssignment.objects.filter(ended_at__isnull=True)
    assert not open_.values("person").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert ButlerAssignment.objects.filter(ended_at__isnull=False).exists(), "some assignments have history"
    assert not ButlerAssignment.objects.exclude(butler__dealer_id=F("grid__dealer_id")).exists()
    assert not ButlerAssignment.objects.filter(Q(ended_at__lt=F("started_at"))).exists()


def test_running_twice_changes_nothing(demo: None) -> None:
    before = _snapshot()
    result = generate_demo(persons=PERSONS, seed=7, today=TODAY)
    assert result.persons_added == 0 and result.created == {}
    assert _snapshot() == before


def test_a_larger_run_adds_only_the_missing_persons(demo: None) -> None:
    result = generate_demo(persons=PERSONS + 100, seed=7, today=TODAY)
    assert (result.persons_before, result.persons_added) == (PERSONS, 100)
    own = _own_persons()
    assert own.count() == PERSONS + 100
    assert own.values("phone").distinct().count() == PERSONS + 100
    assert Staff.objects.count() == result.rows["staff"] and result.created == {}
    assert AuditEvent.objects.filter(action="demo.generate").count() == 2

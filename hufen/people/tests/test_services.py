from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.errors import PermissionDenied
from hufen.common.models import AuditEvent, DomainEvent
from hufen.common.pii import FieldError, id_check_char
from hufen.people.models import ButlerAssignment, ContactPoint, Ownership, Person, Vehicle
from hufen.people.services import (
    PersonInput,
    butler_assign,
    ownership_deliver,
    ownership_end,
    person_create,
    person_reveal_pii,
    vehicle_register,
)
from hufen.people.tests.factories import PersonFactory, VehicleModelFactory, make_vin

pytestmark = pytest.mark.django_db


def _id(birth: str, seq: str = "123") -> str:
    first17 = "330106" + birth + seq
    return first17 + id_check_char(first17)


def test_person_create_normalises_hashes_and_audits() -> None:
    person = person_create(
        actor=SYSTEM,
        data=PersonInput(name=" 单  雄 ", phone="138-1234-5678", id_number=_id("19880512").lower(), source="dms"),
    )
    person.refresh_from_db()
    assert person.name == "单 雄" or person.name == "单雄"
    assert person.phone == "+8613812345678"
    assert person.birth_date == dt.date(1988, 5, 12) and person.gender == "M"
    assert person.id_number_hash and _id("19880512") not in str(Person.objects.filter(pk=person.pk).values().get())
    assert person.id_number_hint == "330106********" + _id("19880512")[-4:]
    assert ContactPoint.objects.get(person=person).last4 == "5678"
    audit = AuditEvent.objects.get(action="person.create")
    assert "13812345678" not in str(audit.summary)
    assert DomainEvent.objects.filter(name="person_created", person_id=person.pk).exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (PersonInput(name="", phone="13812345678"), "name"),
        (PersonInput(name="王伟", phone="1234"), "phone"),
        (PersonInput(name="王伟", id_number="330106198805121230"), "id_number"),
        (PersonInput(name="王伟", email="not-an-email"), "email"),
        (PersonInput(name="王伟", id_number=_id("19880512"), birth_date=dt.date(1990, 1, 1)), "birth_date"),
        (PersonInput(name="王伟", id_number=_id("19880512"), gender="F"), "gender"),
    ],
)
def test_bad_person_input_names_the_field_and_writes_nothing(data: PersonInput, field: str) -> None:
    with pytest.raises(FieldError) as err:
        person_create(actor=SYSTEM, data=data)
    assert err.value.field == field
    assert Person.objects.count() == 0 and AuditEvent.objects.count() == 0 and DomainEvent.objects.count() == 0


def test_vehicle_register_rejects_a_wrong_check_digit_and_duplicates() -> None:
    model = VehicleModelFactory.create()
    vin = make_vin(seq=7)
    wrong = vin[:8] + ("1" if vin[8] != "1" else "2") + vin[9:]
    with pytest.raises(FieldError, match="check digit"):
        vehicle_register(actor=SYSTEM, vin=wrong, model=model, colour="白")
    vehicle_register(actor=SYSTEM, vin=vin, model=model, colour="白", plate="浙A12345")
    with pytest.raises(FieldError, match="already registered"):
        vehicle_register(actor=SYSTEM, vin=vin.lower(), model=model, colour="白")
    assert Vehicle.objects.count() == 1


def test_transfer_ends_the_previous_ownership_and_publishes(world: World) -> None:
    previous = Ownership.objects.get(person=world.persons["a2_owner"])
    buyer = world.persons["prospect"]
    when = timezone.now()
    ownership_deliver(
        actor=SYSTEM,
        person=buyer,
        vehicle=previous.vehicle,
        dealer=world.dealers["A2"],
        delivered_at=when,
        previous_end_reason="trade_in",
    )
    previous.refresh_from_db()
    assert previous.ended_at == when and previous.end_reason == "trade_in"
    assert Ownership.objects.filter(vehicle=previous.vehicle, ended_at__isnull=True).get().person == buyer
    assert DomainEvent.objects.filter(name="vehicle_delivered", person_id=buyer.pk).exists()
    with pytest.raises(FieldError, match="already owns"):
        ownership_deliver(actor=SYSTEM, person=buyer, vehicle=previous.vehicle, dealer=None)
    with pytest.raises(FieldError, match="before the current owner's"):
        ownership_deliver(
            actor=SYSTEM,
            person=world.persons["b1_owner"],
            vehicle=previous.vehicle,
            dealer=None,
            delivered_at=when - dt.timedelta(days=1),
        )


def test_ownership_end_twice_is_an_error(world: World) -> None:
    ownership = Ownership.objects.get(person=world.persons["b1_owner"])
    ownership_end(actor=SYSTEM, ownership=ownership, reason="scrapped")
    with pytest.raises(FieldError, match="already ended"):
        ownership_end(actor=SYSTEM, ownership=ownership, reason="scrapped")


def test_a_person_has_one_butler_at_a_time_with_history(world: World) -> None:
    person = world.persons["a1_owner"]
    butler_assign(
        actor=SYSTEM, person=person, grid=world.grids["A1-north"], butler=world.staff["butler_a1b"], reason="搬家到拱墅"
    )
    history = list(ButlerAssignment.objects.filter(person=person).order_by("started_at"))
    assert [a.butler.user.username for a in history] == ["butler_a1", "butler_a1b"]
    assert history[0].ended_at is not None and history[1].ended_at is None
    # assigning the same butler again changes nothing
    again = butler_assign(actor=SYSTEM, person=person, grid=world.grids["A1-north"], butler=world.staff["butler_a1b"])
    assert again.pk == history[1].pk
    with pytest.raises(FieldError, match="another dealer"):
        from hufen.org.tests.factories import GridFactory

        butler_assign(
            actor=SYSTEM,
            person=person,
            grid=GridFactory.create(dealer=world.dealers["B1"]),
            butler=world.staff["butler_a1"],
        )
    with pytest.raises(FieldError, match="not a butler"):
        butler_assign(actor=SYSTEM, person=person, grid=world.grids["A1-west"], butler=world.staff["dealer_a1"])


@pytest.mark.parametrize(
    ("actor_name", "allowed"),
    [
        ("hq_admin", True),
        ("dealer_a1", True),
        ("butler_a1", True),
        ("hq_operator", False),
        ("region_east", False),
        ("merchant", False),
        ("api_dealer_a1", False),
    ],
)
def test_revealing_pii_needs_the_permission_and_is_audited(world: World, actor_name: str, allowed: bool) -> None:
    person = world.persons["a1_owner"]
    actor = world.actor(actor_name)
    if allowed:
        assert person_reveal_pii(actor=actor, person=person, field="phone", reason="回访") == "+8613812345678"
        event = AuditEvent.objects.get(action="pii.reveal")
        assert event.actor_user_id == actor.user_id and event.summary == {"field": "phone"}
    else:
        with pytest.raises(PermissionDenied):
            person_reveal_pii(actor=actor, person=person, field="phone")
        assert not AuditEvent.objects.filter(action="pii.reveal").exists()


def test_reveal_outside_scope_is_refused(world: World) -> None:
    with pytest.raises(PermissionDenied, match="scope"):
        person_reveal_pii(actor=world.actor("butler_a1"), person=world.persons["a1_other"], field="name")


def test_factories_build_valid_people() -> None:
    person = PersonFactory.create()
    assert person.name_pinyin and person.phone.startswith("+86")

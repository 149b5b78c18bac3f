from __future__ import annotations

import datetime as dt
import random

import factory
from django.utils import timezone

from hufen.common.names import name_initials, name_pinyin
from hufen.common.pii import vin_check_digit
from hufen.org.tests.factories import BrandFactory, DealerFactory
from hufen.people.models import ContactPoint, Household, Ownership, Person, ServiceVisit, Vehicle, VehicleModel

_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def make_vin(wmi: str = "LHF", seq: int | None = None) -> str:
    """A VIN with a correct check digit: WMI + 5 descriptor chars + check + year + plant + serial."""
    rnd = random.Random(seq)
    body = wmi + "".join(rnd.choice(_VIN_CHARS) for _ in range(5))
    tail = "R" + "H" + f"{(seq if seq is not None else rnd.randrange(10**6)) % 10**6:06d}"
    return body + vin_check_digit(body + "0" + tail) + tail


class HouseholdFactory(factory.django.DjangoModelFactory[Household]):
    class Meta:
        model = Household

    name = "王家"
    city = "杭州市"


class PersonFactory(factory.django.DjangoModelFactory[Person]):
    class Meta:
        model = Person
        skip_postgeneration_save = True

    name = factory.Faker("name", locale="zh_CN")
    name_pinyin = factory.LazyAttribute(lambda o: name_pinyin(o.name))
    name_initials = factory.LazyAttribute(lambda o: name_initials(o.name))
    gender = "M"
    phone = factory.Sequence(lambda n: f"+86138{n:08d}")
    province = "浙江省"
    city = "杭州市"
    district = "西湖区"
    address = "文三路 90 号 3 幢 501 室"

    @factory.post_generation
    def contacts(self: Person, create: bool, extracted: object, **kwargs: object) -> None:
        if create and self.phone:
            ContactPoint.objects.create(
                person=self, kind="phone", value=self.phone, last4=self.phone[-4:], is_primary=True
            )


class VehicleModelFactory(factory.django.DjangoModelFactory[VehicleModel]):
    class Meta:
        model = VehicleModel
        django_get_or_create = ("brand", "series", "name")

    brand = factory.SubFactory(BrandFactory)
    series = "星途"
    name = "2025款 1.5T 豪华版"
    energy_type = "ice"
    price_band = "c"
    msrp_fen = 15_980_000
    year = 2025
    wmi = "LHF"


class VehicleFactory(factory.django.DjangoModelFactory[Vehicle]):
    class Meta:
        model = Vehicle

    vin = factory.Sequence(lambda n: make_vin(seq=n))
    model = factory.SubFactory(VehicleModelFactory)
    colour = "星际银"
    plate = None


class OwnershipFactory(factory.django.DjangoModelFactory[Ownership]):
    class Meta:
        model = Ownership

    person = factory.SubFactory(PersonFactory)
    vehicle = factory.SubFactory(VehicleFactory)
    dealer = factory.SubFactory(DealerFactory)
    role = "owner"
    delivered_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=200))


class ServiceVisitFactory(factory.django.DjangoModelFactory[ServiceVisit]):
    class Meta:
        model = ServiceVisit

    person = factory.SubFactory(PersonFactory)
    vehicle = factory.SubFactory(VehicleFactory)
    dealer = factory.SubFactory(DealerFactory)
    kind = "maintenance"
    visited_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=30))

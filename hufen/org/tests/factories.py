from __future__ import annotations

import factory
from django.contrib.auth.models import User

from hufen.org.models import Brand, Dealer, Grid, Region, Staff

PASSWORD = "test-pass-2026"


class BrandFactory(factory.django.DjangoModelFactory[Brand]):
    class Meta:
        model = Brand
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"brand{n}")
    name = factory.Sequence(lambda n: f"品牌{n}")
    positioning = "mass"


class RegionFactory(factory.django.DjangoModelFactory[Region]):
    class Meta:
        model = Region
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"region{n}")
    name = factory.Sequence(lambda n: f"大区{n}")


class DealerFactory(factory.django.DjangoModelFactory[Dealer]):
    class Meta:
        model = Dealer
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"D{n:04d}")
    name = factory.Sequence(lambda n: f"杭州之江汽车销售服务有限公司{n}")
    region = factory.SubFactory(RegionFactory)
    province = "浙江省"
    city = "杭州市"
    district = "西湖区"
    address = "文三路 90 号"

    @factory.post_generation
    def brands(self, create: bool, extracted: list[Brand] | None, **kwargs: object) -> None:
        if create and extracted:
            self.brands.set(extracted)


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")

    @factory.post_generation
    def password(self: User, create: bool, extracted: str | None, **kwargs: object) -> None:
        self.set_password(extracted or PASSWORD)
        if create:
            self.save(update_fields=["password"])


class StaffFactory(factory.django.DjangoModelFactory[Staff]):
    class Meta:
        model = Staff

    user = factory.SubFactory(UserFactory)
    name = factory.Faker("name", locale="zh_CN")
    role = "hq_operator"


class GridFactory(factory.django.DjangoModelFactory[Grid]):
    class Meta:
        model = Grid

    dealer = factory.SubFactory(DealerFactory)
    name = factory.Sequence(lambda n: f"网格{n}")

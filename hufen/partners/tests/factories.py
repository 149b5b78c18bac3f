from __future__ import annotations

from decimal import Decimal

import factory

from hufen.org.models import Brand, Staff
from hufen.partners.models import Merchant, MerchantOperator
from hufen.partners.validation import credit_check_char


def credit_code(n: int) -> str:
    """A valid unified social credit code (GB 32100-2015 check character) for test merchants."""
    first17 = f"91330106MA{n:07d}"
    return first17 + credit_check_char(first17)


class MerchantFactory(factory.django.DjangoModelFactory[Merchant]):
    class Meta:
        model = Merchant
        skip_postgeneration_save = True

    kind = "territory"
    name = factory.Sequence(lambda n: f"老王洗车行{n}号店")
    legal_name = factory.Sequence(lambda n: f"杭州老王汽车美容服务有限公司{n}")
    credit_code = factory.Sequence(credit_code)
    scenario = "mobility"
    province = "浙江省"
    city = "杭州市"
    district = "西湖区"
    address = "文一西路 588 号"
    latitude = Decimal("30.274085")
    longitude = Decimal("120.155070")
    opening_hours = "周一至周日 09:00-21:00"
    status = "active"

    @factory.post_generation
    def brands(self, create: bool, extracted: list[Brand] | None, **kwargs: object) -> None:
        if create and extracted:
            self.brands.set(extracted)


def link_operator(staff: Staff, merchant: Merchant) -> MerchantOperator:
    return MerchantOperator.objects.create(staff=staff, merchant=merchant)

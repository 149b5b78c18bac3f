"""Partner validation messages speak Chinese first and English when the language is English: in the
services, on the portal's merchant form and in API errors."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from conftest import World
from hufen.common.errors import FieldError
from hufen.partners.models import Merchant
from hufen.partners.tests.factories import MerchantFactory
from hufen.partners.validation import china_coordinates, normalize_credit_code
from hufen.portal.tests.helpers import signed_in_client

pytestmark = pytest.mark.django_db
FORM = {
    "name": "静姐咖啡",
    "legal_name": "上海静姐餐饮管理有限公司",
    "credit_code": "91310115MA1K3YJ26B",
    "scenario": "food",
    "city": "上海市",
    "address": "张杨路 1500 号",
    "latitude": "31.2286",
    "longitude": "121.5264",
}
OFFER = {
    "title": "车主专享",
    "kind": "percent",
    "percent_off": 15,
    "amount_fen": 500,
    "valid_from": "2026-01-01T00:00:00+08:00",
    "valid_until": "2027-01-01T00:00:00+08:00",
}


def test_service_messages_in_chinese_by_default_and_in_english() -> None:
    with pytest.raises(FieldError) as zh:
        normalize_credit_code("91110000600037341K")
    assert zh.value.reason == "'91110000600037341K' 校验位错误（应为 L），请核对营业执照"
    with translation.override("en"), pytest.raises(FieldError) as en:
        normalize_credit_code("91110000600037341K")
    assert en.value.reason == "'91110000600037341K' fails the check character (expected L)"
    with translation.override("en"), pytest.raises(FieldError) as lat:
        china_coordinates("1.29", "103.85")
    assert lat.value.reason == "latitude 1.290000 is outside China (3.86–53.56°N)"


def test_merchant_form_errors_follow_the_language(world: World) -> None:
    client, _ = signed_in_client(world, "a2_owner", "mass")
    zh = client.post("/m/perks/apply/", {**FORM, "credit_code": "91310115MA1K3YJ26B"}).content.decode()
    assert "校验位错误" in zh and "check character" not in zh
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    en = client.post("/m/perks/apply/", {**FORM, "credit_code": "91310115MA1K3YJ26B"}).content.decode()
    assert "fails the check character" in en and "校验位错误" not in en
    assert not Merchant.objects.exists()


def test_api_errors_follow_the_language(world: World) -> None:
    shop = MerchantFactory.create(brands=[world.brands["mass"]])
    hq = Client()
    hq.force_login(world.staff["hq_operator"].user)
    url = f"/api/v1/partners/merchants/{shop.pk}/offers"
    zh = hq.post(url, OFFER, content_type="application/json")
    assert zh.status_code == 422
    assert zh.json()["error"]["details"]["field"] == "amount_fen"
    assert "折扣优惠不能同时立减金额或赠送物品" in zh.json()["error"]["message"]
    hq.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    en = hq.post(url, OFFER, content_type="application/json")
    assert en.status_code == 422
    assert "a percentage offer cannot also give a fixed amount or a free item" in en.json()["error"]["message"]

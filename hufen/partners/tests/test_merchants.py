"""Merchants: validation (credit code, coordinates), application by a verified owner, review by the
applicant's dealer or HQ, suspension, operator logins."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import World
from hufen.common.errors import FieldError, PermissionDenied
from hufen.common.models import AuditEvent, DomainEvent
from hufen.partners.models import Merchant
from hufen.partners.selectors import actor_for_merchant_operator
from hufen.partners.services import (
    merchant_apply,
    merchant_create,
    merchant_operator_create,
    merchant_review,
    merchant_set_status,
)
from hufen.partners.tests.conftest import member_actor
from hufen.partners.tests.factories import credit_code
from hufen.partners.validation import CREDIT_CHARSET, credit_check_char, normalize_credit_code

# --- the unified social credit code (GB 32100-2015) ---------------------------------------------

REAL_CODES = ["91110000600037341L", "91110108551385082Q", "914403001922038216", "91350100M000100Y43"]


@pytest.mark.parametrize("code", REAL_CODES)
def test_published_credit_codes_validate(code: str) -> None:
    assert normalize_credit_code(code.lower()) == code


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "18 位"),
        ("9111000060003734", "18 位"),
        ("91110000600037341O", "不允许的字符：O"),
        ("Z1110000600037341L", "不允许的字符：Z"),
        ("B1110000600037341L", "登记管理部门"),
        ("91AB0000600037341L", "行政区划码"),
        ("91110000600037341K", "校验位"),
    ],
)
def test_bad_credit_codes_name_the_field_and_reason(raw: str, reason: str) -> None:
    with pytest.raises(FieldError) as exc:
        normalize_credit_code(raw)
    assert exc.value.field == "credit_code" and reason in exc.value.reason


body = st.tuples(
    st.sampled_from(["91", "92", "93", "11", "12", "52", "Y1"]),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.text(alphabet=CREDIT_CHARSET, min_size=9, max_size=9),
).map("".join)


@given(body)
def test_property_a_computed_check_character_always_validates(first17: str) -> None:
    code = first17 + credit_check_char(first17)
    assert normalize_credit_code(code) == code


@given(body, st.integers(min_value=1, max_value=30))
def test_property_any_other_check_character_is_rejected(first17: str, shift: int) -> None:
    right = CREDIT_CHARSET.index(credit_check_char(first17))
    wrong = CREDIT_CHARSET[(right + shift) % 31]
    with pytest.raises(FieldError, match="校验位"):
        normalize_credit_code(first17 + wrong)


@given(body, st.integers(min_value=2, max_value=16), st.integers(min_value=1, max_value=30))
def test_property_a_single_changed_character_is_caught(first17: str, pos: int, shift: int) -> None:
    """Weights 3^i mod 31 are all non-zero mod a prime, so any one substitution changes the sum."""
    code = first17 + credit_check_char(first17)
    changed = CREDIT_CHARSET[(CREDIT_CHARSET.index(code[pos]) + shift) % 31]
    typo = code[:pos] + changed + code[pos + 1 :]
    with pytest.raises(FieldError):
        normalize_credit_code(typo)


# --- applying and reviewing ---------------------------------------------------------------------


def shop_data(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "静姐咖啡",
        "legal_name": "上海静姐餐饮管理有限公司",
        "credit_code": credit_code(4242),
        "scenario": "food",
        "province": "上海市",
        "city": "上海市",
        "district": "浦东新区",
        "address": "张杨路 1500 号",
        "latitude": "31.228611",
        "longitude": "121.526389",
        "opening_hours": "周一至周日 08:00-20:00",
    }
    data.update(over)
    return data


pytestmark = pytest.mark.django_db


def test_verified_owner_applies_and_the_dealer_approves(world: World) -> None:
    merchant = merchant_apply(actor=world.actor("member_a2"), data=shop_data())
    assert (merchant.kind, merchant.status) == ("territory", "applied")
    assert merchant.applicant == world.persons["a2_owner"]
    assert merchant.review_dealer == world.dealers["A2"]
    assert {b.code for b in merchant.brands.all()} == {"mass"}
    assert merchant.latitude == Decimal("31.228611")
    assert DomainEvent.objects.filter(name="merchant_applied", person_id=merchant.applicant_id).exists()
    # Another dealer may not review it; the applicant's dealer would (scope: the applicant's dealer).
    with pytest.raises(PermissionDenied):
        merchant_review(actor=world.actor("dealer_a1"), merchant=merchant, approve=True)
    with pytest.raises(PermissionDenied):
        merchant_review(actor=world.actor("region_east"), merchant=merchant, approve=True)
    approved = merchant_review(actor=world.actor("hq_operator"), merchant=merchant, approve=True)
    assert approved.status == "active" and approved.reviewed_by == world.staff["hq_operator"]
    assert DomainEvent.objects.filter(name="merchant_approved").count() == 1
    assert AuditEvent.objects.filter(action="merchant.approved", object_id=str(merchant.pk)).exists()
    with pytest.raises(FieldError, match="不在待审核状态"):
        merchant_review(actor=world.actor("hq_operator"), merchant=merchant, approve=False, reason="x")


def test_dealer_of_the_applicant_reviews_and_a_rejection_needs_a_reason(world: World) -> None:
    merchant = merchant_apply(actor=member_actor(world, "a1_owner"), data=shop_data(city="杭州市"))
    dealer = world.actor("dealer_a1")
    with pytest.raises(FieldError) as exc:
        merchant_review(actor=dealer, merchant=merchant, approve=False, reason="  ")
    assert exc.value.field == "reason"
    rejected = merchant_review(actor=dealer, merchant=merchant, approve=False, reason="营业执照与门店地址不符")
    assert (rejected.status, rejected.status_reason) == ("rejected", "营业执照与门店地址不符")
    assert DomainEvent.objects.filter(name="merchant_rejected").exists()
    # The same company may apply again after a rejection.
    again = merchant_apply(actor=member_actor(world, "a1_owner"), data=shop_data(city="杭州市"))
    assert again.status == "applied"


def test_only_a_verified_owner_may_apply(world: World) -> None:
    with pytest.raises(FieldError, match="认证车主"):
        merchant_apply(actor=member_actor(world, "prospect"), data=shop_data())
    for name in ["hq_admin", "merchant", "dealer_a1"]:
        with pytest.raises(PermissionDenied):
            merchant_apply(actor=world.actor(name), data=shop_data())
    assert not Merchant.objects.exists()


@pytest.mark.parametrize(
    ("over", "field", "reason"),
    [
        ({"credit_code": "91310115MA1K3YJ26B"}, "credit_code", "校验位"),
        ({"latitude": "1.29", "longitude": "103.85"}, "latitude", "不在中国境内"),
        ({"latitude": "35.68", "longitude": "139.69"}, "longitude", "不在中国境内"),
        ({"latitude": "abc"}, "latitude", "不是数字"),
        ({"scenario": "gaming"}, "scenario", "十大生活场景"),
        ({"name": ""}, "name", "必填"),
        ({"address": "x" * 201}, "address", "不能超过 200"),
        ({"photos": ["javascript:alert(1)"]}, "photos", "https://"),
    ],
)
def test_bad_merchant_input_is_a_clear_error_and_writes_nothing(
    world: World, over: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(FieldError) as exc:
        merchant_apply(actor=world.actor("member_a2"), data=shop_data(**over))
    assert exc.value.field == field and reason in exc.value.reason
    assert not Merchant.objects.exists() and not DomainEvent.objects.filter(name="merchant_applied").exists()


def test_duplicate_credit_code_and_second_pending_application_are_refused(world: World) -> None:
    merchant_apply(actor=world.actor("member_a2"), data=shop_data())
    with pytest.raises(FieldError, match="正在审核中"):
        merchant_apply(actor=world.actor("member_a2"), data=shop_data(credit_code=credit_code(7)))
    with pytest.raises(FieldError, match="已登记为合作商户"):
        merchant_apply(actor=member_actor(world, "b1_owner"), data=shop_data())


def test_hq_enrols_cross_industry_partner_and_suspends_and_reinstates(world: World) -> None:
    hq = world.actor("hq_admin")
    hotel = merchant_create(
        actor=hq,
        data=shop_data(name="全季酒店（陆家嘴店）", legal_name="汉庭星空（上海）酒店管理有限公司", scenario="travel"),
        brand_ids=[world.brands["mass"].pk, world.brands["premium"].pk],
    )
    assert (hotel.kind, hotel.status) == ("cross_industry", "active")
    with pytest.raises(PermissionDenied):
        merchant_create(actor=world.actor("dealer_a1"), data=shop_data(credit_code=credit_code(8)), brand_ids=[1])
    with pytest.raises(FieldError) as exc:
        merchant_create(actor=hq, data=shop_data(credit_code=credit_code(9)), brand_ids=[999999])
    assert exc.value.field == "brands"
    with pytest.raises(FieldError):
        merchant_set_status(actor=hq, merchant=hotel, status="active", reason="x")
    suspended = merchant_set_status(actor=hq, merchant=hotel, status="suspended", reason="顾客投诉核查中")
    assert suspended.status == "suspended"
    assert DomainEvent.objects.filter(name="merchant_suspended").exists()
    assert merchant_set_status(actor=hq, merchant=hotel, status="active", reason="核查完毕").status == "active"


def test_operator_login_is_linked_to_its_merchant(world: World) -> None:
    merchant = merchant_apply(actor=world.actor("member_a2"), data=shop_data())
    hq = world.actor("hq_admin")
    with pytest.raises(FieldError, match="not active"):
        merchant_operator_create(actor=hq, merchant=merchant, username="jingjie", name="陈静", password="x" * 12)
    merchant_review(actor=hq, merchant=merchant, approve=True)
    with pytest.raises(FieldError) as exc:
        merchant_operator_create(actor=hq, merchant=merchant, username="jingjie", name="陈静", password="short")
    assert exc.value.field == "password"
    staff = merchant_operator_create(
        actor=hq, merchant=merchant, username="jingjie", name="陈静", password="coffee-2026!"
    )
    actor = actor_for_merchant_operator(staff)
    assert actor.merchant_id == merchant.pk and actor.role == "merchant_operator"
    with pytest.raises(FieldError, match="already taken"):
        merchant_operator_create(actor=hq, merchant=merchant, username="jingjie", name="x", password="x" * 12)
    with pytest.raises(PermissionDenied):
        merchant_operator_create(
            actor=world.actor("dealer_b1"), merchant=merchant, username="other", name="x", password="x" * 12
        )

"""The digital car key: issuing to a member, verifying at a merchant, and every way it must fail."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator

import pytest
from django.core import signing
from django.core.cache import cache
from django.utils import timezone

from conftest import World
from hufen.common.actors import SYSTEM, Actor, Role
from hufen.common.errors import FieldError, PermissionDenied
from hufen.common.models import AuditEvent, DomainEvent
from hufen.membership.services import member_join
from hufen.partners import carkey
from hufen.partners.carkey import CarKeyRejected, car_key_issue, car_key_verify
from hufen.partners.models import CarKeyAttempt, CarKeyCode, Merchant
from hufen.partners.selectors import actor_for_merchant_operator
from hufen.partners.tests.conftest import member_actor
from hufen.partners.tests.factories import MerchantFactory, link_operator
from hufen.people.models import Ownership
from hufen.people.tests.factories import OwnershipFactory, VehicleFactory, VehicleModelFactory

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 6, 1, 4, 0, tzinfo=dt.UTC)


def outcomes() -> list[str]:
    return list(CarKeyAttempt.objects.order_by("id").values_list("outcome", flat=True))


def rejected(actor: Actor, code: str, **kw: dt.datetime) -> str:
    with pytest.raises(CarKeyRejected) as exc:
        car_key_verify(actor=actor, code=code, **kw)
    assert exc.value.field == "code"
    return exc.value.outcome


# --- issuing --------------------------------------------------------------------------------------


def test_issue_binds_member_vehicle_nonce_and_short_expiry(world: World) -> None:
    owner = world.persons["a2_owner"]
    key = car_key_issue(actor=world.actor("member_a2"), now=T0)
    vehicle_id = Ownership.objects.get(person=owner).vehicle_id
    assert key.vehicle_id == vehicle_id
    assert len(key.short_code) == 6 and key.short_code.isdigit()
    assert T0 < key.expires_at <= T0 + dt.timedelta(seconds=60)
    payload = signing.loads(key.token[4:], salt="hufen.partners.carkey.v1")
    assert payload["p"] == owner.pk and payload["v"] == vehicle_id
    assert payload["e"] == int(key.expires_at.timestamp())
    row = CarKeyCode.objects.get(nonce=payload["n"])
    # The 6-digit code is stored only as a keyed digest.
    assert row.code_digest and key.short_code not in row.code_digest
    # Two keys never share a nonce or a live code.
    other = car_key_issue(actor=world.actor("member_a2"), now=T0)
    assert other.token != key.token
    assert CarKeyCode.objects.filter(person=owner).values("nonce").distinct().count() == 2


def test_default_vehicle_is_the_most_recent_current_ownership(world: World) -> None:
    owner = world.persons["a2_owner"]
    newer = OwnershipFactory.create(
        person=owner,
        dealer=world.dealers["A2"],
        vehicle=VehicleFactory.create(model=VehicleModelFactory.create(brand=world.brands["mass"], series="星河 S9")),
        delivered_at=timezone.now() + dt.timedelta(days=1),
    )
    actor = world.actor("member_a2")
    assert car_key_issue(actor=actor).vehicle_id == newer.vehicle_id
    older = Ownership.objects.filter(person=owner).exclude(pk=newer.pk).get()
    assert car_key_issue(actor=actor, vehicle_id=older.vehicle_id).vehicle_id == older.vehicle_id


def test_issue_refuses_a_vehicle_not_owned_and_a_person_without_one(world: World) -> None:
    someone_elses = Ownership.objects.get(person=world.persons["b1_owner"]).vehicle_id
    with pytest.raises(FieldError) as exc:
        car_key_issue(actor=world.actor("member_a2"), vehicle_id=someone_elses)
    assert exc.value.field == "vehicle_id"
    with pytest.raises(FieldError, match="没有在用车辆"):
        car_key_issue(actor=member_actor(world, "prospect"))
    ended = Ownership.objects.get(person=world.persons["a2_owner"])
    ended.ended_at = timezone.now()
    ended.end_reason = "transfer"
    ended.save()
    with pytest.raises(FieldError, match="没有在用车辆"):
        car_key_issue(actor=world.actor("member_a2"))
    assert not CarKeyCode.objects.exists()


@pytest.mark.parametrize("name", ["hq_admin", "dealer_a1", "merchant", "api_dealer_a1"])
def test_only_members_get_a_car_key(world: World, name: str) -> None:
    with pytest.raises(PermissionDenied):
        car_key_issue(actor=world.actor(name))


def test_issuing_is_rate_limited_per_member(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(carkey, "MEMBER_ISSUES_PER_WINDOW", 3)
    actor = world.actor("member_a2")
    for _ in range(3):
        car_key_issue(actor=actor, now=T0)
    with pytest.raises(FieldError, match="频繁"):
        car_key_issue(actor=actor, now=T0)
    cache.clear()  # the DB rows still count
    with pytest.raises(FieldError, match="频繁"):
        car_key_issue(actor=actor, now=T0)
    car_key_issue(actor=actor, now=T0 + dt.timedelta(seconds=carkey.WINDOW_SECONDS + 1))


def test_short_code_collision_is_retried_and_expired_codes_are_reissued(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    draws: Iterator[int] = iter([123456, 123456, 654321, 123456])
    monkeypatch.setattr(carkey.secrets, "randbelow", lambda n: next(draws))
    a2 = world.actor("member_a2")
    first = car_key_issue(actor=a2, now=T0)
    second = car_key_issue(actor=member_actor(world, "b1_owner"), now=T0)
    assert (first.short_code, second.short_code) == ("123456", "654321")
    # After the first expired, its number may be drawn again; the old key no longer answers to it.
    later = T0 + dt.timedelta(seconds=61)
    third = car_key_issue(actor=a2, now=later)
    assert third.short_code == "123456"
    assert CarKeyCode.objects.filter(code_digest__isnull=True).count() == 1


# --- verifying ----------------------------------------------------------------------------------


def test_qr_verifies_once_and_shows_only_a_masked_holder(world: World, shop_actor: Actor, shop: Merchant) -> None:
    member = member_join(actor=SYSTEM, person=world.persons["a1_owner"], brand=world.brands["mass"], channel="api")
    actor = member_actor(world, "a1_owner")
    key = car_key_issue(actor=actor)
    holder = car_key_verify(actor=shop_actor, code=key.token)
    assert holder.masked_name == "王*伟"
    assert holder.series == "星河 S7"
    assert holder.tier == member.tier.name and holder.tier
    assert holder.member_id == member.pk and holder.vehicle_id == key.vehicle_id
    assert "王小伟" not in repr(holder) and "138" not in repr(holder)
    assert outcomes() == ["ok"]
    assert AuditEvent.objects.filter(action="car_key.verified", object_id=str(holder.key_id)).exists()
    assert DomainEvent.objects.filter(name="car_key_verified", person_id=holder.person_id).exists()
    # Replaying the same QR, or reading out its 6-digit code, fails: a key is used once.
    assert rejected(shop_actor, key.token) == "used"
    assert rejected(shop_actor, key.short_code) == "used"
    assert outcomes() == ["ok", "used", "used"]
    assert CarKeyCode.objects.get(pk=holder.key_id).used_by == shop


def test_six_digit_code_verifies(world: World, shop_actor: Actor) -> None:
    key = car_key_issue(actor=world.actor("member_a2"))
    holder = car_key_verify(actor=shop_actor, code=f" {key.short_code} ")
    assert holder.masked_name == "陈*"
    assert holder.tier == ""  # not a member of the program: still an owner
    assert rejected(shop_actor, key.short_code) == "used"


def test_expired_qr_and_code_are_rejected_and_logged(world: World, shop_actor: Actor) -> None:
    a = car_key_issue(actor=world.actor("member_a2"), now=T0)
    b = car_key_issue(actor=world.actor("member_a2"), now=T0)
    late = T0 + dt.timedelta(seconds=60)
    assert rejected(shop_actor, a.token, now=late) == "expired"
    assert rejected(shop_actor, b.short_code, now=late) == "expired"
    assert outcomes() == ["expired", "expired"]
    assert CarKeyCode.objects.filter(used_at__isnull=False).count() == 0
    # One second earlier it would have passed.
    assert car_key_verify(actor=shop_actor, code=a.token, now=late - dt.timedelta(seconds=1))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_forged_and_tampered_tokens_are_rejected(world: World, shop_actor: Actor) -> None:
    key = car_key_issue(actor=world.actor("member_a2"))
    payload_b64, rest = key.token[4:].split(":", 1)
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    # Tampered: the same signature over another person's vehicle.
    payload["v"] = Ownership.objects.get(person=world.persons["b1_owner"]).vehicle_id
    tampered = "HK1." + _b64(json.dumps(payload, separators=(",", ":")).encode()) + ":" + rest
    assert rejected(shop_actor, tampered) == "forged"
    # Forged: signed with another key (a guessed secret) or another salt.
    forged = "HK1." + signing.dumps(payload, key="not-the-secret", salt="hufen.partners.carkey.v1")
    assert rejected(shop_actor, forged) == "forged"
    assert rejected(shop_actor, "HK1." + signing.dumps(payload, salt="other")) == "forged"
    # A correctly signed payload whose nonce was never issued (e.g. a leaked old secret) is refused too.
    assert rejected(shop_actor, "HK1." + signing.dumps({**payload, "n": "x" * 22}, salt=carkey._SALT)) == "forged"
    assert rejected(shop_actor, "hello") == "malformed"
    assert rejected(shop_actor, "12345") == "malformed"
    assert rejected(shop_actor, "999999" if key.short_code != "999999" else "000000") == "unknown"
    assert outcomes() == ["forged", "forged", "forged", "forged", "malformed", "malformed", "unknown"]
    # The genuine key is still good.
    assert car_key_verify(actor=shop_actor, code=key.token).vehicle_id == key.vehicle_id


def test_vehicle_sold_after_issue_and_brand_not_served(world: World, shop_actor: Actor, shop: Merchant) -> None:
    key = car_key_issue(actor=world.actor("member_a2"))
    Ownership.objects.filter(person=world.persons["a2_owner"]).update(ended_at=timezone.now(), end_reason="transfer")
    assert rejected(shop_actor, key.token) == "not_owned"
    shop.brands.set([world.brands["premium"]])
    mass_key = car_key_issue(actor=member_actor(world, "a1_owner"))
    assert rejected(shop_actor, mass_key.short_code) == "brand"
    premium_key = car_key_issue(actor=member_actor(world, "b1_owner"))
    assert car_key_verify(actor=shop_actor, code=premium_key.short_code).series == "极境 E9"


def test_only_an_operator_of_an_active_merchant_verifies(world: World) -> None:
    shop: Merchant = MerchantFactory.create(brands=[world.brands["mass"]])
    key = car_key_issue(actor=world.actor("member_a2"))
    # The merchant login without a merchant link, and every other role, may not verify.
    for name in ["merchant", "hq_admin", "dealer_a1", "member_a2"]:
        with pytest.raises(PermissionDenied):
            car_key_verify(actor=world.actor(name), code=key.short_code)
    operator = actor_for_merchant_operator(world.staff["merchant"])
    assert operator.merchant_id is None  # no link yet
    shop.status = "suspended"
    shop.save()
    link_operator(world.staff["merchant"], shop)
    with pytest.raises(PermissionDenied, match="未在营业状态"):
        car_key_verify(actor=actor_for_merchant_operator(world.staff["merchant"]), code=key.short_code)
    assert not CarKeyCode.objects.filter(used_at__isnull=False).exists()


def test_brute_force_of_six_digit_codes_is_stopped_per_merchant(
    world: World, shop_actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = car_key_issue(actor=world.actor("member_a2"))
    guesses = [f"{n:06d}" for n in range(1000) if f"{n:06d}" != key.short_code]
    refused = [rejected(shop_actor, g) for g in guesses[:40]]
    limit = carkey.MERCHANT_FAILURES_PER_WINDOW
    assert refused[:limit] == ["unknown"] * limit
    assert set(refused[limit:]) == {"rate_limited"}
    # Once blocked, even the right code is refused: guessing cannot continue.
    assert rejected(shop_actor, key.short_code) == "rate_limited"
    # A flushed cache does not lift the block: the DB log still counts the failures.
    cache.clear()
    assert rejected(shop_actor, key.short_code) == "rate_limited"
    assert CarKeyAttempt.objects.filter(outcome="unknown").count() == limit
    assert CarKeyAttempt.objects.filter(outcome="rate_limited").count() == 32
    # Another merchant is unaffected.
    other: Merchant = MerchantFactory.create(brands=[world.brands["mass"]])
    staff_b = world.staff["butler_a1b"]
    staff_b.role = "merchant_operator"
    staff_b.save()
    link_operator(staff_b, other)
    assert car_key_verify(actor=actor_for_merchant_operator(staff_b), code=key.short_code)


def test_the_daily_failure_cap_holds_across_windows(world: World, shop_actor: Actor) -> None:
    per_window = carkey.MERCHANT_FAILURES_PER_WINDOW
    windows = -(-carkey.MERCHANT_FAILURES_PER_DAY // per_window)
    t = T0
    for _ in range(windows):
        for _ in range(per_window):
            rejected(shop_actor, "000000", now=t)
        t += dt.timedelta(seconds=carkey.WINDOW_SECONDS + 1)
    key = car_key_issue(actor=world.actor("member_a2"), now=t)
    assert rejected(shop_actor, key.short_code, now=t) == "rate_limited"
    next_day = t + dt.timedelta(days=1)
    key = car_key_issue(actor=world.actor("member_a2"), now=next_day)
    assert car_key_verify(actor=shop_actor, code=key.short_code, now=next_day)


def test_verifications_are_rate_limited_per_member(
    world: World, shop_actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(carkey, "MEMBER_VERIFICATIONS_PER_WINDOW", 3)
    actor = world.actor("member_a2")
    for _ in range(3):
        car_key_verify(actor=shop_actor, code=car_key_issue(actor=actor, now=T0).token, now=T0)
    assert rejected(shop_actor, car_key_issue(actor=actor, now=T0).token, now=T0) == "rate_limited"
    cache.clear()
    assert rejected(shop_actor, car_key_issue(actor=actor, now=T0).token, now=T0) == "rate_limited"
    # Another member at the same merchant still verifies.
    assert car_key_verify(
        actor=shop_actor, code=car_key_issue(actor=member_actor(world, "b1_owner"), now=T0).token, now=T0
    )


def test_merchant_actor_builder(world: World, shop: Merchant) -> None:
    actor = actor_for_merchant_operator(world.staff["merchant"])
    assert (actor.role, actor.merchant_id) == (Role.MERCHANT_OPERATOR, shop.pk)
    assert actor_for_merchant_operator(world.staff["dealer_a1"]).merchant_id is None

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.errors import FieldError, NotFound
from hufen.membership.benefits import benefit_redeem, redemption_cancel, redemption_fulfil
from hufen.membership.errors import IdempotencyConflict
from hufen.membership.ledger import points_award
from hufen.membership.models import BenefitItem, Member, PointsAccount, PointsLot, Redemption, TierDefinition
from hufen.membership.tests.helpers import T0, assert_ledger_consistent, item, join


def _rich(world: World, points: int = 1_000, person: str = "a1_owner") -> Member:
    member = join(world, person)
    points_award(actor=SYSTEM, member=member, amount=points, reason="goodwill", idempotency_key="seed", now=T0)
    return member


def _redeem(member: Member, it: BenefitItem, key: str = "r1", quantity: int = 1) -> Redemption:
    return benefit_redeem(actor=SYSTEM, member=member, item=it, quantity=quantity, idempotency_key=key, now=T0)


def test_redeem_reserves_points_and_stock_and_cancel_gives_both_back(world: World) -> None:
    member = _rich(world)
    it = item(member, price=300, stock=5)
    r = _redeem(member, it, quantity=2)
    assert (r.status, r.points) == ("reserved", 600)
    assert PointsAccount.objects.get(member=member).balance == 400
    assert BenefitItem.objects.get(pk=it.pk).stock == 3
    assert _redeem(member, it, quantity=2).pk == r.pk  # same key: the first redemption
    with pytest.raises(IdempotencyConflict):
        _redeem(member, it, quantity=1)
    redemption_cancel(actor=SYSTEM, redemption=r)
    assert PointsAccount.objects.get(member=member).balance == 1_000
    assert PointsLot.objects.get(account__member=member).remaining == 1_000
    assert BenefitItem.objects.get(pk=it.pk).stock == 5
    assert redemption_cancel(actor=SYSTEM, redemption=r).status == "cancelled"  # twice: no-op
    assert_ledger_consistent()


def test_fulfilled_cannot_be_cancelled(world: World) -> None:
    member = _rich(world)
    r = _redeem(member, item(member))
    redemption_fulfil(actor=SYSTEM, redemption=r)
    with pytest.raises(FieldError, match="fulfilled"):
        redemption_cancel(actor=SYSTEM, redemption=r)


def test_per_member_limit_and_cancelled_do_not_count(world: World) -> None:
    member = _rich(world)
    it = item(member, per_member_limit=2)
    first = _redeem(member, it, "a", 2)
    with pytest.raises(FieldError, match="limit is 2"):
        _redeem(member, it, "b")
    redemption_cancel(actor=SYSTEM, redemption=first)
    _redeem(member, it, "c", 2)


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        ({"stock": 0}, "in stock"),
        ({"price": 5_000}, "exceed the available balance"),
        ({"valid_until": T0 - dt.timedelta(days=1)}, "expired"),
        ({"valid_from": T0 + dt.timedelta(days=1)}, "can be redeemed from"),
    ],
)
def test_refused_redemptions_change_nothing(world: World, setup: dict[str, Any], match: str) -> None:
    member = _rich(world)
    it = item(member, **setup)
    with pytest.raises(FieldError, match=match):
        _redeem(member, it)
    assert Redemption.objects.count() == 0
    assert PointsAccount.objects.get(member=member).balance == 1_000
    assert BenefitItem.objects.get(pk=it.pk).stock == it.stock


def test_foreign_and_tier_restricted_benefits_are_refused(world: World) -> None:
    member = _rich(world)
    premium_member = join(world, "b1_owner", "premium")
    foreign = item(premium_member, code="lounge")
    with pytest.raises(FieldError, match="another brand"):
        _redeem(member, foreign)
    gold = TierDefinition.objects.get(program=member.program, code="gold")
    with pytest.raises(FieldError, match="needs tier"):
        _redeem(member, item(member, code="vip", min_tier=gold))
    assert_ledger_consistent()


@pytest.mark.parametrize("name", ["dealer_b1", "butler_a1b", "member_a2"])
def test_redeem_and_cancel_outside_the_actors_scope_are_not_found(world: World, name: str) -> None:
    # given a1_owner's redemption (a1_owner is outside dealer_b1's, butler_a1b's and member_a2's scope)
    member = _rich(world)
    it = item(member, price=100, stock=5)
    r = _redeem(member, it)
    actor = world.actor(name)
    if name == "member_a2":  # an owner in the portal carries the redeem permission for themselves
        actor = replace(actor, extra_permissions=frozenset({"benefits.redeem"}))
    # when that actor redeems or cancels on a1_owner's membership, then it is refused as not found
    with pytest.raises(NotFound):
        benefit_redeem(actor=actor, member=member, item=it, quantity=1, idempotency_key="x", now=T0)
    with pytest.raises(NotFound):
        redemption_cancel(actor=actor, redemption=r)
    # and nothing changed
    assert PointsAccount.objects.get(member=member).balance == 900
    assert Redemption.objects.get(pk=r.pk).status == "reserved"
    assert Redemption.objects.count() == 1


def test_redeem_inside_the_actors_scope_works(world: World) -> None:
    member = _rich(world)
    it = item(member, price=100, stock=5)
    r = benefit_redeem(actor=world.actor("butler_a1"), member=member, item=it, quantity=1, idempotency_key="b")
    assert redemption_cancel(actor=world.actor("dealer_a1"), redemption=r).status == "cancelled"

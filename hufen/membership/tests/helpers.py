"""Test helpers: enrol world persons and reconcile the ledger after every scenario."""

from __future__ import annotations

import datetime as dt

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.membership.benefits import benefit_create
from hufen.membership.models import BenefitItem, Member
from hufen.membership.selectors import ledger_verify
from hufen.membership.services import member_join

T0 = dt.datetime(2026, 3, 15, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai


def join(world: World, person: str = "a1_owner", brand: str = "mass") -> Member:
    return member_join(actor=SYSTEM, person=world.persons[person], brand=world.brands[brand], channel="api")


def item(member: Member, *, code: str = "wash", price: int = 100, stock: int = 50, **kw: object) -> BenefitItem:
    return benefit_create(
        actor=SYSTEM,
        member_program_id=member.program_id,
        code=code,
        name="精洗一次",
        points_price=price,
        stock=stock,
        **kw,  # type: ignore[arg-type]
    )


def assert_ledger_consistent() -> None:
    found = ledger_verify()
    assert found == [], found

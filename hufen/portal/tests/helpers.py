"""Portal test helpers: read codes from the real outbox, sign a world person in, seed a catalogue."""

from __future__ import annotations

import re

from django.test import Client

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.membership.benefits import benefit_create
from hufen.membership.ledger import points_award
from hufen.membership.models import BenefitItem, Member, TierDefinition
from hufen.membership.services import member_join
from hufen.portal.access import COOKIE_NAME
from hufen.portal.models import SmsMessage
from hufen.portal.services import (
    JoinRequired,
    SignIn,
    login_code_request,
    member_join_with_consent,
    member_sign_in,
)
from hufen.portal.terms import TERMS_VERSION

CODE = re.compile(r"(\d{6})")


def last_code(phone: str) -> str:
    """The code in the newest message to `phone` (E.164), read from the outbox like an owner reads SMS."""
    message = SmsMessage.objects.filter(phone=phone).order_by("-id").first()
    assert message is not None, f"no SMS to {phone}"
    found = CODE.search(message.body)
    assert found, message.body
    return found.group(1)


def sign_in(phone: str, brand: str = "mass", name: str = "", channel: str = "h5") -> SignIn:
    """Sign in with the code from the outbox, agreeing to the terms when the brand asks to join first."""
    login_code_request(phone=phone, brand_code=brand, ip="10.0.0.1")
    try:
        return member_sign_in(
            phone=phone, code=last_code(phone), brand_code=brand, name=name, ip="10.0.0.1", channel=channel
        )
    except JoinRequired as needed:
        return member_join_with_consent(
            ticket=needed.pending.ticket, accept_terms=True, terms_version=TERMS_VERSION, ip="10.0.0.1", channel=channel
        )


def signed_in_client(world: World, person: str = "a2_owner", brand: str = "mass") -> tuple[Client, Member]:
    """A test client holding a real portal session of `person`, signed in through SMS like an owner."""
    signed = sign_in(world.persons[person].phone, brand)
    client = Client()
    client.cookies[COOKIE_NAME] = signed.token
    return client, signed.member


def enrol(world: World, person: str, brand: str = "mass") -> Member:
    return member_join(actor=SYSTEM, person=world.persons[person], brand=world.brands[brand], channel="api")


def award(member: Member, amount: int, key: str, reason: str = "service_visit") -> None:
    points_award(actor=SYSTEM, member=member, amount=amount, reason=reason, idempotency_key=key)


def catalogue(member: Member) -> dict[str, BenefitItem]:
    """A small catalogue: a car wash anyone can take, a gold-tier lounge pass, a scarce detailing voucher."""
    gold = TierDefinition.objects.get(program_id=member.program_id, code="gold")
    return {
        "wash": benefit_create(
            actor=SYSTEM, member_program_id=member.program_id, code="wash", name="精洗一次", points_price=300, stock=50
        ),
        "lounge": benefit_create(
            actor=SYSTEM,
            member_program_id=member.program_id,
            code="lounge",
            name="机场贵宾厅",
            points_price=2000,
            stock=10,
            min_tier=gold,
        ),
        "detail": benefit_create(
            actor=SYSTEM,
            member_program_id=member.program_id,
            code="detail",
            name="内饰深度清洁",
            points_price=500,
            stock=1,
            per_member_limit=1,
        ),
    }

"""The demo's membership, Member Day and partner data: reconciled ledgers, tiers, logins, idempotence."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count, Sum

from hufen.demo.generate import COUNTED, generate_demo
from hufen.demo.logins import DEMO_OWNER_PHONE, PORTAL_LOGIN, render_logins
from hufen.demo.loyalty import BENEFITS, EARNING_RULES
from hufen.demo.partners import PAST_REDEMPTIONS, TERRITORY_COUNT
from hufen.memberday.models import CheckIn, Occurrence, Session, TaskCompletion
from hufen.membership.models import (
    BenefitItem,
    EarningRule,
    LotMovement,
    Member,
    PointsEntry,
    PointsLot,
    Program,
    TierDefinition,
)
from hufen.membership.selectors import ledger_verify
from hufen.membership.services import qualifying_points, tier_for
from hufen.org.models import Brand
from hufen.partners.models import Merchant, MerchantOperator, Offer, PerkRedemption
from hufen.partners.selectors import merchant_actor_for_user
from hufen.partners.validation import normalize_credit_code
from hufen.people.models import Ownership, Person

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 20, 4, tzinfo=dt.UTC)
PERSONS = 400


@pytest.fixture
def demo() -> None:
    generate_demo(persons=PERSONS, seed=7, today=TODAY)


def test_the_ledger_reconciles_after_the_demo(demo: None) -> None:
    assert PointsEntry.objects.count() > 500
    assert ledger_verify() == []
    kinds = set(PointsEntry.objects.values_list("kind", flat=True))
    assert {"award", "spend", "expire"} <= kinds
    assert LotMovement.objects.exists()


def test_every_brand_has_a_program_tiers_rules_catalogue_and_members(demo: None) -> None:
    for brand in Brand.objects.all():
        program = Program.objects.get(brand=brand)
        assert TierDefinition.objects.filter(program=program).count() == 4
        assert set(EarningRule.objects.filter(program=program).values_list("code", flat=True)) == {
            r[0] for r in EARNING_RULES
        }
        assert BenefitItem.objects.filter(program=program).count() == len(BENEFITS)
        assert BenefitItem.objects.filter(program=program, name="免费洗车券").exists()
        members = Member.objects.filter(program=program).count()
        assert members > 10
        numbers = Member.objects.filter(program=program).values_list("number", flat=True)
        assert all(n.startswith(program.number_prefix) and len(n) == len(program.number_prefix) + 9 for n in numbers)
        program.refresh_from_db()
        assert program.next_number == members + 1
    owners = Ownership.objects.filter(role="owner").values("person_id").distinct().count()
    share = Member.objects.values("person_id").distinct().count() / owners
    assert 0.2 < share < 0.6
    assert Member.objects.filter(person__ownerships__isnull=True).exists()  # prospects joined too


def test_tiers_match_the_qualifying_points_and_every_member_has_an_account(demo: None) -> None:
    members = list(Member.objects.select_related("program", "tier", "account"))
    assert {m.tier.code for m in members} >= {"standard", "gold"}
    for member in members:
        points = qualifying_points(member, as_of=NOW)
        assert member.tier == tier_for(member.program, points), member.number
        assert member.account.balance >= 0


def test_member_day_occurrences_check_ins_and_sessions(demo: None) -> None:
    for brand in Brand.objects.all():
        days = sorted(Occurrence.objects.filter(brand=brand).values_list("day", flat=True))
        assert [(d.year, d.month) for d in days] == [(2026, 9), (2026, 10), (2026, 11), (2026, 12)]
    past = Occurrence.objects.filter(ends_at__lte=NOW)
    assert CheckIn.objects.filter(occurrence__in=past).exists()
    assert not CheckIn.objects.exclude(occurrence__in=past).exists()
    for checkin in CheckIn.objects.select_related("occurrence", "member")[:50]:
        assert checkin.entry_id is not None
        entry = PointsEntry.objects.get(pk=checkin.entry_id)
        assert entry.account.member_id == checkin.member_id
        assert entry.amount == checkin.points == checkin.occurrence.checkin_points
        assert entry.idempotency_key == f"memberday:{checkin.occurrence_id}:checkin"
        assert checkin.occurrence.starts_at <= checkin.checked_in_at < checkin.occurrence.ends_at
        assert checkin.member.joined_at < checkin.checked_in_at
    assert Session.objects.count() >= 4
    completions = TaskCompletion.objects.select_related("task", "occurrence")
    assert completions.exists()
    for done in completions[:50]:
        assert done.entry_id is not None
        entry = PointsEntry.objects.get(pk=done.entry_id)
        assert (entry.account.member_id, entry.amount, entry.reason) == (
            done.member_id,
            done.task.points,
            "memberday_task",
        )
        assert entry.idempotency_key == f"memberday:{done.occurrence_id}:task:share"
        assert done.occurrence.starts_at <= done.completed_at < done.occurrence.ends_at
        assert CheckIn.objects.filter(occurrence=done.occurrence, member_id=done.member_id).exists()


def test_partners_have_valid_credit_codes_offers_and_the_merchant_login_resolves(demo: None) -> None:
    assert Merchant.objects.filter(kind="territory", status="active").count() == TERRITORY_COUNT
    assert Merchant.objects.filter(kind="cross_industry").count() >= 3
    for merchant in Merchant.objects.all():
        assert normalize_credit_code(merchant.credit_code) == merchant.credit_code
        assert merchant.offers.exists()
    assert Merchant.objects.values("credit_code").distinct().count() == Merchant.objects.count()
    user = get_user_model().objects.get(username="merchant")
    actor = merchant_actor_for_user(user)
    assert actor is not None and actor.merchant_id is not None
    link = MerchantOperator.objects.get(staff__user=user)
    assert actor.merchant_id == link.merchant_id
    assert Offer.objects.filter(merchant=link.merchant, active=True).exists()
    perks = PerkRedemption.objects.filter(merchant=link.merchant)
    assert perks.count() == PAST_REDEMPTIONS
    assert all(p.created_at < NOW and p.value_fen > 0 and p.status == "recorded" for p in perks)


def test_the_demo_owner_is_a_member_with_a_current_car_points_and_a_tier(demo: None) -> None:
    person = Person.objects.get(phone=DEMO_OWNER_PHONE)
    assert Ownership.objects.filter(person=person, role="owner", ended_at__isnull=True).exists()
    first_brand = Brand.objects.order_by("id").first()  # the portal's default brand
    member = Member.objects.select_related("account", "tier").get(person=person, program__brand=first_brand)
    assert member.account.balance > 0
    assert member.tier.rank >= 1 and member.status == "active"
    assert PORTAL_LOGIN.phone == DEMO_OWNER_PHONE
    text = render_logins()
    assert DEMO_OWNER_PHONE in text and "/m/login/" in text and "/console/sms/" in text


def test_running_twice_adds_nothing_and_a_bigger_run_adds_members_for_new_persons(demo: None) -> None:
    before = {name: model._default_manager.count() for name, model in COUNTED.items()}
    balances = dict(PointsEntry.objects.values_list("account_id").annotate(s=Sum("amount")))
    generate_demo(persons=PERSONS, seed=7, today=TODAY)
    assert {name: model._default_manager.count() for name, model in COUNTED.items()} == before
    assert dict(PointsEntry.objects.values_list("account_id").annotate(s=Sum("amount"))) == balances
    generate_demo(persons=PERSONS + 200, seed=7, today=TODAY)
    assert Member.objects.count() > before["members"]
    assert not Member.objects.values("program", "person").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert ledger_verify() == []
    assert PointsLot.objects.count() == PointsEntry.objects.filter(kind="award").count()


def test_the_demo_owner_signs_in_to_the_portal_with_the_code_from_the_sms_outbox(demo: None) -> None:
    from hufen.portal.models import SmsMessage
    from hufen.portal.services import login_code_request, member_sign_in

    members_before = Member.objects.count()
    login_code_request(phone=DEMO_OWNER_PHONE)
    body = SmsMessage.objects.filter(phone=DEMO_OWNER_PHONE).order_by("-id").values_list("body", flat=True).first()
    assert body is not None
    code = re.search(r"\b(\d{6})\b", body)
    assert code is not None, body
    signed = member_sign_in(phone=DEMO_OWNER_PHONE, code=code.group(1))
    assert not signed.created_person
    assert Member.objects.count() == members_before  # an existing member of the default brand
    assert signed.member.person.phone == DEMO_OWNER_PHONE
    assert signed.member.account.balance > 0

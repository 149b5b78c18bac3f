"""Console membership pages: scoped member list and detail, and the catalogue forms."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client
from django.utils import translation

from conftest import EXPECTED_SCOPE, STAFF_ACTORS, World
from hufen.common.actors import SYSTEM
from hufen.membership.benefits import benefit_redeem
from hufen.membership.earning import points_earn
from hufen.membership.ledger import points_award
from hufen.membership.models import BenefitItem, EarningRule, Member, TierDefinition
from hufen.membership.tests.earning_helpers import rule, send, shanghai
from hufen.membership.tests.helpers import item, join

CONSOLE_STAFF = [n for n in STAFF_ACTORS if n != "merchant"]


@pytest.fixture
def login(world: World) -> Callable[[str], Client]:
    def as_(name: str) -> Client:
        client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
        client.force_login(world.staff[name].user)
        return client

    return as_


@pytest.fixture
def members(world: World) -> dict[str, Member]:
    return {key: join(world, key) for key in world.persons}


def listed_ids(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'data-member-id="(\d+)"', html)}


@pytest.mark.parametrize("name", CONSOLE_STAFF)
def test_member_list_and_detail_are_scoped(
    world: World, members: dict[str, Member], login: Callable[[str], Client], name: str
) -> None:
    client = login(name)
    response = client.get("/console/membership/")
    assert response.status_code == 200
    expected = {members[k].pk for k in EXPECTED_SCOPE[name]}
    assert listed_ids(response.content.decode()) == expected
    for key, member in members.items():
        detail = client.get(f"/console/membership/members/{member.pk}/")
        assert detail.status_code == (200 if key in EXPECTED_SCOPE[name] else 404), (key, detail.status_code)


def test_merchant_and_anonymous_cannot_open_member_pages(world: World, members: dict[str, Member]) -> None:
    anonymous = Client().get("/console/membership/")
    assert anonymous.status_code == 302 and "/console/login/" in anonymous["Location"]
    merchant = Client()
    merchant.force_login(world.staff["merchant"].user)
    assert merchant.get("/console/membership/").status_code == 403


def test_search_by_number_masked_phone_and_filters(
    world: World, members: dict[str, Member], login: Callable[[str], Client]
) -> None:
    client = login("hq_admin")
    a1 = members["a1_owner"]  # phone +8613812345678
    for q in (a1.number, a1.number[:6].lower(), "138****5678", "5678", "13812345678"):
        html = client.get("/console/membership/", {"q": q}).content.decode()
        assert a1.pk in listed_ids(html), q
    assert listed_ids(client.get("/console/membership/", {"q": "139****5678"}).content.decode()) == set()
    premium = client.get("/console/membership/", {"brand": "premium"}).content.decode()
    assert listed_ids(premium) == set()  # the world joined everyone to mass
    gold = TierDefinition.objects.get(program=a1.program, code="gold")
    Member.objects.filter(pk=a1.pk).update(tier=gold)
    assert listed_ids(client.get("/console/membership/", {"tier": "gold"}).content.decode()) == {a1.pk}
    Member.objects.filter(pk=members["a2_owner"].pk).update(status="frozen")
    frozen = client.get("/console/membership/", {"status": "frozen"}).content.decode()
    assert listed_ids(frozen) == {members["a2_owner"].pk}
    partial = client.get("/console/membership/", {"q": "5678"}, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial and a1.pk in listed_ids(partial)


def test_member_detail_shows_masked_person_ledger_lots_history_redemptions(
    world: World, login: Callable[[str], Client], lake_url: str
) -> None:
    member = join(world)
    for i in range(25):
        points_award(actor=SYSTEM, member=member, amount=100 + i, reason="goodwill", idempotency_key=f"g{i}")
    benefit = item(member, price=150)
    benefit_redeem(actor=SYSTEM, member=member, item=benefit, quantity=1, idempotency_key="r1")
    rule(member, "checkin", "daily_check_in", 5, "check_in")
    send(member.person_id, "daily_check_in", shanghai("2026-11-10", 8))
    points_earn()
    html = login("dealer_a1").get(f"/console/membership/members/{member.pk}/").content.decode()
    assert "王*伟" in html and "138****5678" in html
    assert "王小伟" not in html and "13812345678" not in html
    assert html.count("data-entry-id=") == 20  # first page of the ledger
    assert 'data-testid="more-entries"' in html
    assert "精洗一次" in html and "签到" in html and "已发放" in html
    older = re.search(r"entries_before=(\d+)", html)
    assert older is not None
    more = login("dealer_a1").get(
        f"/console/membership/members/{member.pk}/", {"entries_before": older[1]}, headers={"HX-Request": "true"}
    )
    assert more.content.decode().count("data-entry-id=") == 7  # 25 awards + 1 spend + 1 rule award − 20


def test_rule_form_validates_names_the_field_and_saves(world: World, login: Callable[[str], Client]) -> None:
    join(world)
    client = login("hq_admin")
    assert client.get("/console/membership/rules/new/").status_code == 200
    form = {
        "brand": "mass",
        "code": "post",
        "name": "社区发帖",
        "event": "post_created",
        "points": "10",
        "reason": "community_post",
        "daily_cap_count": "3",
        "conditions": '[{"property": "channel", "op": "like", "value": "app"}]',
        "valid_from": "2026-01-01T00:00",
        "apply_multiplier": "on",
        "active": "on",
    }
    bad = client.post("/console/membership/rules/new/", form)
    assert bad.status_code == 422
    html = bad.content.decode()
    assert 'data-error-for="conditions"' in html and "conditions[0].op" in html
    assert 'value="社区发帖"' in html  # what was typed is kept
    assert not EarningRule.objects.exists()
    for field, value in (("points", "十"), ("daily_cap_count", "0"), ("event", "nope"), ("conditions", "[{")):
        response = client.post("/console/membership/rules/new/", {**form, "conditions": "[]", field: value})
        assert response.status_code == 422, field
        assert f'data-error-for="{field}">{field}' in response.content.decode() or field in response.content.decode()
    ok = client.post("/console/membership/rules/new/", {**form, "conditions": "[]"})
    assert ok.status_code == 302
    created = EarningRule.objects.get()
    assert (created.points, created.daily_cap_count, created.valid_from.isoformat()) == (
        10,
        3,
        "2025-12-31T16:00:00+00:00",
    )
    edit = client.post(f"/console/membership/rules/{created.pk}/", {**form, "points": "12", "conditions": "[]"})
    assert edit.status_code == 302
    created.refresh_from_db()
    assert created.points == 12
    listing = client.get("/console/membership/rules/").content.decode()
    assert 'data-rule-code="post"' in listing


def test_catalogue_forms_need_manage(world: World, login: Callable[[str], Client]) -> None:
    member = join(world)
    benefit = item(member)
    tier = TierDefinition.objects.get(program=member.program, code="silver")
    client = login("dealer_a1")
    assert client.get("/console/membership/rules/").status_code == 200
    assert client.get("/console/membership/tiers/").status_code == 200
    assert client.get("/console/membership/benefits/").status_code == 200
    for path in ("rules/new/", f"tiers/{tier.pk}/", "benefits/new/", f"benefits/{benefit.pk}/"):
        assert client.get(f"/console/membership/{path}").status_code == 403, path
        assert client.post(f"/console/membership/{path}", {"name": "x"}).status_code == 403, path
    assert "/console/membership/rules/new/" not in client.get("/console/membership/rules/").content.decode()


def test_tier_and_benefit_forms(world: World, login: Callable[[str], Client]) -> None:
    member = join(world)
    client = login("hq_admin")
    silver = TierDefinition.objects.get(program=member.program, code="silver")
    bad = client.post(
        f"/console/membership/tiers/{silver.pk}/",
        {"name": "银卡", "threshold": "30000", "multiplier": "1.10", "benefits": "生日礼"},
    )
    assert bad.status_code == 422 and 'data-error-for="threshold">' in bad.content.decode()
    silver.refresh_from_db()
    assert silver.threshold == 5_000
    ok = client.post(
        f"/console/membership/tiers/{silver.pk}/",
        {"name": "银卡会员", "threshold": "6000", "multiplier": "1.15", "benefits": "积分 1.15 倍\n生日礼"},
    )
    assert ok.status_code == 302
    silver.refresh_from_db()
    assert (silver.name, silver.threshold, str(silver.multiplier), silver.benefits) == (
        "银卡会员",
        6000,
        "1.15",
        ["积分 1.15 倍", "生日礼"],
    )
    form = {"brand": "mass", "code": "wash", "name": "精洗一次", "points_price": "800", "stock": "-5", "active": "on"}
    bad = client.post("/console/membership/benefits/new/", form)
    assert bad.status_code == 422 and 'data-error-for="stock">' in bad.content.decode()
    assert not BenefitItem.objects.exists()
    assert client.post("/console/membership/benefits/new/", {**form, "stock": "100"}).status_code == 302
    created = BenefitItem.objects.get()
    restock = client.post(
        f"/console/membership/benefits/{created.pk}/", {**form, "stock": "40", "min_tier": "gold", "active": "on"}
    )
    assert restock.status_code == 302
    created.refresh_from_db()
    assert (created.stock, created.min_tier and created.min_tier.code) == (40, "gold")
    with translation.override("zh-hans"):
        listing = client.get("/console/membership/benefits/").content.decode()
    assert 'data-benefit-code="wash"' in listing


def test_member_pages_have_no_n_plus_one(
    world: World, members: dict[str, Member], login: Callable[[str], Client]
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from hufen.people.models import Person

    client = login("hq_admin")
    client.get("/console/membership/")  # warm the session and the menu's caches

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    few = queries("/console/membership/")
    a1 = members["a1_owner"]
    detail_few = queries(f"/console/membership/members/{a1.pk}/")
    brand = world.brands["mass"]
    from hufen.membership.services import member_join

    for i in range(15):
        person = Person.objects.create(name=f"测试{i}", phone=f"+86137000000{i:02d}")
        member = member_join(actor=SYSTEM, person=person, brand=brand, channel="console")
        points_award(actor=SYSTEM, member=member, amount=10, reason="goodwill", idempotency_key="k")
    for i in range(15):
        points_award(actor=SYSTEM, member=a1, amount=10 + i, reason="goodwill", idempotency_key=f"k{i}")
    assert queries("/console/membership/") == few
    assert queries(f"/console/membership/members/{a1.pk}/") == detail_few

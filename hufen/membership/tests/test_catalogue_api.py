"""Catalogue management over the API: tiers, earning rules and benefits, validated and permissioned."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from conftest import ACTOR_NAMES, World
from hufen.api.tests.helpers import Caller, error_of
from hufen.common.models import AuditEvent
from hufen.membership.earning import points_earn
from hufen.membership.models import BenefitItem, EarningRule, TierDefinition
from hufen.membership.tests.earning_helpers import rule, send, shanghai
from hufen.membership.tests.helpers import join

RULE = {
    "brand": "mass",
    "code": "post",
    "name": "社区发帖",
    "event": "post_created",
    "points": 10,
    "reason": "community_post",
    "daily_cap_count": 3,
    "valid_from": "2026-01-01T00:00:00+08:00",
}


def patch(api: Caller, path: str, body: Any) -> Any:
    return api.client.patch(
        "/api/v1" + path, json.dumps(body, ensure_ascii=False), content_type="application/json", headers=api.headers
    )


@pytest.mark.parametrize("name", ACTOR_NAMES)
def test_only_hq_admin_manages_the_catalogue(world: World, caller: Callable[[str], Caller], name: str) -> None:
    member = join(world)
    tier = TierDefinition.objects.get(program=member.program, code="silver")
    api = caller(name)
    writes = [
        api.post("/membership/rules", RULE),
        api.post(
            "/membership/tiers",
            {
                "brand": "mass",
                "code": "diamond",
                "name": "钻石卡",
                "rank": 4,
                "threshold": 500_000,
                "multiplier": "2.00",
            },
        ),
        api.post(
            "/membership/benefits",
            {"brand": "mass", "code": "wash", "name": "精洗一次", "points_price": 800, "stock": 100},
        ),
        patch(api, f"/membership/tiers/{tier.pk}", {"threshold": 6_000}),
    ]
    if name == "hq_admin":
        assert [r.status_code for r in writes] == [201, 201, 201, 200]
        return
    assert all(r.status_code == 403 for r in writes), [r.status_code for r in writes]
    assert not EarningRule.objects.exists() and not BenefitItem.objects.exists()
    tier.refresh_from_db()
    assert tier.threshold == 5_000
    reads = api.get("/membership/rules"), api.get("/membership/tiers")
    expected = 403 if name == "merchant" else 200
    assert [r.status_code for r in reads] == [expected, expected]


def test_rule_create_replay_update_and_read(world: World, caller: Callable[[str], Caller]) -> None:
    api = caller("hq_admin")
    first = api.post("/membership/rules", RULE, headers={"Idempotency-Key": "rule-post-1"})
    again = api.post("/membership/rules", RULE, headers={"Idempotency-Key": "rule-post-1"})
    assert first.status_code == 201 and again.status_code == 201
    assert first.json() == again.json()
    assert EarningRule.objects.count() == 1
    body = first.json()
    assert (body["brand"], body["event"], body["points"], body["daily_cap_count"]) == ("mass", "post_created", 10, 3)
    # the code is a natural key: a second create without the key is refused, naming `code`
    dup = api.post("/membership/rules", RULE)
    assert dup.status_code == 422 and error_of(dup)["details"]["field"] == "code"
    changed = patch(api, f"/membership/rules/{body['id']}", {"points": 15, "daily_cap_count": None})
    assert changed.status_code == 200, changed.content
    assert (changed.json()["points"], changed.json()["daily_cap_count"]) == (15, None)
    assert AuditEvent.objects.filter(action="earning_rule.update", object_id=str(body["id"])).exists()
    assert api.get(f"/membership/rules/{body['id']}").json()["points"] == 15
    assert api.get("/membership/rules/999999").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event": "no_such_event"}, "event"),
        ({"reason": "redemption"}, "reason"),  # a spend reason
        ({"reason": "nope"}, "reason"),
        ({"points": 0}, "points"),
        ({"conditions": [{"property": "brand", "op": "like", "value": "m"}]}, "conditions[0].op"),
        ({"conditions": [{"property": "km", "op": "gte", "value": "many"}]}, "conditions[0].value"),
        ({"conditions": [{"op": "eq", "value": 1}]}, "conditions[0].property"),
        ({"daily_cap_count": 0}, "daily_cap_count"),
        ({"daily_cap_count": 5, "monthly_cap_count": 2}, "monthly_cap_count"),
        ({"valid_until": "2025-01-01T00:00:00+08:00"}, "valid_until"),
        ({"valid_from": "2026-01-01T00:00:00"}, "valid_from"),
        ({"code": "Bad Code"}, "code"),
        ({"name": "   "}, "name"),
    ],
)
def test_rule_validation_names_the_field_and_writes_nothing(
    world: World, caller: Callable[[str], Caller], change: dict[str, Any], field: str
) -> None:
    response = caller("hq_admin").post("/membership/rules", {**RULE, **change})
    assert response.status_code == 422, response.content
    assert error_of(response)["details"]["field"] == field
    assert not EarningRule.objects.exists()


def test_tier_ladder_is_validated(world: World, caller: Callable[[str], Caller]) -> None:
    member = join(world)
    api = caller("hq_admin")
    silver = TierDefinition.objects.get(program=member.program, code="silver")
    gold = TierDefinition.objects.get(program=member.program, code="gold")
    too_high = patch(api, f"/membership/tiers/{silver.pk}", {"threshold": gold.threshold})
    assert too_high.status_code == 422 and error_of(too_high)["details"]["field"] == "threshold"
    bad = patch(api, f"/membership/tiers/{silver.pk}", {"multiplier": "1.005"})
    assert bad.status_code == 422 and error_of(bad)["details"]["field"] == "multiplier"
    texts = patch(api, f"/membership/tiers/{silver.pk}", {"benefits": ["积分 1.2 倍", ""]})
    assert error_of(texts)["details"]["field"] == "benefits[1]"
    ok = patch(api, f"/membership/tiers/{silver.pk}", {"multiplier": "1.20", "benefits": ["积分 1.2 倍", "生日礼"]})
    assert ok.status_code == 200 and ok.json()["multiplier"] == "1.20"
    listed = api.get("/membership/tiers", {"brand": "mass"}).json()["items"]
    assert [t["code"] for t in listed] == ["standard", "silver", "gold", "black"]
    taken = api.post(
        "/membership/tiers",
        {"brand": "mass", "code": "diamond", "name": "钻石卡", "rank": 3, "threshold": 500_000, "multiplier": "2"},
    )
    assert taken.status_code == 422 and error_of(taken)["details"]["field"] == "rank"
    assert TierDefinition.objects.filter(program=member.program).count() == 4


def test_benefit_create_update_stock_and_validation(world: World, caller: Callable[[str], Caller]) -> None:
    join(world)
    api = caller("hq_admin")
    body = {
        "brand": "mass",
        "code": "wash",
        "name": "精洗一次",
        "points_price": 800,
        "stock": 100,
        "min_tier": "silver",
    }
    created = api.post("/membership/benefits", body)
    assert created.status_code == 201, created.content
    item_id = created.json()["id"]
    assert created.json()["min_tier"] == "silver"
    restock = patch(api, f"/membership/benefits/{item_id}", {"stock": 250, "min_tier": ""})
    assert restock.status_code == 200 and (restock.json()["stock"], restock.json()["min_tier"]) == (250, None)
    for change, field in (
        ({"stock": -1}, "stock"),
        ({"points_price": 0}, "points_price"),
        ({"min_tier": "platinum"}, "min_tier"),
        ({"valid_from": "2026-12-01T00:00:00+08:00", "valid_until": "2026-11-01T00:00:00+08:00"}, "valid_until"),
    ):
        response = patch(api, f"/membership/benefits/{item_id}", change)
        assert response.status_code == 422 and error_of(response)["details"]["field"] == field, change
    assert BenefitItem.objects.get(pk=item_id).stock == 250
    bad = api.post("/membership/benefits", {**body, "code": "wash2", "per_member_limit": 0})
    assert bad.status_code == 422 and error_of(bad)["details"]["field"] == "per_member_limit"


def test_decisions_are_scoped_to_members_the_caller_sees(
    world: World, caller: Callable[[str], Caller], lake_url: str
) -> None:
    a1 = join(world, "a1_owner")
    b1 = join(world, "b1_owner")
    r = rule(a1, "checkin", "daily_check_in", 5, "check_in")
    for person in ("a1_owner", "b1_owner"):
        send(world.persons[person].pk, "daily_check_in", shanghai("2026-11-10", 8))
    points_earn()
    seen = {
        name: {d["member_id"] for d in caller(name).pages(f"/membership/rules/{r.pk}/decisions")}
        for name in ("hq_admin", "dealer_a1", "dealer_b1")
    }
    assert seen == {"hq_admin": {a1.pk, b1.pk}, "dealer_a1": {a1.pk}, "dealer_b1": {b1.pk}}

"""The member self-service API (/api/v1/me): SMS sign-in, consent before joining, the member's own
card, points, benefits, redemptions and Member Day, and a token that expires and can be revoked."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import World
from hufen.api.tests.helpers import API, bearer, error_of
from hufen.common.actors import SYSTEM
from hufen.common.models import AuditEvent
from hufen.memberday.checkin import memberday_check_in
from hufen.memberday.tests.helpers import today_occurrence
from hufen.membership.models import BenefitItem, Member, PointsAccount, Redemption
from hufen.people.models import ContactPoint
from hufen.portal.access import API_TOKEN_PREFIX
from hufen.portal.models import PortalSession, ProgramConsent
from hufen.portal.terms import TERMS_VERSION
from hufen.portal.tests.helpers import award, catalogue, enrol, last_code, sign_in

PHONE = "+8615012340002"  # a2_owner


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def post(path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return Client().post(
        API + path, json.dumps(body, ensure_ascii=False), content_type="application/json", headers=headers or {}
    )


def get(path: str, token: str, params: dict[str, Any] | None = None) -> Any:
    return Client().get(API + path, params or {}, headers=bearer(token))


def api_token(phone: str = PHONE, brand: str = "mass") -> str:
    """A member token issued the way the brand app gets one (joining with consent if needed)."""
    return sign_in(phone, brand, channel="api").token


# --- sign-in and join ------------------------------------------------------------------------------


def test_a_new_member_signs_in_reads_the_terms_and_joins(world: World) -> None:
    # given the owner of a2, not a member yet: the app asks for a code
    response = post("/me/login/code", {"phone": "150 1234 0002", "brand": "mass"})
    assert response.status_code == 202
    assert response.json()["phone"] == "150****0002" and response.json()["resend_after"] == 60
    # when the code is right, the API answers with the terms instead of a token
    response = post("/me/login", {"phone": "15012340002", "code": last_code(PHONE), "brand": "mass"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "join_required" and body["session"] is None
    join = body["join"]
    assert join["terms"]["version"] == TERMS_VERSION and "星河汽车会员" in join["terms"]["title"]
    assert ContactPoint.objects.get(value=PHONE).verified_at is not None
    assert not Member.objects.filter(person=world.persons["a2_owner"]).exists()
    # without the consent box ticked, nothing is enrolled
    refused = post("/me/join", {"ticket": join["ticket"], "accept_terms": False, "terms_version": TERMS_VERSION})
    assert refused.status_code == 422 and error_of(refused)["details"]["field"] == "accept_terms"
    assert not Member.objects.filter(person=world.persons["a2_owner"]).exists()
    # with it, the member is enrolled through the API channel and gets a member token
    response = post("/me/join", {"ticket": join["ticket"], "accept_terms": True, "terms_version": TERMS_VERSION})
    assert response.status_code == 201
    session = response.json()["session"]
    assert session["token"].startswith(API_TOKEN_PREFIX)
    member = Member.objects.get(person=world.persons["a2_owner"])
    assert member.channel == "api" and session["member_number"] == member.number
    consent = ProgramConsent.objects.get()
    assert consent.channel == "api" and consent.marketing is False
    assert get("/me/card", session["token"]).json()["number"] == member.number


def test_a_member_signs_in_straight_to_a_token(world: World) -> None:
    enrol(world, "a2_owner")
    post("/me/login/code", {"phone": PHONE, "brand": "mass"})
    response = post("/me/login", {"phone": PHONE, "code": last_code(PHONE), "brand": "mass"})
    assert response.json()["status"] == "signed_in"
    assert PortalSession.objects.get().channel == "api"


def test_wrong_code_and_resend_throttle_are_clear_errors(world: World) -> None:
    post("/me/login/code", {"phone": PHONE})
    again = post("/me/login/code", {"phone": PHONE})
    assert again.status_code == 429 and int(again["Retry-After"]) > 0
    assert error_of(again)["code"] == "rate_limited"
    code = last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    response = post("/me/login", {"phone": PHONE, "code": wrong})
    assert response.status_code == 422 and error_of(response)["details"]["field"] == "code"
    assert not PortalSession.objects.exists()


def test_a_forged_join_ticket_is_refused(world: World) -> None:
    response = post("/me/join", {"ticket": "nope", "accept_terms": True, "terms_version": TERMS_VERSION})
    assert response.status_code == 401 and error_of(response)["code"] == "join_ticket_invalid"
    assert not Member.objects.exists()


def test_terms_are_public_and_in_chinese(world: World) -> None:
    response = Client().get(f"{API}/me/terms", {"brand": "premium"})
    assert response.status_code == 200
    body = response.json()
    assert body["program_name"] == "极境会员" and "同意" in body["consent_label"] and len(body["digest"]) == 64


# --- the member's own data -------------------------------------------------------------------------


def test_card_points_and_memberday_are_the_members_own(world: World) -> None:
    token = api_token()
    member = Member.objects.get(person=world.persons["a2_owner"])
    for i in range(3):
        award(member, 100 + i, key=f"k{i}")
    card = get("/me/card", token).json()
    assert card["member_id"] == member.pk and card["name"] == "陈*" and card["balance"] == 303
    assert card["tier"] == member.tier.code and card["vehicles"][0]["series"] == "星河 S7"
    # points history pages with a cursor, newest first as the app shows it (see test_me_paging.py)
    first = get("/me/points", token, {"limit": 2}).json()
    assert [e["amount"] for e in first["items"]] == [102, 101] and first["next_cursor"]
    assert first["items"][0]["reason_label"]
    rest = get("/me/points", token, {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [e["amount"] for e in rest["items"]] == [100] and rest["next_cursor"] is None
    # Member Day: not checked in, then checked in
    today_occurrence(world)
    day = get("/me/memberday", token).json()
    assert day["is_today"] is True and day["checked_in"] is False
    memberday_check_in(actor=SYSTEM, member_id=member.pk)
    day = get("/me/memberday", token).json()
    assert day["checked_in"] is True and day["tasks"][0] == {**day["tasks"][0], "kind": "check_in", "done": True}


def test_memberday_without_a_campaign_day(world: World) -> None:
    day = get("/me/memberday", api_token()).json()
    assert day["occurrence"] is None and day["checked_in"] is False


def test_redeem_is_idempotent_and_uses_the_members_points(world: World) -> None:
    token = api_token()
    member = Member.objects.get(person=world.persons["a2_owner"])
    award(member, 1000, key="seed")
    items = catalogue(member)
    listing = get("/me/benefits", token).json()
    assert listing["balance"] == 1000
    rows = {r["code"]: r for r in listing["items"]}
    assert rows["lounge"]["locked"] is True and rows["wash"]["affordable"] is True
    path = f"/me/benefits/{items['wash'].pk}/redeem"
    headers = bearer(token) | {"Idempotency-Key": "tap-1"}
    first = post(path, {"quantity": 2}, headers)
    assert first.status_code == 201 and first.json()["points"] == 600
    again = post(path, {"quantity": 2}, headers)
    assert again.status_code == 201 and again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert PointsAccount.objects.get(member=member).balance == 400
    conflict = post(path, {"quantity": 1}, headers)
    assert conflict.status_code == 409 and error_of(conflict)["code"] == "idempotency_conflict"
    no_key = post(path, {"quantity": 1}, bearer(token))
    assert no_key.status_code == 400
    too_much = post(path, {"quantity": 2}, bearer(token) | {"Idempotency-Key": "tap-2"})
    assert too_much.status_code == 422
    assert PointsAccount.objects.get(member=member).balance == 400
    assert Redemption.objects.filter(member=member).count() == 1
    # listed, and cancelled with the points back
    page = get("/me/redemptions", token).json()
    assert [r["id"] for r in page["items"]] == [first.json()["id"]]
    cancelled = post(f"/me/redemptions/{first.json()['id']}/cancel", {}, bearer(token))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert PointsAccount.objects.get(member=member).balance == 1000


def test_a_member_cannot_reach_another_members_data(world: World) -> None:
    # given two members of the mass brand with a redemption each, and a premium-only benefit
    mine = api_token()
    other_member = enrol(world, "a1_owner")
    award(other_member, 1000, key="o")
    other_items = catalogue(other_member)
    premium = enrol(world, "b1_owner", "premium")
    premium_item = BenefitItem.objects.create(
        program_id=premium.program_id, code="spa", name="水疗", points_price=1, stock=5
    )
    theirs = sign_in(world.persons["a1_owner"].phone, channel="api").token
    redemption = post(
        f"/me/benefits/{other_items['wash'].pk}/redeem", {}, bearer(theirs) | {"Idempotency-Key": "x"}
    ).json()
    # when a2 tries another member's redemption or another program's item: not found, nothing changes
    assert post(f"/me/redemptions/{redemption['id']}/cancel", {}, bearer(mine)).status_code == 404
    assert Redemption.objects.get(pk=redemption["id"]).status == "reserved"
    response = post(f"/me/benefits/{premium_item.pk}/redeem", {}, bearer(mine) | {"Idempotency-Key": "y"})
    assert response.status_code == 404
    assert not Redemption.objects.filter(item=premium_item).exists()
    # and nothing of theirs shows in a2's lists
    assert get("/me/redemptions", mine).json()["items"] == []
    assert get("/me/card", mine).json()["member_id"] != other_member.pk
    # a member token opens no integration endpoint
    assert get(f"/membership/members/{other_member.pk}", mine).status_code == 401
    assert get("/persons", mine).status_code == 401


# --- the token: expiry, revocation, and which credentials count -----------------------------------


ME_READS = ["/me/card", "/me/points", "/me/benefits", "/me/redemptions", "/me/memberday"]


@pytest.mark.parametrize("path", ME_READS)
def test_every_me_endpoint_needs_a_member_token(world: World, path: str) -> None:
    api_token()  # a real member exists
    assert Client().get(API + path).status_code == 401
    assert get(path, world.api_tokens["api_dealer_a1"]).status_code == 401  # an integration is not a member
    console = Client()
    console.force_login(world.staff["hq_admin"].user)
    assert console.get(API + path).status_code == 401  # nor is a console login


def test_a_portal_cookie_is_not_a_bearer_token(world: World) -> None:
    cookie_token = sign_in(PHONE).token  # channel h5
    assert get("/me/card", cookie_token).status_code == 401


def test_logout_revokes_the_token_and_is_audited(world: World) -> None:
    token = api_token()
    assert get("/me/card", token).status_code == 200
    response = post("/me/logout", {}, bearer(token))
    assert response.status_code == 200 and response.json() == {"ended": True}
    assert get("/me/card", token).status_code == 401
    assert AuditEvent.objects.filter(action="portal.logout").count() == 1


def test_the_token_expires(world: World) -> None:
    token = api_token()
    PortalSession.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert get("/me/card", token).status_code == 401


def test_closing_the_membership_ends_the_token(world: World) -> None:
    token = api_token()
    Member.objects.update(status="closed")
    assert get("/me/card", token).status_code == 401


def test_card_reads_in_a_fixed_number_of_queries(world: World, django_assert_max_num_queries: Any) -> None:
    token = api_token()
    with django_assert_max_num_queries(8):
        assert get("/me/card", token).status_code == 200


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(
    path=st.sampled_from(["/me/login", "/me/login/code", "/me/join", "/me/benefits/1/redeem"]),
    body=st.one_of(
        st.none(),
        st.dictionaries(
            st.sampled_from(["phone", "code", "brand", "name", "ticket", "accept_terms", "terms_version", "quantity"]),
            st.one_of(st.text(max_size=30), st.integers(), st.booleans(), st.none(), st.just("\x00")),
            max_size=5,
        ),
    ),
)
def test_me_writes_never_fail_with_a_500(world: World, path: str, body: Any) -> None:
    cache.clear()
    response = post(path, body, {"Idempotency-Key": "fuzz"})
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        error_of(response)

"""The console member page shows the member's consents to the program terms (recorded when the owner
joined through the H5 portal or the member API), to exactly the staff who may see the member."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import EXPECTED_SCOPE, STAFF_ACTORS, World
from hufen.membership.models import Member
from hufen.membership.tests.helpers import join
from hufen.portal.models import ProgramConsent
from hufen.portal.services import JoinRequired, login_code_request, member_join_with_consent, member_sign_in
from hufen.portal.terms import TERMS_VERSION
from hufen.portal.tests.helpers import last_code

CONSOLE_STAFF = [n for n in STAFF_ACTORS if n != "merchant"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.fixture
def login(world: World) -> Callable[[str], Client]:
    def as_(name: str) -> Client:
        client = Client()
        client.force_login(world.staff[name].user)
        return client

    return as_


def join_with_consent(world: World, person: str, *, channel: str, marketing: bool) -> Member:
    """The owner joins the way the portal or the app does: SMS code, the terms, the consent box."""
    phone = world.persons[person].phone
    login_code_request(phone=phone, brand_code="mass", ip="10.0.0.1")
    with pytest.raises(JoinRequired) as needed:
        member_sign_in(phone=phone, code=last_code(phone), brand_code="mass", ip="10.0.0.1", channel=channel)
    signed = member_join_with_consent(
        ticket=needed.value.pending.ticket,
        accept_terms=True,
        terms_version=TERMS_VERSION,
        marketing=marketing,
        ip="10.0.0.1",
        channel=channel,
    )
    return signed.member


def consents_block(html: str) -> str:
    return html.split('data-testid="consents"', 1)[1].split("</ul>", 1)[0]


def test_the_member_page_shows_the_consent(world: World, login: Callable[[str], Client]) -> None:
    # given a2's owner joined through the member API, agreeing to offers by SMS
    member = join_with_consent(world, "a2_owner", channel="api", marketing=True)
    consent = ProgramConsent.objects.get(person=member.person)
    # when HQ opens the member page, then the consent shows: version, time, channel, offers
    html = login("hq_admin").get(f"/console/membership/members/{member.pk}/").content.decode()
    block = consents_block(html)
    assert f'data-consent-id="{consent.pk}"' in block
    assert f"会员条款 {TERMS_VERSION}" in block and consent.terms_digest[:8] in block
    accepted = timezone.localtime(consent.accepted_at).strftime("%Y-%m-%d %H:%M")
    assert accepted in block and "会员 API" in block and "同意接收短信优惠" in block
    assert "10.0.0.1" not in html  # the address it was given from stays in the record


def test_an_h5_join_without_offers_and_a_member_without_consent(world: World, login: Callable[[str], Client]) -> None:
    h5 = join_with_consent(world, "a1_owner", channel="h5", marketing=False)
    block = consents_block(login("hq_admin").get(f"/console/membership/members/{h5.pk}/").content.decode())
    assert "车主 H5" in block and "未同意接收短信优惠" in block
    # a member enrolled by staff or an integration has no consent row: the page says so
    enrolled = join(world, "b1_owner", "premium")
    block = consents_block(login("hq_admin").get(f"/console/membership/members/{enrolled.pk}/").content.decode())
    assert "没有同意记录" in block and "data-consent-id" not in block


def test_only_the_consents_of_this_members_program_show(world: World, login: Callable[[str], Client]) -> None:
    # a consent of the same person to another brand's program is not this membership's consent
    member = join_with_consent(world, "a1_owner", channel="h5", marketing=False)
    other = ProgramConsent.objects.get(person=member.person)
    ProgramConsent.objects.create(
        person=member.person,
        brand=world.brands["premium"],
        terms_version="2099-01",
        terms_digest="f" * 64,
        language="zh-hans",
        channel="api",
        accepted_at=timezone.now(),
    )
    block = consents_block(login("hq_admin").get(f"/console/membership/members/{member.pk}/").content.decode())
    assert f'data-consent-id="{other.pk}"' in block and "2099-01" not in block


@pytest.mark.parametrize("name", CONSOLE_STAFF)
def test_staff_outside_the_members_scope_cannot_reach_its_consents(
    world: World, login: Callable[[str], Client], name: str
) -> None:
    member = join_with_consent(world, "a2_owner", channel="api", marketing=True)
    response = login(name).get(f"/console/membership/members/{member.pk}/")
    if "a2_owner" in EXPECTED_SCOPE[name]:
        assert response.status_code == 200 and "会员 API" in consents_block(response.content.decode())
    else:
        assert response.status_code == 404
        assert TERMS_VERSION not in response.content.decode()


def test_the_consents_cost_one_query(world: World, login: Callable[[str], Client]) -> None:
    member = join_with_consent(world, "a2_owner", channel="api", marketing=True)
    client = login("hq_admin")
    url = f"/console/membership/members/{member.pk}/"
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    consent_queries = [q for q in queries.captured_queries if "portal_programconsent" in q["sql"]]
    assert len(consent_queries) == 1

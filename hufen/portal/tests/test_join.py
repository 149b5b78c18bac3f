"""Phone verified by the SMS code, and joining a brand's program only after agreeing to its terms."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from conftest import World
from hufen.common.errors import FieldError
from hufen.common.models import AuditEvent
from hufen.membership.models import Member
from hufen.people.models import ContactPoint, Person
from hufen.portal import services
from hufen.portal.access import COOKIE_NAME, JOIN_COOKIE_NAME
from hufen.portal.models import LoginCode, PortalSession, ProgramConsent
from hufen.portal.services import JoinRequired, login_code_request, member_join_with_consent, member_sign_in
from hufen.portal.terms import TERMS_VERSION, program_terms
from hufen.portal.tests.helpers import enrol, last_code

pytestmark = pytest.mark.django_db

PHONE = "+8615012340002"  # a2_owner, not a member of any program yet


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def _to_join_page(client: Client, phone: str = "15012340002", name: str = "", brand: str = "mass") -> Any:
    client.post("/m/login/", {"step": "send", "phone": phone, "brand": brand})
    e164 = "+86" + phone
    data = {"step": "verify", "phone": phone, "code": last_code(e164), "name": name, "brand": brand}
    return client.post("/m/login/", data)


def _join(client: Client, **extra: str) -> Any:
    data = {"accept_terms": "on", "terms_version": TERMS_VERSION, "action": "join"} | extra
    return client.post("/m/join/", data)


def _pending(phone: str = PHONE, brand: str = "mass", name: str = "") -> str:
    login_code_request(phone=phone, brand_code=brand)
    with pytest.raises(JoinRequired) as needed:
        member_sign_in(phone=phone, code=last_code(phone), brand_code=brand, name=name)
    return needed.value.pending.ticket


def test_a_right_code_marks_the_phone_verified_and_audits_it(world: World) -> None:
    person = world.persons["a2_owner"]
    assert ContactPoint.objects.get(person=person, value=PHONE).verified_at is None
    _pending()
    contact = ContactPoint.objects.get(person=person, value=PHONE)
    assert contact.verified_at is not None
    event = AuditEvent.objects.get(action="contact.phone_verified")
    assert event.object_id == str(person.pk) and event.summary["phone"] == "150****0002"
    # but nothing was enrolled: joining waits for consent
    assert not Member.objects.filter(person=person).exists()
    assert not PortalSession.objects.exists()


def test_a_members_sign_in_refreshes_the_verification(world: World) -> None:
    enrol(world, "a2_owner")
    ContactPoint.objects.filter(value=PHONE).update(verified_at=None)
    login_code_request(phone=PHONE, brand_code="mass")
    member_sign_in(phone=PHONE, code=last_code(PHONE), brand_code="mass")
    assert ContactPoint.objects.get(value=PHONE).verified_at is not None
    assert AuditEvent.objects.filter(action="contact.phone_verified").count() == 1


def test_the_join_page_shows_the_terms_in_chinese(world: World) -> None:
    client = Client()
    response = _to_join_page(client)
    assert response.status_code == 302 and response["Location"].startswith("/m/join/")
    assert response.cookies[JOIN_COOKIE_NAME]["httponly"]
    html = client.get("/m/join/").content.decode()
    assert "星河汽车会员" in html and "150****0002" in html
    assert "会员章程" in html and TERMS_VERSION in html
    assert 'name="accept_terms"' in html and "checked" not in html.split('name="accept_terms"')[1].split(">")[0]


def test_joining_without_agreeing_is_refused_and_records_nothing(world: World) -> None:
    client = Client()
    _to_join_page(client)
    response = client.post("/m/join/", {"terms_version": TERMS_VERSION, "action": "join", "marketing": "on"})
    assert response.status_code == 400
    assert 'data-testid="error-accept_terms"' in response.content.decode()
    assert not Member.objects.filter(person=world.persons["a2_owner"]).exists()
    assert not ProgramConsent.objects.exists()
    assert COOKIE_NAME not in response.cookies


def test_agreeing_records_the_consent_then_enrols_and_signs_in(world: World) -> None:
    client = Client()
    _to_join_page(client)
    response = _join(client, marketing="on")
    assert response.status_code == 302 and response["Location"] == "/m/"
    assert response.cookies[JOIN_COOKIE_NAME].value == ""  # the ticket is dropped
    person = world.persons["a2_owner"]
    member = Member.objects.get(person=person)
    assert member.channel == "h5"
    consent = ProgramConsent.objects.get()
    terms = program_terms(world.brands["mass"], "星河汽车会员")
    assert (consent.person, consent.brand, consent.terms_version) == (person, world.brands["mass"], TERMS_VERSION)
    assert consent.terms_digest == terms.digest and consent.language == "zh-hans"
    assert consent.marketing is True and consent.channel == "h5" and consent.ip_address == "127.0.0.1"
    assert AuditEvent.objects.filter(action="portal.consent", object_id=str(person.pk)).exists()
    assert "member.join" in AuditEvent.objects.values_list("action", flat=True)
    assert client.get("/m/").status_code == 200
    assert member.number in client.get("/m/").content.decode()


def test_a_ticket_joins_once(world: World) -> None:
    ticket = _pending()
    member_join_with_consent(ticket=ticket, accept_terms=True, terms_version=TERMS_VERSION)
    with pytest.raises(FieldError) as err:
        member_join_with_consent(ticket=ticket, accept_terms=True, terms_version=TERMS_VERSION)
    assert err.value.field == "ticket"
    assert ProgramConsent.objects.count() == 1 and PortalSession.objects.count() == 1


@pytest.mark.parametrize("ticket", ["", "forged", "eyJjb2RlIjoxfQ:1abc:def"])
def test_a_forged_ticket_sends_back_to_sign_in(world: World, ticket: str) -> None:
    client = Client()
    client.cookies[JOIN_COOKIE_NAME] = ticket
    response = client.get("/m/join/")
    assert response.status_code == 302 and response["Location"] == "/m/login/"
    assert client.post("/m/join/", {"accept_terms": "on", "terms_version": TERMS_VERSION}).status_code == 302
    assert not Member.objects.exists() and not ProgramConsent.objects.exists()


def test_an_expired_ticket_is_refused(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    ticket = _pending()
    monkeypatch.setattr(services, "JOIN_TICKET_MAX_AGE", -1)
    with pytest.raises(FieldError, match="重新登录"):
        member_join_with_consent(ticket=ticket, accept_terms=True, terms_version=TERMS_VERSION)
    assert not Member.objects.exists()


def test_a_newer_code_voids_an_open_ticket(world: World) -> None:
    ticket = _pending()
    cache.clear()
    login_code_request(phone=PHONE, brand_code="mass")
    with pytest.raises(FieldError) as err:
        member_join_with_consent(ticket=ticket, accept_terms=True, terms_version=TERMS_VERSION)
    assert err.value.field == "ticket"


def test_outdated_terms_version_is_refused(world: World) -> None:
    ticket = _pending()
    with pytest.raises(FieldError) as err:
        member_join_with_consent(ticket=ticket, accept_terms=True, terms_version="2020-01")
    assert err.value.field == "terms_version"
    assert not Member.objects.exists() and not ProgramConsent.objects.exists()
    # the ticket is still good for the current version
    member_join_with_consent(ticket=ticket, accept_terms=True, terms_version=TERMS_VERSION)
    assert Member.objects.filter(person=world.persons["a2_owner"]).exists()


def test_declining_enrols_nobody(world: World) -> None:
    client = Client()
    _to_join_page(client)
    response = client.post("/m/join/", {"action": "decline", "accept_terms": "on", "terms_version": TERMS_VERSION})
    assert response.status_code == 302 and response["Location"] == "/m/login/"
    assert response.cookies[JOIN_COOKIE_NAME].value == ""
    assert not Member.objects.exists() and not ProgramConsent.objects.exists()
    assert LoginCode.objects.get().used_at is None  # spent only by a join


def test_a_new_phone_creates_the_person_only_on_joining_verified(world: World) -> None:
    client = Client()
    _to_join_page(client, "13700001111", name="赵小明")
    assert not Person.objects.filter(phone="+8613700001111").exists()
    assert _join(client).status_code == 302
    person = Person.objects.get(phone="+8613700001111")
    assert person.name == "赵小明"
    assert ContactPoint.objects.get(person=person, value="+8613700001111").verified_at is not None
    assert ProgramConsent.objects.get().person == person


def test_a_member_of_one_brand_is_asked_to_join_another(world: World) -> None:
    enrol(world, "a2_owner", "mass")
    _pending(brand="premium")
    assert Member.objects.filter(person=world.persons["a2_owner"]).count() == 1


def test_the_console_shows_the_verified_phone(world: World) -> None:
    _pending()
    console = Client()
    console.force_login(world.staff["hq_admin"].user)
    html = console.get(f"/console/persons/{world.persons['a2_owner'].pk}/").content.decode()
    assert 'data-testid="contact-verified"' in html and "已验证" in html

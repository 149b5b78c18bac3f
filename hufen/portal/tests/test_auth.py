"""SMS sign-up and sign-in through the login page and the services: codes, throttles, sessions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from conftest import World
from hufen.common.errors import FieldError
from hufen.common.models import AuditEvent
from hufen.membership.models import Member
from hufen.people.models import ContactPoint, Person
from hufen.portal.access import COOKIE_NAME
from hufen.portal.models import LoginCode, PortalSession, SmsMessage
from hufen.portal.services import (
    MAX_ATTEMPTS,
    MAX_CODES_PER_IP_HOUR,
    Throttled,
    login_code_request,
    member_sign_in,
)
from hufen.portal.terms import TERMS_VERSION
from hufen.portal.tests.helpers import enrol, last_code, signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def _send(client: Client, phone: str, brand: str = "mass", step: str = "send") -> Any:
    return client.post("/m/login/", {"step": step, "phone": phone, "brand": brand})


def _verify(client: Client, phone: str, code: str, name: str = "", brand: str = "mass", nxt: str = "") -> Any:
    data = {"step": "verify", "phone": phone, "code": code, "name": name, "brand": brand}
    if nxt:
        data["next"] = nxt
    return client.post("/m/login/", data)


def _join(client: Client, **extra: str) -> Any:
    data = {"accept_terms": "on", "terms_version": TERMS_VERSION, "action": "join"} | extra
    return client.post("/m/join/", data)


def test_existing_owner_signs_in_with_any_phone_format_and_joins_the_brand(world: World) -> None:
    # given the owner of a2, known by +8615012340002, not yet a member
    person = world.persons["a2_owner"]
    client = Client()
    # when they type their number with spaces and the country code, then the code from the SMS
    response = _send(client, "+86 150 1234 0002")
    assert response.status_code == 200
    assert "150****0002" in response.content.decode()
    message = SmsMessage.objects.get()
    assert message.phone == "+8615012340002" and message.status == "sent"
    assert "星河汽车" in message.body
    response = _verify(client, "15012340002", last_code("+8615012340002"))
    # then they are asked to join first: the terms page, nothing enrolled yet
    assert response.status_code == 302 and response["Location"] == "/m/join/?next=%2Fm%2F"
    assert not Member.objects.filter(person=person).exists()
    assert COOKIE_NAME not in response.cookies
    # and once they agree they are a member of the mass brand through the H5 channel, and signed in
    response = _join(client)
    assert response.status_code == 302 and response["Location"] == "/m/"
    member = Member.objects.get(person=person)
    assert member.channel == "h5" and member.program.brand.code == "mass"
    assert COOKIE_NAME in response.cookies and response.cookies[COOKIE_NAME]["httponly"]
    assert client.get("/m/").status_code == 200
    assert Person.objects.count() == len(world.persons)  # matched, not duplicated
    login = AuditEvent.objects.get(action="portal.login")
    assert login.actor_label == f"member:{member.number}" and login.summary["phone"] == "150****0002"


def test_code_is_stored_hashed_and_expires_in_five_minutes(world: World) -> None:
    sent = login_code_request(phone="15012340002", brand_code="mass")
    row = LoginCode.objects.get()
    code = last_code(sent.phone)
    assert code not in row.code_hash and len(row.code_hash) == 64
    assert row.expires_at - row.created_at == dt.timedelta(minutes=5)


def test_new_phone_creates_a_prospect_after_the_name_is_given(world: World) -> None:
    client = Client()
    _send(client, "13700001111")
    code = last_code("+8613700001111")
    # without a name the code is right but the membership cannot be created: asked for a name
    response = _verify(client, "13700001111", code)
    assert response.status_code == 400
    assert 'data-testid="error-name"' in response.content.decode()
    assert not Person.objects.filter(phone="+8613700001111").exists()
    # the same code still works once the name is added; the person is created only on joining
    response = _verify(client, "13700001111", code, name="  赵  小明 ")
    assert response.status_code == 302 and response["Location"].startswith("/m/join/")
    assert not Person.objects.filter(phone="+8613700001111").exists()
    assert _join(client).status_code == 302
    person = Person.objects.get(phone="+8613700001111")
    assert person.name == "赵 小明" and person.source == "portal"
    assert ContactPoint.objects.filter(person=person, kind="phone", value="+8613700001111").exists()
    assert Member.objects.get(person=person).channel == "h5"
    created = AuditEvent.objects.get(action="person.create", object_id=str(person.pk))
    assert created.actor_label == "system:portal"


@pytest.mark.parametrize("phone", ["", "12345", "23800001111", "+1 415 555 0100", "1380013800x", "010-12345678"])
def test_bad_phone_is_refused_and_sends_nothing(world: World, phone: str) -> None:
    response = _send(Client(), phone)
    assert response.status_code == 400
    assert 'data-testid="error-phone"' in response.content.decode()
    assert SmsMessage.objects.count() == 0 and LoginCode.objects.count() == 0


def test_unknown_brand_is_refused(world: World) -> None:
    response = _send(Client(), "15012340002", brand="nope")
    assert response.status_code == 400
    assert SmsMessage.objects.count() == 0


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef"])
def test_malformed_code_is_refused_without_counting_an_attempt(world: World, code: str) -> None:
    login_code_request(phone="15012340002", brand_code="mass")
    with pytest.raises(FieldError) as exc:
        member_sign_in(phone="15012340002", code=code, brand_code="mass")
    assert exc.value.field == "code"
    assert LoginCode.objects.get().attempts == 0


def test_wrong_code_counts_attempts_and_locks_after_five(world: World) -> None:
    login_code_request(phone="15012340002", brand_code="mass")
    right = last_code("+8615012340002")
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    client = Client()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        response = _verify(client, "15012340002", wrong)
        assert response.status_code == 400
        assert 'data-testid="error-code"' in response.content.decode()
        assert LoginCode.objects.get().attempts == attempt
    # the right code no longer helps: a new one must be requested
    response = _verify(client, "15012340002", right)
    assert response.status_code == 400
    assert not Member.objects.exists() and not PortalSession.objects.exists()
    assert AuditEvent.objects.filter(action="portal.login_failed").count() == MAX_ATTEMPTS
    failed = AuditEvent.objects.filter(action="portal.login_failed").first()
    assert failed is not None and failed.summary["phone"] == "150****0002"


def test_expired_code_is_refused(world: World) -> None:
    login_code_request(phone="15012340002", brand_code="mass")
    code = last_code("+8615012340002")
    LoginCode.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(FieldError, match="过期"):
        member_sign_in(phone="15012340002", code=code, brand_code="mass")
    assert not PortalSession.objects.exists()


def test_a_code_signs_in_once_and_a_newer_code_replaces_it(world: World) -> None:
    login_code_request(phone="15012340002", brand_code="mass")
    first = last_code("+8615012340002")
    enrol(world, "a2_owner")
    member_sign_in(phone="15012340002", code=first, brand_code="mass")
    with pytest.raises(FieldError):
        member_sign_in(phone="15012340002", code=first, brand_code="mass")
    cache.clear()  # past the resend throttle
    login_code_request(phone="15012340002", brand_code="mass")
    second = last_code("+8615012340002")
    cache.clear()
    login_code_request(phone="15012340002", brand_code="mass")
    third = last_code("+8615012340002")
    if second != third:
        with pytest.raises(FieldError):
            member_sign_in(phone="15012340002", code=second, brand_code="mass")
    assert member_sign_in(phone="15012340002", code=third, brand_code="mass").member.person == world.persons["a2_owner"]


def test_resend_is_throttled_for_sixty_seconds_per_phone(world: World) -> None:
    client = Client()
    assert _send(client, "15012340002").status_code == 200
    response = _send(client, "150 1234 0002", step="resend")
    assert response.status_code == 429 and 0 < int(response["Retry-After"]) <= 60
    assert 'data-testid="error-phone"' in response.content.decode()
    assert SmsMessage.objects.count() == 1
    # another phone is not held up
    assert _send(client, "13700001111").status_code == 200


def test_codes_per_address_are_rate_limited(world: World) -> None:
    for i in range(MAX_CODES_PER_IP_HOUR):
        login_code_request(phone=f"1370000{i:04d}", brand_code="mass", ip="203.0.113.9")
    with pytest.raises(Throttled):
        login_code_request(phone="13799999999", brand_code="mass", ip="203.0.113.9")
    assert SmsMessage.objects.count() == MAX_CODES_PER_IP_HOUR
    # a refused request does not hold the phone's one-a-minute slot
    login_code_request(phone="13799999999", brand_code="mass", ip="198.51.100.7")


def test_logout_ends_the_session_and_is_audited(world: World) -> None:
    client, member = signed_in_client(world)
    response = client.post("/m/logout/")
    assert response.status_code == 302 and response["Location"] == "/m/login/"
    assert PortalSession.objects.get().ended_at is not None
    assert client.get("/m/").status_code == 302
    assert AuditEvent.objects.filter(action="portal.logout", object_id=str(member.pk)).count() == 1


def test_logout_needs_post_and_csrf(world: World) -> None:
    client, _ = signed_in_client(world)
    assert client.get("/m/logout/").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.cookies[COOKIE_NAME] = client.cookies[COOKIE_NAME].value
    assert strict.post("/m/logout/").status_code == 403
    assert PortalSession.objects.get().ended_at is None


def test_login_form_needs_csrf(world: World) -> None:
    response = Client(enforce_csrf_checks=True).post("/m/login/", {"step": "send", "phone": "15012340002"})
    assert response.status_code == 403
    assert SmsMessage.objects.count() == 0


def test_session_expires(world: World, settings: Any) -> None:
    client, _ = signed_in_client(world)
    session = PortalSession.objects.get()
    assert session.expires_at - session.created_at == dt.timedelta(days=settings.HUFEN_PORTAL_SESSION_DAYS)
    PortalSession.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = client.get("/m/points/")
    assert response.status_code == 302 and response["Location"].startswith("/m/login/?next=")


def test_forged_cookie_is_not_a_session(world: World) -> None:
    signed_in_client(world)
    client = Client()
    client.cookies[COOKIE_NAME] = "not-a-real-token"
    assert client.get("/m/").status_code == 302


def test_next_only_leads_back_into_the_portal(world: World) -> None:
    enrol(world, "a2_owner")
    for target, expected in [("/m/points/", "/m/points/"), ("https://evil.example/", "/m/"), ("/console/", "/m/")]:
        cache.clear()
        client = Client()
        _send(client, "15012340002")
        response = _verify(client, "15012340002", last_code("+8615012340002"), nxt=target)
        assert response["Location"] == expected


def test_signed_in_member_visiting_login_goes_to_the_card(world: World) -> None:
    client, _ = signed_in_client(world)
    response = client.get("/m/login/")
    assert response.status_code == 302 and response["Location"] == "/m/"


def test_portal_session_does_not_open_the_console(world: World) -> None:
    client, _ = signed_in_client(world)
    response = client.get("/console/")
    assert response.status_code == 302 and response["Location"].startswith("/console/login/")
    assert client.get("/console/sms/").status_code == 302


def test_console_session_does_not_open_the_portal(world: World) -> None:
    client = Client()
    client.force_login(world.staff["hq_admin"].user)
    assert client.get("/console/").status_code == 200
    response = client.get("/m/")
    assert response.status_code == 302 and response["Location"].startswith("/m/login/")
    assert client.get("/m/points/").status_code == 302


def test_closed_membership_cannot_sign_in(world: World) -> None:
    client, member = signed_in_client(world)
    Member.objects.filter(pk=member.pk).update(status="closed")
    assert client.get("/m/").status_code == 302  # the open session ends at once
    cache.clear()
    login_code_request(phone="15012340002", brand_code="mass")
    with pytest.raises(FieldError, match="注销"):
        member_sign_in(phone="15012340002", code=last_code("+8615012340002"), brand_code="mass")


def test_codes_per_phone_are_capped_per_day(world: World) -> None:
    from hufen.portal.services import MAX_CODES_PER_PHONE_DAY

    for _ in range(MAX_CODES_PER_PHONE_DAY):
        cache.clear()  # past the one-a-minute throttle
        login_code_request(phone="15012340002", brand_code="mass")
    cache.clear()
    with pytest.raises(Throttled) as exc:
        login_code_request(phone="15012340002", brand_code="mass")
    assert exc.value.field == "phone"
    assert SmsMessage.objects.count() == MAX_CODES_PER_PHONE_DAY
    LoginCode.objects.update(created_at=timezone.now() - dt.timedelta(days=1, seconds=1))
    login_code_request(phone="15012340002", brand_code="mass")  # a day later it works again


def test_the_code_signs_in_to_the_brand_it_was_sent_for(world: World) -> None:
    enrol(world, "a2_owner", "mass")
    enrol(world, "a2_owner", "premium")
    login_code_request(phone="15012340002", brand_code="mass")
    signed = member_sign_in(phone="15012340002", code=last_code("+8615012340002"), brand_code="premium")
    assert signed.member.program.brand.code == "mass"


def test_login_page_speaks_chinese_first_and_english_on_request(world: World) -> None:
    assert "登录或注册" in Client().get("/m/login/").content.decode()
    english = Client()
    english.cookies["django_language"] = "en"
    html = english.get("/m/login/").content.decode()
    assert "Sign in or join" in html and 'lang="en"' in html

"""Double taps and parallel sign-ins on PostgreSQL (SQLite serialises every writer anyway)."""

from __future__ import annotations

import pytest
from django.test import Client

from conftest import World
from hufen.common.errors import FieldError
from hufen.membership.models import Member, PointsAccount, Redemption
from hufen.membership.selectors import ledger_verify
from hufen.portal.access import COOKIE_NAME
from hufen.portal.models import PortalSession, ProgramConsent
from hufen.portal.services import JoinRequired, login_code_request, member_join_with_consent, member_sign_in
from hufen.portal.terms import TERMS_VERSION
from hufen.portal.tests.helpers import award, catalogue, enrol, last_code, signed_in_client
from hufen.testing.concurrency import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_burst_of_taps_on_one_confirmation_redeems_once(pg_world: World) -> None:
    client, member = signed_in_client(pg_world)
    award(member, 1_000, "visit-1")
    wash = catalogue(member)["wash"]
    token = client.cookies[COOKIE_NAME].value

    def tap() -> int:
        c = Client()
        c.cookies[COOKIE_NAME] = token
        response = c.post(f"/m/benefits/{wash.pk}/redeem/", {"idempotency_key": "one-form", "quantity": "1"})
        return response.status_code

    results = race([tap for _ in range(8)])
    assert results == [302] * 8, results
    assert Redemption.objects.filter(member=member).count() == 1
    assert PointsAccount.objects.get(member=member).balance == 700
    wash.refresh_from_db()
    assert wash.stock == 49
    assert ledger_verify() == []


def test_one_code_opens_one_session_however_many_tabsrace(pg_world: World) -> None:
    enrol(pg_world, "a2_owner")
    login_code_request(phone="15012340002", brand_code="mass")
    code = last_code("+8615012340002")
    results = race([lambda: member_sign_in(phone="15012340002", code=code, brand_code="mass") for _ in range(6)])
    signed = [r for r in results if not isinstance(r, Exception)]
    assert len(signed) == 1, results
    assert all(isinstance(r, FieldError) for r in results if isinstance(r, Exception)), results
    assert PortalSession.objects.count() == 1


def test_one_join_ticket_enrols_once_however_many_tapsrace(pg_world: World) -> None:
    # given a right code from a person who is not a member yet: a join ticket
    login_code_request(phone="15012340002", brand_code="mass")
    with pytest.raises(JoinRequired) as needed:
        member_sign_in(phone="15012340002", code=last_code("+8615012340002"), brand_code="mass")
    ticket = needed.value.pending.ticket

    # when the "agree and join" button is tapped six times at once
    def tap() -> object:
        return member_join_with_consent(ticket=ticket, accept_terms=True, terms_version=TERMS_VERSION)

    results = race([tap for _ in range(6)])
    # then one join succeeds; the others are told the sign-in is spent, and nothing is doubled
    assert len([r for r in results if not isinstance(r, Exception)]) == 1, results
    assert all(isinstance(r, FieldError) and r.field == "ticket" for r in results if isinstance(r, Exception))
    assert Member.objects.filter(person=pg_world.persons["a2_owner"]).count() == 1
    assert ProgramConsent.objects.count() == 1
    assert PortalSession.objects.count() == 1

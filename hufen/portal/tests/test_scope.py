"""A member sees and touches only their own card, points, redemptions and vehicles: every URL is
tried with another member's ids."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.cache import cache
from django.test import Client

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.errors import NotFound, PermissionDenied
from hufen.membership.benefits import benefit_redeem
from hufen.membership.models import BenefitItem, Member, PointsAccount, Redemption
from hufen.portal.access import member_actor
from hufen.portal.selectors import member_card, my_redemption, points_entries
from hufen.portal.tests.helpers import award, catalogue, enrol, signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@dataclass
class Two:
    client: Client
    mine: Member
    other: Member
    items: dict[str, BenefitItem]
    theirs: Redemption
    premium_item: BenefitItem


@pytest.fixture
def two(world: World) -> Two:
    """a2_owner signed in (mass); b1_owner a mass member too, with points and a reservation; and a
    premium-program item that a mass member must not reach."""
    client, mine = signed_in_client(world, person="a2_owner")
    other = enrol(world, "b1_owner")
    award(other, 3_000, "other-visit")
    award(mine, 1_000, "my-visit")
    items = catalogue(mine)
    theirs = benefit_redeem(actor=SYSTEM, member=other, item=items["wash"], quantity=1, idempotency_key="theirs")
    premium_member = enrol(world, "b1_owner", brand="premium")
    premium_items = catalogue(premium_member)
    return Two(client, mine, other, items, theirs, premium_items["wash"])


def test_pages_show_only_my_own_data(world: World, two: Two) -> None:
    client, other = two.client, two.other
    for url in ["/m/", "/m/points/", "/m/benefits/", "/m/redemptions/"]:
        html = client.get(url).content.decode()
        assert other.number not in html
        assert "黄*国" not in html and "黄建国" not in html
        assert "3,000" not in html and "2,700" not in html
    assert 'data-testid="redemption"' not in client.get("/m/redemptions/").content.decode()


def test_another_members_redemption_cannot_be_cancelled(world: World, two: Two) -> None:
    client, theirs = two.client, two.theirs
    response = client.post(f"/m/redemptions/{theirs.pk}/cancel/")
    assert response.status_code == 404
    assert Redemption.objects.get(pk=theirs.pk).status == "reserved"
    assert PointsAccount.objects.get(member=two.other).balance == 2_700


def test_another_programs_item_cannot_be_redeemed(world: World, two: Two) -> None:
    client, item, mine = two.client, two.premium_item, two.mine
    assert client.get(f"/m/benefits/{item.pk}/redeem/").status_code == 404
    response = client.post(f"/m/benefits/{item.pk}/redeem/", {"idempotency_key": "x", "quantity": "1"})
    assert response.status_code == 404
    assert not Redemption.objects.filter(member=mine).exists()
    assert client.get("/m/benefits/999999/redeem/").status_code == 404


def test_a_reused_key_of_another_member_redeems_for_me_only(world: World, two: Two) -> None:
    # Idempotency keys are per member: another member's key neither replays their redemption nor fails.
    client, items, mine = two.client, two.items, two.mine
    wash = items["wash"]
    response = client.post(f"/m/benefits/{wash.pk}/redeem/", {"idempotency_key": "theirs", "quantity": "1"})
    assert response.status_code == 302
    assert Redemption.objects.filter(member=mine).count() == 1
    assert Redemption.objects.filter(idempotency_key="theirs").count() == 2


def test_car_key_for_another_persons_vehicle_is_refused(world: World, two: Two) -> None:
    client = two.client
    other_vehicle = world.persons["b1_owner"].ownerships.get().vehicle_id
    html = client.get(f"/m/card/key/?vehicle={other_vehicle}").content.decode()
    assert 'data-testid="car-key-error"' in html and 'data-testid="short-code"' not in html
    html = client.get("/m/card/key/?vehicle=-1' or 1=1").content.decode()
    assert 'data-testid="short-code"' in html  # junk is ignored: the key is for my own car


def test_selectors_refuse_another_member_even_when_called_directly(world: World, two: Two) -> None:
    mine, other, theirs = two.mine, two.other, two.theirs
    actor = member_actor(mine)
    with pytest.raises(PermissionDenied):
        member_card(actor=actor, member=other)
    with pytest.raises(PermissionDenied):
        points_entries(actor=actor, member=other)
    with pytest.raises(NotFound):
        my_redemption(actor=actor, member=mine, redemption_id=theirs.pk)


def test_member_actor_is_self_scoped_to_one_brand(world: World, two: Two) -> None:
    mine = two.mine
    actor = member_actor(mine)
    assert actor.role == "member" and actor.scope == "self"
    assert actor.person_id == world.persons["a2_owner"].pk and actor.member_id == mine.pk
    assert actor.brand_ids == frozenset({world.brands["mass"].pk})
    assert actor.label == f"member:{mine.number}"
    assert not actor.has_perm("persons.view") and not actor.has_perm("points.adjust")

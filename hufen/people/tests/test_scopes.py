"""Data scopes, proven at the queryset level for every actor; pages and endpoints repeat this."""

from __future__ import annotations

import pytest

from conftest import SCOPE_ACTORS, World
from hufen.people.models import Ownership, Person, Vehicle


@pytest.mark.parametrize("actor_name", SCOPE_ACTORS)
def test_person_visible_to_matches_expected_scope(world: World, actor_name: str) -> None:
    # given an actor; when we list the persons it may see; then exactly its scope
    visible = set(Person.objects.visible_to(world.actor(actor_name)).values_list("id", flat=True))
    assert visible == world.expected(actor_name)


@pytest.mark.parametrize("actor_name", SCOPE_ACTORS)
def test_vehicles_and_ownerships_follow_person_scope(world: World, actor_name: str) -> None:
    actor = world.actor(actor_name)
    expected = world.expected(actor_name)
    owners = set(Ownership.objects.visible_to(actor).values_list("person_id", flat=True))
    assert owners == expected - {world.persons["prospect"].pk}
    vins = set(Vehicle.objects.visible_to(actor).values_list("vin", flat=True))
    assert vins == set(Ownership.objects.filter(person_id__in=expected).values_list("vehicle__vin", flat=True))


def test_ending_a_butler_assignment_removes_the_person_from_the_butler(world: World) -> None:
    from django.utils import timezone

    from hufen.people.models import ButlerAssignment

    butler = world.actor("butler_a1")
    assert Person.objects.visible_to(butler).count() == 1
    ButlerAssignment.objects.filter(butler=world.staff["butler_a1"]).update(ended_at=timezone.now())
    assert Person.objects.visible_to(butler).count() == 0


def test_revoked_or_expired_api_client_does_not_authenticate(world: World) -> None:
    import datetime as dt

    from django.utils import timezone

    from hufen.org.services import api_client_authenticate, api_client_revoke

    token = world.api_tokens["api_dealer_a1"]
    assert api_client_authenticate(token) is not None
    assert api_client_authenticate(token + "x") is None
    assert api_client_authenticate("not-a-token") is None
    api_client_revoke(actor=world.actor("hq_admin"), client=world.api_clients["api_dealer_a1"])
    assert api_client_authenticate(token) is None
    other = world.api_clients["api_brand_premium"]
    other.expires_at = timezone.now() - dt.timedelta(seconds=1)
    other.save()
    assert api_client_authenticate(world.api_tokens["api_brand_premium"]) is None


@pytest.mark.parametrize("actor_name", SCOPE_ACTORS)
def test_bulk_and_lookup_forms_of_the_scope_agree(world: World, actor_name: str) -> None:
    actor = world.actor(actor_name)
    bulk = set(Person.objects.visible_to_in_bulk(actor).values_list("id", flat=True))
    assert bulk == set(Person.objects.visible_to(actor).values_list("id", flat=True)) == world.expected(actor_name)

"""Data scope of Member Day figures: every actor counts exactly the check-ins of the persons it may see."""

from __future__ import annotations

import pytest

from conftest import ACTOR_NAMES, EXPECTED_SCOPE, SCOPE_ACTORS, World
from hufen.common.actors import SYSTEM
from hufen.common.errors import PermissionDenied
from hufen.memberday.checkin import memberday_check_in
from hufen.memberday.dashboard import figures, leading_dealers
from hufen.memberday.selectors import checkins_visible_to
from hufen.memberday.tests.helpers import NOON, join, schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def everyone_checked_in(world: World) -> World:
    schedule(world)
    for person in EXPECTED_SCOPE["hq_admin"]:
        memberday_check_in(actor=SYSTEM, member_id=join(world, person).pk, now=NOON)
    return world


@pytest.mark.parametrize("name", SCOPE_ACTORS)
def test_checkins_visible_to_match_the_expected_scope(everyone_checked_in: World, name: str) -> None:
    world = everyone_checked_in
    seen = set(checkins_visible_to(world.actor(name)).values_list("person_id", flat=True))
    assert seen == world.expected(name)


@pytest.mark.parametrize("name", ACTOR_NAMES)
def test_dashboard_figures_count_only_the_scope(everyone_checked_in: World, name: str) -> None:
    world = everyone_checked_in
    actor = world.actor(name)
    from hufen.memberday.models import Occurrence

    occ = Occurrence.objects.get()
    if name == "merchant":
        with pytest.raises(PermissionDenied):
            figures(actor, occ)
        return
    f = figures(actor, occ)
    assert f.checkins == len(world.expected(name))
    assert f.members == len(world.expected(name))  # everyone joined, everyone checked in
    dealers = {d["dealer"] for d in leading_dealers(actor, occ)}
    # Only mass owners have a home dealer of the mass brand (A1, A2); a dealer sees only its own.
    if name in ("dealer_a1", "api_dealer_a1", "butler_a1"):
        assert dealers <= {"A1"}
    if name == "dealer_b1":
        assert dealers == set()


def test_a_member_sees_no_figures(everyone_checked_in: World) -> None:
    from hufen.memberday.models import Occurrence

    with pytest.raises(PermissionDenied):
        figures(everyone_checked_in.actor("member_a2"), Occurrence.objects.get())

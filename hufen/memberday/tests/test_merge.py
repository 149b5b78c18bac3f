"""A person merge moves the person's Member Day check-ins to the survivor; unmerge moves them back."""

from __future__ import annotations

import pytest

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.memberday.checkin import memberday_check_in
from hufen.memberday.models import CheckIn
from hufen.memberday.tests.helpers import NOON, join, schedule
from hufen.people.merge import person_merge, person_unmerge

pytestmark = pytest.mark.django_db


def test_check_ins_follow_their_person_through_merge_and_unmerge(world: World) -> None:
    schedule(world)
    member = join(world, "a2_owner")
    checkin = memberday_check_in(actor=SYSTEM, member_id=member.pk, now=NOON).checkin
    survivor, absorbed = world.persons["a1_owner"], world.persons["a2_owner"]
    merge = person_merge(actor=world.actor("hq_admin"), survivor=survivor, absorbed=absorbed, reason="同一车主两个号码")
    checkin.refresh_from_db()
    assert checkin.person_id == survivor.pk and checkin.member_id == member.pk
    person_unmerge(actor=world.actor("hq_admin"), merge=merge, reason="误合并")
    checkin.refresh_from_db()
    assert checkin.person_id == absorbed.pk
    assert CheckIn.objects.count() == 1

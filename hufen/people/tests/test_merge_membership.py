"""Membership's merge handler: members move, points move through the ledger keeping their expiry,
and an unmerge gives them back — or is refused when the moved points were spent since."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.errors import FieldError
from hufen.membership.ledger import points_award, points_reverse, points_spend
from hufen.membership.models import Member, PointsAccount, PointsEntry, PointsLot
from hufen.membership.services import member_set_status
from hufen.membership.tests.helpers import assert_ledger_consistent, join
from hufen.people.merge import merge_preview, person_merge, person_unmerge
from hufen.people.models import PersonMerge
from hufen.people.tests.merge_helpers import snapshot, snapshot_diff


def merge(world: World, survivor: str = "a1_owner", absorbed: str = "a1_other") -> PersonMerge:
    return person_merge(
        actor=world.actor("hq_admin"),
        survivor=world.persons[survivor],
        absorbed=world.persons[absorbed],
        reason="同一人",
    )


def award(member: Member, amount: int, key: str, now: dt.datetime | None = None) -> PointsEntry:
    return points_award(actor=SYSTEM, member=member, amount=amount, reason="goodwill", idempotency_key=key, now=now)


def balance(member: Member) -> int:
    return PointsAccount.objects.get(member=member).balance


def verify_command() -> None:
    out = StringIO()
    call_command("points", "verify", stdout=out)  # exits 1 (SystemExit) on any discrepancy


def without_new_lots(snap: dict[str, list[dict[str, object]]], last_lot: int) -> dict[str, list[dict[str, object]]]:
    """Lots created by the merge stay (emptied) after an unmerge: the ledger is append-only."""
    return {**snap, "membership.pointslot": [r for r in snap["membership.pointslot"] if int(str(r["id"])) <= last_lot]}


def test_a_member_only_the_absorbed_has_moves_to_the_survivor_and_back(world: World) -> None:
    member = join(world, "a1_other", "premium")
    award(member, 500, "k1")
    before = snapshot()
    m = merge(world)
    assert Member.objects.get(pk=member.pk).person_id == world.persons["a1_owner"].pk
    assert balance(member) == 500
    person_unmerge(actor=SYSTEM, merge=m)
    assert snapshot_diff(before, snapshot()) == []


def test_points_of_two_members_of_one_program_move_keeping_each_lots_expiry(world: World) -> None:
    keep = join(world, "a1_owner", "mass")
    gone = join(world, "a1_other", "mass")
    award(keep, 100, "s1")
    old = timezone.now() - dt.timedelta(days=400)
    award(gone, 300, "a1", now=old)
    award(gone, 200, "a2")
    points_spend(actor=SYSTEM, member=gone, amount=120, reason="merchant", idempotency_key="sp1")
    source_lots = {lot.pk: (lot.remaining, lot.expires_at) for lot in PointsLot.objects.filter(account__member=gone)}
    last_lot = PointsLot.objects.order_by("-id").values_list("id", flat=True).first() or 0
    before = snapshot()
    # When the two persons are merged
    m = merge(world)
    # Then the survivor holds all 380 spendable points in lots that keep their source lots' expiry
    assert (balance(keep), balance(gone)) == (480, 0)
    assert Member.objects.get(pk=gone.pk).status == "closed"
    new_lots = PointsLot.objects.filter(account__member=keep, entry__reason="merge_in").order_by("expires_at")
    assert sorted((lot.amount, lot.expires_at) for lot in new_lots) == sorted(
        (remaining, expires) for remaining, expires in source_lots.values() if remaining
    )
    out = PointsEntry.objects.get(account__member=gone, reason="merge_out")
    assert out.amount == -380 and out.ref_type == "person_merge" and out.ref_id == str(m.pk)
    assert_ledger_consistent()
    verify_command()
    # When the merge is undone, the points return to the very lots they came from
    person_unmerge(actor=SYSTEM, merge=m)
    assert (balance(keep), balance(gone)) == (100, 380)
    assert Member.objects.get(pk=gone.pk).status == "active"
    assert snapshot_diff(without_new_lots(before, last_lot), without_new_lots(snapshot(), last_lot)) == []
    assert {lot.remaining for lot in PointsLot.objects.filter(entry__reason="merge_in")} == {0}
    assert_ledger_consistent()
    verify_command()


def test_unmerge_is_refused_while_moved_points_are_spent(world: World) -> None:
    keep = join(world, "a1_owner", "mass")
    gone = join(world, "a1_other", "mass")
    award(gone, 300, "a1")
    m = merge(world)
    spend = points_spend(actor=SYSTEM, member=keep, amount=250, reason="merchant", idempotency_key="sp")
    with pytest.raises(FieldError, match="250 of the 300 points this merge moved were spent"):
        person_unmerge(actor=SYSTEM, merge=m)
    m.refresh_from_db()
    assert m.unmerged_at is None and balance(keep) == 50
    assert Member.objects.get(pk=gone.pk).status == "closed"
    # Once the spend is reversed, the merge can be undone
    points_reverse(actor=SYSTEM, entry=spend)
    person_unmerge(actor=SYSTEM, merge=m)
    assert (balance(keep), balance(gone)) == (0, 300)
    assert_ledger_consistent()


def test_expired_lots_stay_behind_for_the_expiry_job(world: World) -> None:
    keep = join(world, "a1_owner", "mass")
    gone = join(world, "a1_other", "mass")
    award(gone, 70, "old", now=timezone.now() - dt.timedelta(days=800))  # already past its expiry
    award(gone, 30, "new")
    merge(world)
    assert (balance(keep), balance(gone)) == (30, 70)
    assert_ledger_consistent()


def test_a_frozen_member_stops_the_merge(world: World) -> None:
    join(world, "a1_owner", "mass")
    gone = join(world, "a1_other", "mass")
    award(gone, 10, "a")
    member_set_status(actor=SYSTEM, member=gone, status="frozen", reason="风控核查")
    before = snapshot()
    with pytest.raises(FieldError, match="is frozen"):
        merge(world)
    assert snapshot_diff(before, snapshot()) == [] and not PersonMerge.objects.exists()


def test_preview_names_the_memberships(world: World) -> None:
    join(world, "a1_owner", "mass")
    gone = join(world, "a1_other", "mass")
    award(gone, 40, "a")
    other = join(world, "a1_other", "premium")
    preview = merge_preview(
        actor=SYSTEM, survivor_id=world.persons["a1_owner"].pk, absorbed_id=world.persons["a1_other"].pk
    )
    text = " ".join(preview.moves)
    assert gone.number in text and "40" in text and other.number in text

"""Person merge and unmerge: every moved kind round-trips exactly; errors are clear and write nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.models import AuditEvent, DomainEvent
from hufen.identity.models import BlockKey, Identifier, SourceRecord
from hufen.people.merge import (
    _HANDLERS,
    MergeContext,
    UnmergeContext,
    merge_preview,
    person_merge,
    person_redirects,
    person_resolve_id,
    person_unmerge,
    register_merge_handler,
)
from hufen.people.models import (
    ButlerAssignment,
    ContactPoint,
    Household,
    Ownership,
    Person,
    PersonMerge,
    ServiceVisit,
)
from hufen.people.services import person_add_phone, service_visit_record
from hufen.people.tests.factories import PersonFactory
from hufen.people.tests.merge_helpers import snapshot, snapshot_diff


def merge(world: World, survivor: str, absorbed: str, reason: str = "同一客户：手机号与身份证一致") -> PersonMerge:
    return person_merge(
        actor=world.actor("hq_admin"),
        survivor=world.persons[survivor],
        absorbed=world.persons[absorbed],
        reason=reason,
        evidence={"rule": "manual", "score": 0.99},
    )


def fresh(person: Person) -> Person:
    return Person.objects.get(pk=person.pk)


def test_merge_moves_everything_and_unmerge_restores_the_exact_rows(world: World) -> None:
    # Given two persons in one household, each with a vehicle, contacts and an open butler assignment,
    # and a third with a service visit at another dealer
    before = snapshot()
    survivor, absorbed = world.persons["a1_owner"], world.persons["a1_other"]
    # When a1_other is merged into a1_owner
    m = merge(world, "a1_owner", "a1_other")
    # Then the absorbed person's rows belong to the survivor
    assert not Ownership.objects.filter(person=absorbed).exists()
    assert Ownership.objects.filter(person=survivor).count() == 2
    assert not ButlerAssignment.objects.filter(person=absorbed).exists()
    open_ones = ButlerAssignment.objects.filter(person=survivor, ended_at__isnull=True)
    # the survivor's butler is kept; the absorbed's assignment ended and moved as history
    assert [a.butler_id for a in open_ones] == [world.staff["butler_a1"].pk]
    ended = ButlerAssignment.objects.get(person=survivor, butler=world.staff["butler_a1b"])
    assert ended.ended_at is not None and "merged into" in ended.reason
    phones = ContactPoint.objects.filter(person=survivor, kind="phone")
    assert {c.value for c in phones} == {"+8613812345678", "+8613912340001"}
    assert [c.value for c in phones if c.is_primary] == ["+8613812345678"]
    a = fresh(absorbed)
    assert (a.status, a.merged_into_id, a.household_id) == ("merged", survivor.pk, None)
    assert fresh(survivor).name == "王小伟"  # the survivor keeps its values
    assert m.moves.count() > 5
    # When the merge is undone
    restored = person_unmerge(actor=world.actor("hq_operator"), merge=m, reason="误合并")
    # Then every row is exactly as before the merge
    assert restored.pk == absorbed.pk and restored.status == "active"
    assert snapshot_diff(before, snapshot()) == []
    m.refresh_from_db()
    assert m.unmerged_at is not None and m.unmerged_by == world.actor("hq_operator").label
    assert not m.moves.filter(restored_at__isnull=True).exists()


def test_service_visits_and_foreign_dealer_ownership_round_trip(world: World) -> None:
    before = snapshot()
    m = merge(world, "prospect", "b1_serviced_at_a1")
    prospect = world.persons["prospect"]
    assert ServiceVisit.objects.filter(person=prospect).count() == 1
    assert Ownership.objects.get(person=prospect).dealer == world.dealers["B1"]
    person_unmerge(actor=SYSTEM, merge=m)
    assert snapshot_diff(before, snapshot()) == []


def test_source_records_move_with_the_person_through_the_identity_hooks(world: World) -> None:
    absorbed = world.persons["b1_serviced_at_a1"]
    record = SourceRecord.objects.create(
        source="dms",
        source_key="B1-000417",
        raw={"name": "刘洋"},
        normalized={"phone": absorbed.phone},
        fingerprint="f" * 64,
        received_at=timezone.now(),
        person=absorbed,
        decision="new",
    )
    Identifier.objects.create(kind="phone", value=absorbed.phone, record=record, person=absorbed)
    BlockKey.objects.create(key="liuyang|guangzhou", record=record, person=absorbed)
    before = snapshot()
    m = merge(world, "a1_owner", "b1_serviced_at_a1")
    assert SourceRecord.objects.get(pk=record.pk).person_id == world.persons["a1_owner"].pk
    assert Identifier.objects.get(record=record).person_id == world.persons["a1_owner"].pk
    person_unmerge(actor=SYSTEM, merge=m)
    assert snapshot_diff(before, snapshot()) == []


def test_blank_fields_are_filled_from_the_absorbed_and_restored(world: World) -> None:
    bare = PersonFactory.create(
        name="王小伟", phone="", gender="U", province="", city="", district="", address="", email=""
    )
    full = world.persons["a1_owner"]
    full.email, full.birth_date = "xw.wang@example.com", dt.date(1985, 3, 9)
    full.id_number_hash, full.id_number_hint = "ab" * 32, "330106********1234"
    full.save()
    before = snapshot()
    m = person_merge(actor=SYSTEM, survivor=bare, absorbed=full, reason="同名同号")
    b = fresh(bare)
    assert (b.phone, b.email, b.birth_date, b.gender) == (full.phone, full.email, full.birth_date, "M")
    assert (b.city, b.district, b.id_number_hint) == ("杭州市", "西湖区", "330106********1234")
    assert b.household_id == full.household_id and b.household_role == "head"
    # the absorbed's primary phone became the survivor's primary phone
    assert ContactPoint.objects.get(person=bare, kind="phone").is_primary
    person_unmerge(actor=SYSTEM, merge=m)
    assert snapshot_diff(before, snapshot()) == []


def test_a_field_edited_after_the_merge_keeps_the_edit(world: World) -> None:
    bare = PersonFactory.create(name="王小伟", phone="", city="", province="", district="", address="")
    m = person_merge(actor=SYSTEM, survivor=bare, absorbed=world.persons["a2_owner"], reason="同一人")
    Person.objects.filter(pk=bare.pk).update(phone="+8613700000001")
    person_unmerge(actor=SYSTEM, merge=m)
    b = fresh(bare)
    assert b.phone == "+8613700000001"  # edited after the merge: kept
    assert b.city == ""  # untouched since: restored
    assert "changed after the merge" in m.moves.get(field="phone").note


def test_rows_added_to_the_survivor_after_the_merge_stay_with_it(world: World) -> None:
    survivor, absorbed = world.persons["a1_owner"], world.persons["b1_serviced_at_a1"]
    m = merge(world, "a1_owner", "b1_serviced_at_a1")
    vehicle = Ownership.objects.get(person=survivor, dealer=world.dealers["A1"]).vehicle
    later = service_visit_record(
        actor=SYSTEM, person=survivor, vehicle=vehicle, dealer=world.dealers["A1"], kind="maintenance"
    )
    phone = person_add_phone(actor=SYSTEM, person=survivor, phone="13600001111")
    person_unmerge(actor=SYSTEM, merge=m)
    assert ServiceVisit.objects.get(pk=later.pk).person_id == survivor.pk
    assert ContactPoint.objects.get(pk=phone.pk).person_id == survivor.pk
    assert ServiceVisit.objects.filter(person=absorbed).count() == 1


def test_duplicate_contact_stays_with_the_absorbed(world: World) -> None:
    twin = PersonFactory.create(name="王小伟", phone="+8613812345678")
    m = person_merge(actor=SYSTEM, survivor=world.persons["a1_owner"], absorbed=twin, reason="重复建档")
    assert ContactPoint.objects.filter(kind="phone", value="+8613812345678").count() == 2
    assert not m.moves.filter(model_label="people.contactpoint").exists()


def test_merge_records_audit_and_events(world: World) -> None:
    m = merge(world, "a1_owner", "a1_other")
    actions = set(AuditEvent.objects.filter(action__startswith="person.").values_list("action", "object_id"))
    survivor, absorbed = world.persons["a1_owner"].pk, world.persons["a1_other"].pk
    assert {("person.merge", str(survivor)), ("person.merged_into", str(absorbed))} <= actions
    event = DomainEvent.objects.get(name="person_merged")
    assert event.person_id == survivor and event.properties["absorbed_id"] == absorbed
    assert event.properties["moved"]["people.ownership"] == 1
    person_unmerge(actor=SYSTEM, merge=m, reason="误合并")
    assert AuditEvent.objects.filter(action="person.unmerge", reason="误合并").exists()
    assert DomainEvent.objects.get(name="person_unmerged").person_id == absorbed


@pytest.mark.parametrize(
    ("survivor", "absorbed", "message"),
    [
        ("a1_owner", "a1_owner", "cannot be merged with itself"),
        ("a2_owner", "a1_other", "was itself merged into person"),  # a1_other→a1_owner first, below
        ("a1_other", "a2_owner", "was itself merged into person"),
        ("b1_owner", "a1_other", "is already merged into person"),
    ],
)
def test_impossible_merges_are_clear_errors_and_write_nothing(
    world: World, survivor: str, absorbed: str, message: str
) -> None:
    merge(world, "a1_owner", "a1_other")
    if (survivor, absorbed) == ("a2_owner", "a1_other"):
        survivor, absorbed = "a1_other", "a2_owner"
    before = snapshot()
    merges = PersonMerge.objects.count()
    with pytest.raises(FieldError, match=message):
        merge(world, survivor, absorbed)
    assert snapshot_diff(before, snapshot()) == [] and PersonMerge.objects.count() == merges


def test_reason_is_required(world: World) -> None:
    with pytest.raises(FieldError, match="reason"):
        merge(world, "a1_owner", "a1_other", reason="  ")
    assert not PersonMerge.objects.exists()


@pytest.mark.parametrize("name", ["region_east", "dealer_a1", "butler_a1", "dealer_b1", "merchant", "api_dealer_a1"])
def test_only_group_wide_staff_may_merge(world: World, name: str) -> None:
    with pytest.raises(PermissionDenied):
        person_merge(
            actor=world.actor(name),
            survivor=world.persons["a1_owner"],
            absorbed=world.persons["a1_other"],
            reason="同一人",
        )
    m = merge(world, "a1_owner", "a1_other")
    with pytest.raises(PermissionDenied):
        person_unmerge(actor=world.actor(name), merge=m)
    assert fresh(world.persons["a1_other"]).status == "merged"


def test_chains_unmerging_one_leaves_the_other(world: World) -> None:
    ab = merge(world, "a1_owner", "a1_other")
    ac = merge(world, "a1_owner", "a2_owner")
    assert person_redirects() == {
        world.persons["a1_other"].pk: world.persons["a1_owner"].pk,
        world.persons["a2_owner"].pk: world.persons["a1_owner"].pk,
    }
    person_unmerge(actor=SYSTEM, merge=ab)
    assert fresh(world.persons["a1_other"]).status == "active"
    assert fresh(world.persons["a2_owner"]).merged_into_id == world.persons["a1_owner"].pk
    assert Ownership.objects.filter(person=world.persons["a1_owner"]).count() == 2
    ac.refresh_from_db()
    assert ac.unmerged_at is None


def test_a_merge_whose_survivor_was_merged_later_waits_for_that_merge(world: World) -> None:
    before = snapshot()
    first = merge(world, "a1_owner", "a1_other")
    second = merge(world, "b1_owner", "a1_owner")
    assert person_resolve_id(world.persons["a1_other"].pk) == world.persons["b1_owner"].pk
    assert person_redirects()[world.persons["a1_other"].pk] == world.persons["b1_owner"].pk
    with pytest.raises(FieldError, match=f"undo merge {second.pk} first"):
        person_unmerge(actor=SYSTEM, merge=first)
    person_unmerge(actor=SYSTEM, merge=second)
    person_unmerge(actor=SYSTEM, merge=first)
    assert snapshot_diff(before, snapshot()) == []
    with pytest.raises(FieldError, match="already undone"):
        person_unmerge(actor=SYSTEM, merge=first)


def test_resolve_id_of_a_live_or_unknown_person_is_itself(world: World) -> None:
    assert person_resolve_id(world.persons["a1_owner"].pk) == world.persons["a1_owner"].pk
    assert person_resolve_id(10**9) == 10**9


def test_remerging_after_an_unmerge_works(world: World) -> None:
    m = merge(world, "a1_owner", "a1_other")
    person_unmerge(actor=SYSTEM, merge=m)
    again = merge(world, "a1_owner", "a1_other")
    assert again.pk != m.pk and fresh(world.persons["a1_other"]).status == "merged"


def test_a_registered_handler_runs_in_the_transaction_and_can_veto(world: World) -> None:
    seen: list[str] = []

    def on_merge(ctx: MergeContext) -> None:
        seen.append(f"merge {ctx.absorbed.pk}->{ctx.survivor.pk}")
        ctx.record("custom", "test.thing", 1, before="x", after="y")

    def on_unmerge(ctx: UnmergeContext) -> None:
        for move in ctx.moves:
            seen.append(f"undo {move.kind}")
            ctx.restored(move)

    register_merge_handler("test_thing", on_merge, on_unmerge)
    try:
        m = merge(world, "a1_owner", "a1_other")
        person_unmerge(actor=SYSTEM, merge=m)

        def veto(ctx: MergeContext) -> None:
            raise FieldError("thing", "cannot move")

        register_merge_handler("test_thing", veto, on_unmerge)
        with pytest.raises(FieldError, match="cannot move"):
            merge(world, "a1_owner", "a1_other")
    finally:
        _HANDLERS.pop("test_thing", None)
    a, s = world.persons["a1_other"].pk, world.persons["a1_owner"].pk
    assert seen == [f"merge {a}->{s}", "undo custom"]
    assert fresh(world.persons["a1_other"]).status == "active"  # the veto rolled everything back


def test_preview_lists_moves_and_dealers_that_gain_the_survivor(world: World) -> None:
    preview = merge_preview(
        actor=world.actor("hq_admin"),
        survivor_id=world.persons["prospect"].pk,
        absorbed_id=world.persons["b1_serviced_at_a1"].pk,
    )
    assert preview.problem is None
    assert any("1" in line for line in preview.moves)
    assert [d.split()[0] for d in preview.new_dealer_names] == ["A1", "B1"]
    with pytest.raises(PermissionDenied):
        merge_preview(actor=world.actor("dealer_a1"), survivor_id=1, absorbed_id=2)
    with pytest.raises(NotFound):
        merge_preview(actor=world.actor("hq_admin"), survivor_id=world.persons["prospect"].pk, absorbed_id=10**9)


def test_households_survive_with_the_remaining_members(world: World) -> None:
    household = Household.objects.get(name="王家")
    m = merge(world, "a1_owner", "a1_other")
    assert list(household.members.values_list("pk", flat=True)) == [world.persons["a1_owner"].pk]
    person_unmerge(actor=SYSTEM, merge=m)
    assert household.members.count() == 2


def test_merge_and_unmerge_cost_a_fixed_number_of_queries(world: World) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from hufen.people.tests.factories import OwnershipFactory, ServiceVisitFactory, VehicleFactory

    def cost(n: int) -> tuple[int, int]:
        survivor, absorbed = PersonFactory.create(), PersonFactory.create()
        for _ in range(n):
            own = OwnershipFactory.create(person=absorbed, dealer=world.dealers["A1"], vehicle=VehicleFactory.create())
            ServiceVisitFactory.create(person=absorbed, vehicle=own.vehicle, dealer=world.dealers["A1"])
        with CaptureQueriesContext(connection) as merging:
            m = person_merge(actor=SYSTEM, survivor=survivor, absorbed=absorbed, reason="批量测试")
        with CaptureQueriesContext(connection) as unmerging:
            person_unmerge(actor=SYSTEM, merge=m)
        return len(merging), len(unmerging)

    small, large = cost(2), cost(40)
    # moves are written and restored in batches (SQLite caps a batch at ~80 moves), not per row
    assert large[0] - small[0] <= 2 and large[1] - small[1] <= 2, (small, large)
    assert large[0] <= 30 and large[1] <= 30

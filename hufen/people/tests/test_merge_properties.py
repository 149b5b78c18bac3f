"""Random sequences of merges and unmerges keep the invariants, and undoing them all (newest first)
returns every row to where it started."""

from __future__ import annotations

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.errors import FieldError
from hufen.membership.ledger import points_award
from hufen.membership.tests.helpers import assert_ledger_consistent, join
from hufen.people.merge import person_merge, person_redirects, person_resolve_id, person_unmerge
from hufen.people.models import ButlerAssignment, Ownership, Person, PersonMerge, ServiceVisit
from hufen.people.tests.merge_helpers import snapshot, snapshot_diff

KEYS = ["a1_owner", "a1_other", "a2_owner", "b1_owner", "b1_serviced_at_a1", "prospect"]

op = st.one_of(
    st.tuples(st.just("merge"), st.integers(0, 5), st.integers(0, 5)),
    st.tuples(st.just("unmerge"), st.integers(0, 20), st.just(0)),
)


class _Rollback(Exception):
    pass


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, max_size=14))
def test_any_sequence_keeps_invariants_and_unwinds_exactly(world: World, ops: list[tuple[str, int, int]]) -> None:
    try:
        with transaction.atomic():
            _run(world, ops)
            raise _Rollback
    except _Rollback:
        pass


def _setup_members(world: World) -> None:
    for i, key in enumerate(["a1_owner", "a1_other", "b1_owner"]):
        member = join(world, key, "mass")
        points_award(actor=SYSTEM, member=member, amount=100 * (i + 1), reason="goodwill", idempotency_key=f"p{i}")
    join(world, "a2_owner", "premium")


def _run(world: World, ops: list[tuple[str, int, int]]) -> None:
    _setup_members(world)
    start = snapshot()
    total_ownerships = Ownership.objects.count()
    for kind, x, y in ops:
        before = snapshot()
        try:
            with transaction.atomic():
                if kind == "merge":
                    person_merge(
                        actor=SYSTEM,
                        survivor=Person.objects.get(pk=world.persons[KEYS[x]].pk),
                        absorbed=Person.objects.get(pk=world.persons[KEYS[y]].pk),
                        reason="property test",
                    )
                else:
                    live = list(PersonMerge.objects.filter(unmerged_at__isnull=True).order_by("id"))
                    if live:
                        person_unmerge(actor=SYSTEM, merge=live[x % len(live)])
        except FieldError:
            assert snapshot_diff(before, snapshot()) == []  # a refused step leaves no trace
        _check_invariants(total_ownerships)
    # Undo every live merge, newest first: always allowed, and back to the start exactly.
    for m in PersonMerge.objects.filter(unmerged_at__isnull=True).order_by("-id"):
        person_unmerge(actor=SYSTEM, merge=m)
    assert snapshot_diff(_without_merge_lots(start), _without_merge_lots(snapshot())) == []
    assert_ledger_consistent()


def _without_merge_lots(snap: dict[str, list[dict[str, object]]]) -> dict[str, list[dict[str, object]]]:
    # merge_in lots stay in the append-only ledger, emptied by their reversal
    from hufen.membership.models import PointsLot

    merge_lots = set(PointsLot.objects.filter(entry__reason="merge_in").values_list("id", flat=True))
    return {**snap, "membership.pointslot": [r for r in snap["membership.pointslot"] if r["id"] not in merge_lots]}


def _check_invariants(total_ownerships: int) -> None:
    live = {m.absorbed_id: m.survivor_id for m in PersonMerge.objects.filter(unmerged_at__isnull=True)}
    merged = dict(Person.objects.filter(status="merged").values_list("id", "merged_into_id"))
    assert merged == live  # merged exactly when absorbed by one live merge, into its survivor
    redirects = person_redirects()
    assert set(redirects) == set(merged)
    for absorbed, target in redirects.items():
        assert target not in merged and person_resolve_id(absorbed) == target
    for model in (Ownership, ServiceVisit, ButlerAssignment):
        assert not model.objects.filter(person_id__in=list(merged)).exists(), model
    assert Ownership.objects.count() == total_ownerships
    assert_ledger_consistent()

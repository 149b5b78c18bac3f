"""The merge API: who may merge, idempotent retries, and where an absorbed id's GET goes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ACTOR_NAMES, EXPECTED_SCOPE, World
from hufen.api.tests.helpers import Caller, bearer, error_of
from hufen.people.models import Person, PersonMerge


@pytest.fixture
def caller(world: World) -> Callable[[str], Caller]:
    def make(name: str) -> Caller:
        if name in world.api_tokens:
            return Caller(Client(), bearer(world.api_tokens[name]))
        client = Client()
        client.force_login(world.staff[name].user)
        return Caller(client)

    return make


def pk(world: World, key: str) -> int:
    return world.persons[key].pk


def test_hq_merges_and_unmerges_over_the_api(world: World, caller: Callable[[str], Caller]) -> None:
    api = caller("hq_admin")
    body = {"absorbed_id": pk(world, "a1_other"), "reason": "同一客户", "evidence": {"score": 0.98}}
    response = api.post(f"/persons/{pk(world, 'a1_owner')}/merge", body)
    assert response.status_code == 201, response.content
    merge = response.json()
    assert (merge["survivor_id"], merge["absorbed_id"]) == (pk(world, "a1_owner"), pk(world, "a1_other"))
    assert merge["evidence"] == {"score": 0.98} and merge["unmerged_at"] is None
    kinds = {(m["model"], m["kind"]) for m in merge["moves"]}
    assert ("people.ownership", "reassign") in kinds and ("people.butlerassignment", "end") in kinds
    assert "+86139" not in response.content.decode()  # moves never carry the moved values
    undo = api.post(f"/merges/{merge['id']}/unmerge", {"reason": "误合并"})
    assert undo.status_code == 200, undo.content
    assert undo.json()["unmerged_at"] is not None
    assert all(m["restored"] for m in undo.json()["moves"])
    assert Person.objects.get(pk=pk(world, "a1_other")).status == "active"


def test_merge_and_unmerge_replay_with_an_idempotency_key(world: World, caller: Callable[[str], Caller]) -> None:
    api = caller("hq_operator")
    body = {"absorbed_id": pk(world, "a2_owner"), "reason": "重复建档"}
    path = f"/persons/{pk(world, 'a1_owner')}/merge"
    first = api.post(path, body, headers={"Idempotency-Key": "m-1"})
    again = api.post(path, body, headers={"Idempotency-Key": "m-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert PersonMerge.objects.count() == 1
    other = api.post(path, {**body, "reason": "别的"}, headers={"Idempotency-Key": "m-1"})
    assert other.status_code == 409
    # without a key, a second merge is a clear error naming the state
    plain = api.post(path, body)
    assert plain.status_code == 422 and "already merged" in error_of(plain)["message"]
    merge_id = first.json()["id"]
    u1 = api.post(f"/merges/{merge_id}/unmerge", {}, headers={"Idempotency-Key": "u-1"})
    u2 = api.post(f"/merges/{merge_id}/unmerge", {}, headers={"Idempotency-Key": "u-1"})
    assert (u1.status_code, u2.status_code) == (200, 200) and u1.json() == u2.json()
    u3 = api.post(f"/merges/{merge_id}/unmerge", {})
    assert u3.status_code == 422 and "already undone" in error_of(u3)["message"]


@pytest.mark.parametrize("name", [n for n in ACTOR_NAMES if n not in ("hq_admin", "hq_operator")])
def test_everyone_else_gets_403(world: World, caller: Callable[[str], Caller], name: str) -> None:
    body = {"absorbed_id": pk(world, "a1_other"), "reason": "同一人"}
    response = caller(name).post(f"/persons/{pk(world, 'a1_owner')}/merge", body)
    assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
    merge = caller("hq_admin").post(f"/persons/{pk(world, 'a1_owner')}/merge", body).json()
    response = caller(name).post(f"/merges/{merge['id']}/unmerge", {})
    assert response.status_code == 403
    assert not PersonMerge.objects.filter(unmerged_at__isnull=False).exists()


@pytest.mark.parametrize(
    ("path_key", "absorbed_key", "status", "text"),
    [
        ("a1_owner", "a1_owner", 422, "with itself"),
        ("a1_owner", None, 404, "does not exist"),
    ],
)
def test_bad_merges(
    world: World, caller: Callable[[str], Caller], path_key: str, absorbed_key: str | None, status: int, text: str
) -> None:
    absorbed = pk(world, absorbed_key) if absorbed_key else 10**12
    response = caller("hq_admin").post(
        f"/persons/{pk(world, path_key)}/merge", {"absorbed_id": absorbed, "reason": "x"}
    )
    assert response.status_code == status and text in error_of(response)["message"]
    empty = caller("hq_admin").post(f"/persons/{pk(world, path_key)}/merge", {"absorbed_id": 1, "reason": ""})
    assert empty.status_code == 422
    assert caller("hq_admin").post("/merges/999999/unmerge", {}).status_code == 404
    assert not PersonMerge.objects.exists()


@pytest.mark.parametrize("name", ACTOR_NAMES)
def test_get_of_an_absorbed_id_redirects_only_within_scope(
    world: World, caller: Callable[[str], Caller], name: str
) -> None:
    # b1_serviced_at_a1 (seen by A1, B1, east, premium, HQ) is merged into a1_owner (seen by A1 staff
    # and the butler): afterwards the survivor carries both persons' dealer facts.
    caller("hq_admin").post(
        f"/persons/{pk(world, 'a1_owner')}/merge", {"absorbed_id": pk(world, "b1_serviced_at_a1"), "reason": "同一人"}
    )
    response = caller(name).get(f"/persons/{pk(world, 'b1_serviced_at_a1')}")
    if name == "merchant":
        assert response.status_code == 403
        return
    survivor_visible = Person.objects.visible_to(world.actor(name)).filter(pk=pk(world, "a1_owner")).exists()
    if survivor_visible:
        assert response.status_code == 308
        assert response["Location"] == f"/api/v1/persons/{pk(world, 'a1_owner')}"
        assert response.json() == {"merged_into": pk(world, "a1_owner")}
        follow = caller(name)
        assert follow.client.get(response["Location"], headers=follow.headers).status_code == 200
    else:
        assert response.status_code == 404


def test_who_sees_the_survivor_after_a_merge(world: World) -> None:
    """A merge unions the two persons' scopes: dealer B1 saw only the absorbed person before, and
    sees the survivor afterwards (the same human). The butler, whose grid holds only the survivor,
    gains nothing."""
    from hufen.people.merge import person_merge

    survivor = world.persons["a1_owner"]
    before = {n: Person.objects.visible_to(world.actor(n)).filter(pk=survivor.pk).exists() for n in ACTOR_NAMES}
    person_merge(
        actor=world.actor("hq_admin"), survivor=survivor, absorbed=world.persons["b1_serviced_at_a1"], reason="同一人"
    )
    after = {n: Person.objects.visible_to(world.actor(n)).filter(pk=survivor.pk).exists() for n in ACTOR_NAMES}
    gained = {n for n in ACTOR_NAMES if after[n] and not before[n]}
    lost = {n for n in ACTOR_NAMES if before[n] and not after[n]}
    assert gained == {"dealer_b1"} and lost == set()
    # and each gainer could see the absorbed person before: nobody sees a person they could not see
    assert all("b1_serviced_at_a1" in EXPECTED_SCOPE[n] for n in gained)


_scalars = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(["", " ", "0", "-1", "王小伟", "\x00", "%", "'", "null"]),
    st.none(),
    st.booleans(),
)
_bodies = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "absorbed_id": _scalars,
            "reason": _scalars,
            "evidence": st.one_of(_scalars, st.dictionaries(st.text(max_size=5), _scalars, max_size=3)),
            "extra": _scalars,
        },
    ),
    _scalars,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies, target=st.integers(min_value=-5, max_value=2**64), undo=st.integers(min_value=-5, max_value=2**64))
def test_random_bodies_never_break_the_merge_endpoints(
    world: World, caller: Callable[[str], Caller], body: object, target: int, undo: int
) -> None:
    api = caller("hq_admin")
    for response in (
        api.post(f"/persons/{target}/merge", body),
        api.post(f"/persons/{pk(world, 'a1_owner')}/merge", body),
        api.post(f"/merges/{undo}/unmerge", body),
    ):
        assert response.status_code in (201, 200, 404, 422, 400), response.content
        if response.status_code >= 400:
            error_of(response)
    # whatever happened, the invariant holds: merged exactly when absorbed by a live merge
    live = dict(PersonMerge.objects.filter(unmerged_at__isnull=True).values_list("absorbed_id", "survivor_id"))
    assert dict(Person.objects.filter(status="merged").values_list("id", "merged_into_id")) == live

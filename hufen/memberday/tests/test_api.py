"""The Member Day API: calendar, check-in by member id (idempotent), tasks, sessions, figures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from conftest import World
from hufen.api.tests.helpers import Caller
from hufen.common.actors import SYSTEM
from hufen.memberday.awards import memberday_award_pending
from hufen.memberday.models import CheckIn, Session
from hufen.memberday.sessions import session_create
from hufen.memberday.tests.helpers import NOON, frozen, join, local, schedule
from hufen.membership.models import PointsAccount, PointsEntry

pytestmark = pytest.mark.django_db
Make = Callable[[str], Caller]


def test_occurrences_list_and_detail(world: World, caller: Make) -> None:
    schedule(world, months=2)
    schedule(world, "premium", months=1)
    body = caller("hq_operator").get("/memberday/occurrences", {"brand": "mass"}).json()
    assert [o["day"] for o in body["items"]] == ["2026-11-30", "2026-12-31"]
    detail = caller("api_dealer_a1").get(f"/memberday/occurrences/{body['items'][0]['id']}").json()
    assert detail["title"] == "11月会员日"
    assert [t["kind"] for t in detail["tasks"]] == ["post", "share", "attend"]
    # A brand-scoped client sees its brand's calendar only.
    premium = caller("api_brand_premium").get("/memberday/occurrences").json()
    assert {o["brand"] for o in premium["items"]} == {"premium"}
    assert caller("api_brand_premium").get(f"/memberday/occurrences/{body['items'][0]['id']}").status_code == 404


@frozen(NOON)
def test_check_in_by_member_id_with_idempotency_key(world: World, caller: Make) -> None:
    member = join(world, "a1_owner")
    schedule(world, now=local(2026, 11, 1, 9, 0))
    api = caller("api_dealer_a1")
    first = api.post("/memberday/check-ins", {"member_id": member.pk}, headers={"Idempotency-Key": "tap-1"})
    assert first.status_code == 201, first.content
    assert first.json()["created"] is True and first.json()["points"] == 10
    replay = api.post("/memberday/check-ins", {"member_id": member.pk}, headers={"Idempotency-Key": "tap-1"})
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    # A second tap with a fresh key: the natural key answers with the first check-in.
    again = api.post("/memberday/check-ins", {"member_id": member.pk}, headers={"Idempotency-Key": "tap-2"})
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["id"] == first.json()["id"]
    # The same key with another request is a conflict, and changes nothing.
    other = join(world, "a1_other")
    clash = api.post("/memberday/check-ins", {"member_id": other.pk}, headers={"Idempotency-Key": "tap-1"})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "idempotency_conflict"
    clash = api.post("/memberday/check-ins", {"member_id": other.pk}, headers={"Idempotency-Key": "tap-2"})
    assert clash.status_code == 409
    # The points are on their way, then in the ledger; the answer says which.
    assert first.json()["points_status"] == "pending" and first.json()["entry_id"] is None
    assert PointsAccount.objects.get(member=member).balance == 0
    memberday_award_pending()
    assert PointsAccount.objects.get(member=member).balance == 10
    paid = api.post("/memberday/check-ins", {"member_id": member.pk}, headers={"Idempotency-Key": "tap-1"})
    assert paid.status_code == 201 and paid.json()["points_status"] == "awarded"
    assert paid.json()["entry_id"] == PointsEntry.objects.get(reason="check_in").pk
    assert CheckIn.objects.count() == 1


@frozen(local(2026, 11, 29, 23, 59))
def test_check_in_off_the_day_is_a_clear_422(world: World, caller: Make) -> None:
    member = join(world, "a1_owner")
    schedule(world, now=local(2026, 11, 1, 9, 0))
    r = caller("api_dealer_a1").post("/memberday/check-ins", {"member_id": member.pk})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["field"] == "day"
    assert "next one is 2026-11-30" in r.json()["error"]["message"]


@frozen(NOON)
@pytest.mark.parametrize(("name", "status"), [("api_dealer_a1", 404), ("dealer_b1", 403), ("region_east", 403)])
def test_check_in_outside_scope_or_without_permission(world: World, caller: Make, name: str, status: int) -> None:
    member = join(world, "b1_owner", "premium")
    schedule(world, "premium", now=local(2026, 11, 1, 9, 0))
    r = caller(name).post("/memberday/check-ins", {"member_id": member.pk})
    assert r.status_code == status, r.content
    assert CheckIn.objects.count() == 0


@frozen(NOON)
def test_tasks_and_member_today(world: World, caller: Make) -> None:
    member = join(world, "a1_owner")
    schedule(world, now=local(2026, 11, 1, 9, 0))
    api = caller("api_dealer_a1")
    r = api.post("/memberday/task-completions", {"member_id": member.pk, "kind": "post", "ref": "post:88"})
    assert r.status_code == 201 and r.json()["points"] == 20
    assert api.post("/memberday/task-completions", {"member_id": member.pk, "kind": "post"}).status_code == 200
    bad = api.post("/memberday/task-completions", {"member_id": member.pk, "kind": "dance"})
    assert bad.status_code == 422
    today = api.get(f"/memberday/members/{member.pk}/today").json()
    assert today["is_today"] is True and today["checked_in"] is False
    assert {t["kind"]: t["done"] for t in today["tasks"]} == {
        "check_in": False,
        "post": True,
        "share": False,
        "attend": False,
    }
    assert caller("dealer_b1").get(f"/memberday/members/{member.pk}/today").status_code == 404


@frozen(local(2026, 11, 20, 10, 0))
def test_sessions_are_dealer_scoped(world: World, caller: Make) -> None:
    (occ,) = schedule(world, now=local(2026, 11, 1, 9, 0))
    body = {
        "dealer": "A1",
        "title": "新车品鉴会",
        "location": "杭州星河之江店展厅",
        "starts_at": "2026-11-30T14:00:00+08:00",
        "ends_at": "2026-11-30T16:00:00+08:00",
        "capacity": 30,
    }
    created = caller("dealer_a1").post(f"/memberday/occurrences/{occ.pk}/sessions", body)
    assert created.status_code == 201, created.content
    # Dealer B1 may not create for A1 (and does not sell this brand anyway).
    assert caller("dealer_b1").post(f"/memberday/occurrences/{occ.pk}/sessions", body).status_code == 403
    session_create(
        actor=SYSTEM,
        occurrence=occ,
        dealer=world.dealers["A2"],
        title="车主沙龙",
        starts_at=local(2026, 11, 30, 10, 0),
        ends_at=local(2026, 11, 30, 11, 0),
        capacity=10,
    )

    def seen(name: str) -> set[str]:
        return {s["dealer"] for s in caller(name).pages(f"/memberday/occurrences/{occ.pk}/sessions")}

    assert seen("hq_operator") == {"A1", "A2"}
    assert seen("region_east") == {"A1", "A2"}
    assert seen("dealer_a1") == {"A1"}
    assert seen("dealer_b1") == set()
    a2 = Session.objects.get(dealer__code="A2")
    # Another dealer cannot reach A2's session at all, let alone mark attendance.
    member = join(world, "a2_owner")
    r = caller("dealer_a1").post(f"/memberday/sessions/{a2.pk}/attendance", {"member_id": member.pk})
    assert r.status_code == 404
    bad = dict(body, starts_at="2026-12-01T14:00:00+08:00", ends_at="2026-12-01T15:00:00+08:00")
    r = caller("dealer_a1").post(f"/memberday/occurrences/{occ.pk}/sessions", bad)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "starts_at"


def test_sign_up_and_attendance_award_the_attend_task(world: World, caller: Make) -> None:
    member = join(world, "a1_owner")
    (occ,) = schedule(world, now=local(2026, 11, 1, 9, 0))
    session = session_create(
        actor=world.actor("dealer_a1"),
        occurrence=occ,
        dealer=world.dealers["A1"],
        title="新车品鉴会",
        starts_at=local(2026, 11, 30, 14, 0),
        ends_at=local(2026, 11, 30, 16, 0),
        capacity=1,
    )
    with frozen(local(2026, 11, 25, 10, 0)):
        r = caller("api_dealer_a1").post(f"/memberday/sessions/{session.pk}/signups", {"member_id": member.pk})
        assert r.status_code == 201, r.content
        again = caller("api_dealer_a1").post(f"/memberday/sessions/{session.pk}/signups", {"member_id": member.pk})
        assert again.status_code == 200
        other = join(world, "a1_other")
        full = caller("api_dealer_a1").post(f"/memberday/sessions/{session.pk}/signups", {"member_id": other.pk})
        assert full.status_code == 422 and "full" in full.json()["error"]["message"]
    with frozen(local(2026, 11, 30, 14, 10)):
        r = caller("butler_a1").post(f"/memberday/sessions/{session.pk}/attendance", {"member_id": member.pk})
        assert r.status_code == 200 and r.json()["attended_at"]
    assert PointsAccount.objects.get(member=member).balance == 50  # the attend task's points


@frozen(NOON)
def test_dashboard_and_report_figures_are_scoped(world: World, caller: Make) -> None:
    prev_occ, occ = schedule(world, "mass", months=2, now=local(2026, 10, 5, 9, 0))
    assert prev_occ.day == dt.date(2026, 10, 31)
    a1 = join(world, "a1_owner")
    a2 = join(world, "a2_owner")
    from hufen.memberday.checkin import memberday_check_in

    memberday_check_in(actor=SYSTEM, member_id=a1.pk, now=local(2026, 10, 31, 9, 0))
    memberday_check_in(actor=SYSTEM, member_id=a1.pk, now=NOON)
    memberday_check_in(actor=SYSTEM, member_id=a2.pk, now=NOON)
    hq = caller("hq_operator").get(f"/memberday/occurrences/{occ.pk}/dashboard").json()
    assert hq["figures"]["checkins"] == 2 and hq["figures"]["members"] == 2
    assert hq["figures"]["share_active"] == 1.0
    assert hq["per_minute"] == [["12:00", 2]]
    assert {d["dealer"]: d["checkins"] for d in hq["dealers"]} == {"A1": 1, "A2": 1}
    dealer = caller("dealer_a1").get(f"/memberday/occurrences/{occ.pk}/dashboard").json()
    assert dealer["figures"]["checkins"] == 1 and dealer["figures"]["members"] == 1
    assert [d["dealer"] for d in dealer["dealers"]] == ["A1"]
    report = caller("region_east").get(f"/memberday/occurrences/{occ.pk}/report").json()
    rows = {r["metric"]: r for r in report["rows"]}
    assert rows["checkins"]["current"] == 2 and rows["checkins"]["previous"] == 1 and rows["checkins"]["change"] == 1.0
    assert report["regions"] == [
        {"region": "华东大区", "checkins": 2, "previous_checkins": 1, "attendance": 0, "previous_attendance": 0}
    ]
    # A merchant operator has no data scope: not even the calendar.
    assert caller("merchant").get(f"/memberday/occurrences/{occ.pk}/dashboard").status_code == 404

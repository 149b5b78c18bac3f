"""Console pages (set-up, sessions, live dashboard, report) and the portal page, through the test client."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.memberday.awards import memberday_award_pending
from hufen.memberday.checkin import memberday_check_in
from hufen.memberday.models import Occurrence, Offer, Session, SessionSignup
from hufen.memberday.sessions import session_create, session_sign_up
from hufen.memberday.tests.helpers import join, schedule, today_occurrence
from hufen.membership.models import PointsAccount
from hufen.portal.tests.helpers import signed_in_client

pytestmark = pytest.mark.django_db


def console(world: World, name: str) -> Client:
    client = Client()
    client.force_login(world.staff[name].user)
    return client


def _session(
    world: World, occ: Occurrence, dealer: str = "A1", capacity: int = 20, *, whole_day: bool = False
) -> Session:
    """A session at 14:00-16:00 brand time, or one that lasts the whole day (for pages served at the real
    clock: sign-up closes when a session ends, so a fixed afternoon slot fails a run made after 16:00)."""
    start = occ.starts_at if whole_day else occ.starts_at + dt.timedelta(hours=14)
    return session_create(
        actor=SYSTEM,
        occurrence=occ,
        dealer=world.dealers[dealer],
        title="新车品鉴会" if dealer == "A1" else "车主沙龙",
        location="展厅",
        starts_at=start,
        ends_at=occ.ends_at if whole_day else start + dt.timedelta(hours=2),
        capacity=capacity,
    )


@pytest.mark.parametrize("name", ["hq_admin", "hq_operator", "region_east", "dealer_a1", "butler_a1"])
def test_console_pages_render_for_each_role(world: World, name: str) -> None:
    (occ,) = schedule(world)
    client = console(world, name)
    home = client.get("/console/")
    assert 'href="/console/memberday/"' in home.content.decode()
    for url in (
        "/console/memberday/",
        f"/console/memberday/{occ.pk}/",
        f"/console/memberday/{occ.pk}/live/",
        f"/console/memberday/{occ.pk}/report/",
    ):
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code)
    assert ("schedule-form" in client.get("/console/memberday/").content.decode()) == name.startswith("hq_")


def test_hq_sets_the_day_up_through_the_console(world: World) -> None:
    (occ,) = schedule(world)
    client = console(world, "hq_operator")
    r = client.post(
        f"/console/memberday/{occ.pk}/",
        {"action": "update", "title": "双十一后会员日", "theme": "感恩回馈", "checkin_points": "15"},
    )
    assert r.status_code == 302
    occ.refresh_from_db()
    assert (occ.title, occ.checkin_points) == ("双十一后会员日", 15)
    client.post(
        f"/console/memberday/{occ.pk}/", {"action": "offer", "title": "金卡专享：免费四轮定位", "min_tier_rank": "2"}
    )
    assert Offer.objects.get().min_tier_rank == 2
    bad = client.post(
        f"/console/memberday/{occ.pk}/",
        {"action": "task", "kind": "post", "title": "发帖", "points": "abc"},
        follow=True,
    )
    assert "points: must be a whole number" in bad.content.decode()
    # A dealer may not change the set-up.
    r = console(world, "dealer_a1").post(
        f"/console/memberday/{occ.pk}/", {"action": "update", "title": "x", "checkin_points": "1"}
    )
    assert r.status_code == 403
    occ.refresh_from_db()
    assert occ.title == "双十一后会员日"


def test_dealers_manage_their_own_sessions_only(world: World) -> None:
    (occ,) = schedule(world)
    a1 = console(world, "dealer_a1")
    post = {
        "action": "session",
        "dealer": "A1",
        "title": "新车品鉴会",
        "location": "展厅",
        "starts_at": f"{occ.day}T14:00",
        "ends_at": f"{occ.day}T16:00",
        "capacity": "30",
    }
    assert a1.post(f"/console/memberday/{occ.pk}/", post).status_code == 302
    s = Session.objects.get()
    assert s.dealer.code == "A1" and s.starts_at == occ.starts_at + dt.timedelta(hours=14)
    # A1 cannot create for A2 (not its dealer): the form names the field and nothing is written.
    r = a1.post(f"/console/memberday/{occ.pk}/", dict(post, dealer="A2"), follow=True)
    assert "dealer: choose one of your dealers" in r.content.decode()
    assert Session.objects.count() == 1
    a2_session = _session(world, occ, "A2")
    assert a1.get(f"/console/memberday/{occ.pk}/sessions/{a2_session.pk}/").status_code == 404
    assert "车主沙龙" not in a1.get(f"/console/memberday/{occ.pk}/").content.decode()
    region = console(world, "region_east").get(f"/console/memberday/{occ.pk}/").content.decode()
    assert "车主沙龙" in region and "新车品鉴会" in region
    assert "车主沙龙" not in console(world, "dealer_b1").get(f"/console/memberday/{occ.pk}/").content.decode()


def test_dealer_staff_mark_attendance_with_masked_names(world: World) -> None:
    (occ,) = schedule(world)
    s = _session(world, occ)
    member = join(world, "a1_owner")
    session_sign_up(actor=SYSTEM, session=s, member_id=member.pk, now=occ.starts_at)
    page = console(world, "butler_a1").get(f"/console/memberday/{occ.pk}/sessions/{s.pk}/").content.decode()
    assert "王*伟" in page and "王小伟" not in page
    r = console(world, "region_east").post(f"/console/memberday/{occ.pk}/sessions/{s.pk}/", {"member_id": member.pk})
    assert r.status_code == 403  # region managers see, dealer staff mark
    from unittest import mock

    with mock.patch("django.utils.timezone.now", new=lambda: s.starts_at + dt.timedelta(minutes=5)):
        r = console(world, "butler_a1").post(f"/console/memberday/{occ.pk}/sessions/{s.pk}/", {"member_id": member.pk})
    assert r.status_code == 302
    assert SessionSignup.objects.get().attended_at is not None
    assert PointsAccount.objects.get(member=member).balance == 50


def test_live_dashboard_renders_figures_and_refreshes_by_htmx(world: World) -> None:
    occ = today_occurrence(world)
    for person in ("a1_owner", "a2_owner"):
        m = join(world, person)
        memberday_check_in(actor=SYSTEM, member_id=m.pk)
    client = console(world, "hq_operator")
    page = client.get(f"/console/memberday/{occ.pk}/live/").content.decode()
    assert 'hx-trigger="every 10s"' in page and "echarts.min.js" in page
    assert 'data-testid="checkins">2<' in page
    partial = client.get(f"/console/memberday/{occ.pk}/live/", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial and 'id="memberday-per-minute"' in partial
    dealer = console(world, "dealer_a1").get(f"/console/memberday/{occ.pk}/live/").content.decode()
    assert 'data-testid="checkins">1<' in dealer  # only A1's owner


def test_portal_page_check_in_and_sign_up(world: World) -> None:
    occ = today_occurrence(world)
    s = _session(world, occ, "A2", capacity=5, whole_day=True)
    Offer.objects.create(occurrence=occ, title="金卡专享", min_tier_rank=2)
    Offer.objects.create(occurrence=occ, title="全员洗车券", min_tier_rank=0)
    client, member = signed_in_client(world, "a2_owner")
    page = client.get("/m/memberday/").content.decode()
    assert "全员洗车券" in page and "金卡专享" not in page
    assert 'data-testid="check-in"' in page
    r = client.post("/m/memberday/check-in/", headers={"HX-Request": "true"})
    assert 'data-testid="checked-in"' in r.content.decode()
    assert 'data-testid="checkin-points-pending"' in r.content.decode()
    assert PointsAccount.objects.get(member=member).balance == 0
    memberday_award_pending()
    assert PointsAccount.objects.get(member=member).balance == occ.checkin_points
    assert 'data-testid="checkin-points-awarded"' in client.get("/m/memberday/").content.decode()
    r = client.post(f"/m/memberday/sessions/{s.pk}/sign-up/", headers={"HX-Request": "true"})
    assert 'data-testid="signed-up"' in r.content.decode()
    assert SessionSignup.objects.filter(member=member).count() == 1
    # Anonymous: to the sign-in page.
    assert Client().get("/m/memberday/").status_code == 302

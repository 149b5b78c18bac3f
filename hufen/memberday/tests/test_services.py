"""Member Day services: the schedule, check-in day boundaries (Asia/Shanghai), idempotency, tasks, offers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.models import AuditEvent, DomainEvent
from hufen.memberday.awards import memberday_award_pending
from hufen.memberday.checkin import RequestKey, memberday_check_in, memberday_task_complete
from hufen.memberday.models import CheckIn, Occurrence, Task, TaskCompletion
from hufen.memberday.selectors import member_day_view
from hufen.memberday.services import campaign_configure, memberday_schedule, occurrence_update, offer_create, task_set
from hufen.memberday.tests.helpers import BEFORE, DAY, NOON, join, local, member_actor, schedule
from hufen.membership.models import PointsAccount, PointsEntry
from hufen.membership.selectors import ledger_verify

pytestmark = pytest.mark.django_db


def balance(member_id: int) -> int:
    return PointsAccount.objects.get(member_id=member_id).balance


# --- schedule --------------------------------------------------------------------------------------


def test_schedule_puts_member_day_on_the_last_day_of_each_month_in_brand_time(world: World) -> None:
    occurrences = schedule(world, months=4)
    assert [o.day for o in occurrences] == [
        dt.date(2026, 11, 30),
        dt.date(2026, 12, 31),
        dt.date(2027, 1, 31),
        dt.date(2027, 2, 28),
    ]
    nov = occurrences[0]
    # 00:00 Shanghai is 16:00 UTC the day before; the window is exactly one local day.
    assert nov.starts_at == dt.datetime(2026, 11, 29, 16, 0, tzinfo=dt.UTC)
    assert nov.ends_at == dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)
    assert sorted(Task.objects.filter(occurrence=nov).values_list("kind", flat=True)) == ["attend", "post", "share"]


def test_schedule_is_idempotent(world: World) -> None:
    first = schedule(world, months=3)
    again = schedule(world, months=3)
    assert [o.pk for o in first] == [o.pk for o in again]
    assert Occurrence.objects.count() == 3
    assert Task.objects.count() == 9
    assert AuditEvent.objects.filter(action="memberday.schedule").count() == 3


def test_a_fixed_day_rule_and_a_bad_rule(world: World) -> None:
    campaign_configure(actor=SYSTEM, brand=world.brands["mass"], rule="day_of_month", day_of_month=18, checkin_points=5)
    (occ,) = schedule(world)
    assert occ.day == dt.date(2026, 11, 18) and occ.checkin_points == 5
    with pytest.raises(FieldError) as err:
        campaign_configure(
            actor=SYSTEM, brand=world.brands["mass"], rule="day_of_month", day_of_month=31, checkin_points=5
        )
    assert err.value.field == "day_of_month"


@pytest.mark.parametrize("name", ["dealer_a1", "region_east", "butler_a1", "api_dealer_a1"])
def test_only_hq_sets_member_day_up(world: World, name: str) -> None:
    with pytest.raises(PermissionDenied):
        memberday_schedule(actor=world.actor(name), brand=world.brands["mass"], now=BEFORE)
    (occ,) = schedule(world)
    with pytest.raises(PermissionDenied):
        occurrence_update(actor=world.actor(name), occurrence=occ, title="x", theme="", checkin_points=1)
    assert Occurrence.objects.count() == 1


def test_bad_setup_input_names_the_field_and_writes_nothing(world: World) -> None:
    (occ,) = schedule(world)
    with pytest.raises(FieldError) as err:
        task_set(actor=SYSTEM, occurrence=occ, kind="dance", title="跳舞", points=5)
    assert err.value.field == "kind"
    with pytest.raises(FieldError) as err:
        occurrence_update(actor=SYSTEM, occurrence=occ, title="", theme="", checkin_points=5)
    assert err.value.field == "title"
    with pytest.raises(FieldError) as err:
        offer_create(actor=SYSTEM, occurrence=occ, title="金卡礼", min_tier_rank=-1)
    assert err.value.field == "min_tier_rank"
    occ.refresh_from_db()
    assert occ.title == "11月会员日"


# --- check-in: the day in Asia/Shanghai ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "ok"),
    [
        (local(2026, 11, 29, 23, 59), False),  # the evening before
        (local(2026, 11, 30, 0, 1), True),  # just after midnight Shanghai (16:01 UTC the 29th)
        (local(2026, 11, 30, 23, 59), True),  # 23:59 on the 30th
        (local(2026, 12, 1, 0, 1), False),  # 00:01 on the 1st: still the 30th in UTC, but over
    ],
)
def test_check_in_only_on_the_member_day_in_brand_time(world: World, at: dt.datetime, ok: bool) -> None:
    member = join(world)
    schedule(world)
    if ok:
        result = memberday_check_in(actor=member_actor(member), member_id=member.pk, now=at)
        assert result.created and result.checkin.occurrence.day == DAY
        assert result.checkin.points_status == "pending" and balance(member.pk) == 0
        memberday_award_pending()
        assert balance(member.pk) == 10
        assert PointsEntry.objects.get().created_at == at  # earned at the check-in, paid a moment later
    else:
        with pytest.raises(FieldError) as err:
            memberday_check_in(actor=member_actor(member), member_id=member.pk, now=at)
        assert err.value.field == "day"
        assert "is not a Member Day" in err.value.reason
        assert CheckIn.objects.count() == 0 and balance(member.pk) == 0


def test_not_on_the_day_names_the_next_one(world: World) -> None:
    member = join(world)
    schedule(world, months=2)
    with pytest.raises(FieldError) as err:
        memberday_check_in(actor=member_actor(member), member_id=member.pk, now=local(2026, 12, 5, 10, 0))
    assert "2026-12-05 (Asia/Shanghai)" in err.value.reason and "next one is 2026-12-31" in err.value.reason


def test_double_check_in_awards_once_and_returns_the_first(world: World) -> None:
    member = join(world)
    schedule(world)
    first = memberday_check_in(actor=member_actor(member), member_id=member.pk, now=NOON)
    second = memberday_check_in(actor=member_actor(member), member_id=member.pk, now=NOON + dt.timedelta(minutes=3))
    assert first.created and not second.created
    assert first.checkin.pk == second.checkin.pk
    assert memberday_award_pending().checkins == 1
    assert memberday_award_pending().checkins == 0
    assert balance(member.pk) == 10
    assert PointsEntry.objects.filter(reason="check_in").count() == 1
    assert DomainEvent.objects.filter(name="memberday_checked_in").count() == 1
    assert AuditEvent.objects.filter(action="memberday.check_in").count() == 1
    assert ledger_verify() == []


def test_an_occurrence_or_dealer_with_check_ins_cannot_be_deleted(world: World) -> None:
    # The check-in keeps no database foreign key to these hot rows; Django's PROTECT still holds.
    from django.db.models import ProtectedError

    member = join(world, "a2_owner")
    schedule(world)
    checkin = memberday_check_in(actor=member_actor(member), member_id=member.pk, now=NOON).checkin
    assert checkin.dealer_id == world.dealers["A2"].pk
    for parent in (Occurrence.objects.get(pk=checkin.occurrence_id), world.dealers["A2"]):
        with pytest.raises(ProtectedError) as refused:
            parent.delete()
        assert checkin in refused.value.protected_objects
    assert CheckIn.objects.filter(pk=checkin.pk).exists()


def test_check_in_publishes_the_event_with_the_home_dealer(world: World) -> None:
    member = join(world, "a2_owner")
    schedule(world)
    result = memberday_check_in(actor=member_actor(member), member_id=member.pk, now=NOON, channel="h5")
    assert result.checkin.dealer_id == world.dealers["A2"].pk
    event = DomainEvent.objects.get(name="memberday_checked_in")
    assert event.person_id == world.persons["a2_owner"].pk
    assert event.dealer_id == world.dealers["A2"].pk
    assert event.channel == "h5"
    assert event.properties["points"] == 10 and event.properties["day"] == "2026-11-30"


def test_a_member_checks_in_only_itself_and_staff_only_in_scope(world: World) -> None:
    mine = join(world, "a2_owner")
    other = join(world, "a1_owner")
    schedule(world)
    with pytest.raises(PermissionDenied):
        memberday_check_in(actor=member_actor(mine), member_id=other.pk, now=NOON)
    with pytest.raises(NotFound):  # A2's owner is outside dealer A1's data scope
        memberday_check_in(actor=world.actor("api_dealer_a1"), member_id=mine.pk, now=NOON)
    with pytest.raises(PermissionDenied):  # no points.adjust
        memberday_check_in(actor=world.actor("dealer_a1"), member_id=other.pk, now=NOON)
    assert memberday_check_in(actor=world.actor("api_dealer_a1"), member_id=other.pk, now=NOON).created
    assert CheckIn.objects.count() == 1


def test_bad_channel_and_unknown_member(world: World) -> None:
    member = join(world)
    schedule(world)
    with pytest.raises(FieldError) as err:
        memberday_check_in(actor=SYSTEM, member_id=member.pk, channel="fax", now=NOON)
    assert err.value.field == "channel"
    with pytest.raises(NotFound):
        memberday_check_in(actor=SYSTEM, member_id=999_999, now=NOON)


def test_check_in_query_budget(world: World) -> None:
    """The hot path's whole cost in statements: one read (member, brand, home dealer, today's Member
    Day, the member's check-in of today, the Idempotency-Key's earlier answer), the check-in row,
    its audit row, its event and the key's record. The points are paid later, in a batch."""
    member = join(world)
    schedule(world)
    actor = member_actor(member)
    key = RequestKey(scope="member:test", key="tap-1", digest="d1")
    with CaptureQueriesContext(connection) as ctx:
        memberday_check_in(actor=actor, member_id=member.pk, now=NOON, request_key=key)
    statements = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    if connection.vendor == "postgresql":
        # One prepared statement (hotwrite.py) does all of it, and answers the repeat and the retry.
        assert len(statements) == 1 and statements[0].startswith("WITH i AS ("), statements
        assert "memberday_checked_in" in statements[0] and "common_idempotencyrecord" in statements[0]
        for again_key in (RequestKey("member:test", "t2", "d2"), key, None):
            with CaptureQueriesContext(connection) as again:
                result = memberday_check_in(actor=actor, member_id=member.pk, now=NOON, request_key=again_key)
            assert not result.created or again_key is key
            sent = [q for q in again.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
            assert len(sent) == 1, sent
        return
    # 1 read + check-in insert + audit + event + the key's record = 5 (was 16 with the award inline).
    assert len(statements) <= 5, "\n".join(statements)
    assert not [q for q in statements if "membership_points" in q], "no ledger work on the hot path"
    ours = [q for q in statements if 'FROM "memberday_' in q or q.startswith('INSERT INTO "memberday_')]
    assert len(ours) == 2, ours  # our tables: one read (today's Member Day as subqueries), one insert
    # A repeat tap (another key) is answered by the one read, plus remembering its key.
    with CaptureQueriesContext(connection) as again:
        memberday_check_in(
            actor=actor, member_id=member.pk, now=NOON, request_key=RequestKey("member:test", "t2", "d2")
        )
    assert len([q for q in again.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]) == 2
    # A retry with the same key, and a repeat tap without a key: the one read alone.
    with CaptureQueriesContext(connection) as retry:
        assert memberday_check_in(actor=actor, member_id=member.pk, now=NOON, request_key=key).replayed
    assert len(retry.captured_queries) <= 3  # the read, inside the service's own savepoint
    with CaptureQueriesContext(connection) as bare:
        memberday_check_in(actor=actor, member_id=member.pk, now=NOON)
    assert len([q for q in bare.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]) == 1


# --- tasks and offers ---------------------------------------------------------------------------------


def test_task_completion_is_idempotent_and_awards_its_points(world: World) -> None:
    member = join(world)
    schedule(world)
    a = memberday_task_complete(actor=member_actor(member), member_id=member.pk, kind="share", now=NOON)
    b = memberday_task_complete(actor=member_actor(member), member_id=member.pk, kind="share", now=NOON)
    assert a.created and not b.created and a.completion.pk == b.completion.pk
    assert balance(member.pk) == 10
    assert PointsEntry.objects.get().reason == "memberday_task"
    with pytest.raises(FieldError) as err:
        memberday_task_complete(actor=member_actor(member), member_id=member.pk, kind="dance", now=NOON)
    assert err.value.field == "kind"
    with pytest.raises(FieldError):
        memberday_task_complete(actor=member_actor(member), member_id=member.pk, kind="post", now=BEFORE)
    assert TaskCompletion.objects.count() == 1


def test_offers_are_shown_to_tiers_at_or_above_their_rank(world: World) -> None:
    member = join(world)
    (occ,) = schedule(world)
    offer_create(actor=SYSTEM, occurrence=occ, title="全员：洗车券", min_tier_rank=0)
    offer_create(actor=SYSTEM, occurrence=occ, title="金卡：免费保养", min_tier_rank=2, benefit_code="free-service")
    view = member_day_view(member=member, now=NOON)
    assert [o.title for o in view.offers] == ["全员：洗车券"]
    from hufen.membership.ledger import points_award

    points_award(actor=SYSTEM, member=member, amount=20_000, reason="goodwill", idempotency_key="gold", now=BEFORE)
    member.refresh_from_db()
    assert member.tier.code == "gold"
    view = member_day_view(member=member, now=NOON)
    assert [o.title for o in view.offers] == ["全员：洗车券", "金卡：免费保养"]


def test_member_day_view_before_the_day_counts_down(world: World) -> None:
    member = join(world)
    schedule(world)
    view = member_day_view(member=member, now=local(2026, 11, 29, 23, 0))
    assert view.occurrence is not None and not view.is_today
    assert view.seconds_to_start == 3600
    assert [t.kind for t in view.tasks] == ["check_in", "post", "share", "attend"]
    memberday_check_in(actor=SYSTEM, member_id=member.pk, now=NOON)
    view = member_day_view(member=member, now=NOON)
    assert view.is_today and view.checked_in and view.tasks[0].done


def test_filled_minutes_keeps_quiet_minutes_as_zero() -> None:
    from hufen.memberday.dashboard import filled_minutes

    assert filled_minutes([("09:58", 2), ("10:01", 5)], "10:02") == [
        ("09:58", 2),
        ("09:59", 0),
        ("10:00", 0),
        ("10:01", 5),
        ("10:02", 0),
    ]
    assert filled_minutes([], "10:00") == []


def test_online_now_counts_distinct_members_in_the_last_five_minutes() -> None:
    from hufen.memberday.live import online_now, presence_touch

    t0 = dt.datetime(2026, 11, 30, 4, 0, tzinfo=dt.UTC)
    presence_touch(1, now=t0)
    presence_touch(1, now=t0 + dt.timedelta(seconds=30))  # the same member again: still one
    presence_touch(2, now=t0 + dt.timedelta(minutes=2))
    assert online_now(now=t0 + dt.timedelta(minutes=2)) == 2
    assert online_now(now=t0 + dt.timedelta(minutes=6)) == 1  # member 1's minute has left the window


def test_a_check_in_marks_the_member_online_and_counts_once(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    """Presence and the shown counter in one live update after commit (one Redis call on Redis): a
    new check-in counts, the repeat tap and the retry mark the member online and count nothing."""
    from django.core.cache import cache

    from hufen.memberday.live import checkins_key, checkins_live, online_now

    member, other = join(world, "a1_owner"), join(world, "a1_other")
    (occ,) = schedule(world)
    cache.delete_many([checkins_key(occ.pk), f"memberday:seen:{member.pk}", f"memberday:seen:{other.pk}"])
    checkins_live(occ.pk, count_from_db=0)  # the dashboard shows the day: the counter exists
    key = RequestKey(scope="member:test", key="tap-1", digest="d1")
    online_before = online_now()
    with django_capture_on_commit_callbacks(execute=True):
        assert memberday_check_in(actor=member_actor(member), member_id=member.pk, now=NOON, request_key=key).created
        memberday_check_in(actor=member_actor(member), member_id=member.pk, now=NOON, request_key=key)
        memberday_check_in(actor=member_actor(member), member_id=member.pk, now=NOON)
    assert checkins_live(occ.pk) == 1
    assert online_now() == online_before + 1
    with django_capture_on_commit_callbacks(execute=True):
        memberday_check_in(actor=member_actor(other), member_id=other.pk, now=NOON)
    assert checkins_live(occ.pk) == 2 and online_now() == online_before + 2


def test_a_broken_cache_never_fails_a_check_in(
    world: World, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The cache down or misconfigured (here: a backend whose client library is missing, as a
    REDIS_URL without the redis package would be): the check-in commits and answers anyway."""
    from hufen.memberday.live import online_now, presence_touch

    member = join(world)
    schedule(world)
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache", "LOCATION": "127.0.0.1:1"}
    }
    with django_capture_on_commit_callbacks(execute=True) as hooks:
        result = memberday_check_in(actor=member_actor(member), member_id=member.pk, now=NOON)
    assert len(hooks) == 1  # the live counter's hook ran, failed, and was logged
    assert result.created and result.checkin.points_status == "pending"
    memberday_award_pending()
    assert balance(member.pk) == 10
    presence_touch(member.pk)
    assert online_now() == 0


def test_a_repeat_tap_after_the_points_changed_awards_nothing(world: World) -> None:
    member = join(world)
    (occ,) = schedule(world)
    occurrence_update(actor=SYSTEM, occurrence=occ, title=occ.title, theme="", checkin_points=0)
    first = memberday_check_in(actor=member_actor(member), member_id=member.pk, now=NOON)
    assert first.created and first.checkin.points == 0
    occurrence_update(actor=SYSTEM, occurrence=occ, title=occ.title, theme="", checkin_points=10)
    again = memberday_check_in(actor=member_actor(member), member_id=member.pk, now=NOON)
    assert not again.created and again.checkin.pk == first.checkin.pk
    assert again.checkin.points_status == "none"
    assert memberday_award_pending().checkins == 0
    assert balance(member.pk) == 0 and PointsEntry.objects.count() == 0
    assert ledger_verify() == []


def test_the_schedule_command_is_idempotent_and_names_bad_arguments(world: World) -> None:
    import io
    import json

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    call_command("memberday", "schedule", "--months", "2", "--json", stdout=out)
    days = json.loads(out.getvalue())
    assert set(days) == {"mass", "premium"} and len(days["mass"]) == 2
    call_command("memberday", "schedule", "--months", "2", "--json", stdout=io.StringIO())
    assert Occurrence.objects.count() == 4
    with pytest.raises(CommandError, match="--months"):
        call_command("memberday", "schedule", "--months", "99")
    with pytest.raises(CommandError, match="--brand"):
        call_command("memberday", "schedule", "--brand", "nope")


def test_the_daily_job_is_registered_and_schedules_every_active_brand(world: World) -> None:
    from hufen.common import scheduler
    from hufen.memberday.tasks import memberday_schedule_all, schedule_task

    assert {j.name: j.action for j in scheduler.jobs()}["memberday.schedule"] is schedule_task
    campaign_configure(
        actor=SYSTEM, brand=world.brands["premium"], rule="last_day", day_of_month=None, checkin_points=5, active=False
    )
    first = memberday_schedule_all()
    assert set(first) == {"mass"} and len(first["mass"]) == 3
    assert memberday_schedule_all() == first  # safe to run twice
    assert Occurrence.objects.count() == 3


@pytest.mark.parametrize("actor_name", ["api_dealer_a1", "api_brand_premium", "member"])
def test_the_compiled_hot_read_equals_the_orm_read(world: World, actor_name: str) -> None:
    """The check-in's read runs from SQL compiled once per actor: same answer as the ORM, markers replaced."""
    from hufen.memberday import hotread
    from hufen.memberday.checkin import checkin_queryset

    member = join(world, "a1_owner")
    schedule(world)
    actor = member_actor(member) if actor_name == "member" else world.actor(actor_name)
    memberday_check_in(actor=actor, member_id=member.pk, now=NOON, request_key=RequestKey("s", "k", "d"))
    for key in (("s", "k"), None, ("s", "other")):
        orm = checkin_queryset(actor, member.pk, NOON, key).first()
        fast = hotread.compiled_read(actor, member.pk, NOON, key, lambda m, n, k: checkin_queryset(actor, m, n, k))
        assert orm is not None and fast is not None
        for name in [*hotread.FIELDS[:4], *checkin_queryset(actor, member.pk, NOON, key).query.annotations]:
            assert getattr(fast, name) == getattr(orm, name), name
        assert fast.program.brand.code == orm.program.brand.code
        assert (
            hotread.compiled_read(actor, 999_999, NOON, key, lambda m, n, k: checkin_queryset(actor, m, n, k)) is None
        )
    assert all(v is not None for k, v in hotread._KEPT.items() if k[2] == actor), "compiled, not falling back"

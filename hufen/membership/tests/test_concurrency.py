"""The ledger under concurrent writers, on PostgreSQL (SQLite serialises every writer anyway)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from django.conf import settings

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.errors import FieldError
from hufen.membership.benefits import benefit_redeem
from hufen.membership.ledger import points_award
from hufen.membership.models import BenefitItem, Member, PointsAccount, PointsEntry, Redemption
from hufen.membership.tests.helpers import assert_ledger_consistent, item, join
from hufen.testing.concurrency import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


# The shared server allows 100 connections (other suites use it too), so at most WORKERS
# connections run the jobs at once.
WORKERS = 40


def test_200_concurrent_redemptions_against_a_balance_for_10(pg_world: World) -> None:
    member = join(pg_world)
    points_award(actor=SYSTEM, member=member, amount=1_000, reason="goodwill", idempotency_key="seed")
    it = item(member, price=100, stock=150)
    jobs: list[Callable[[], object]] = [
        partial(benefit_redeem, actor=SYSTEM, member=member, item=it, quantity=1, idempotency_key=f"r{i}")
        for i in range(200)
    ]
    results = race(jobs, workers=WORKERS)
    ok = [r for r in results if isinstance(r, Redemption)]
    errors = [r for r in results if not isinstance(r, Redemption)]
    assert len(ok) == 10
    odd = [e for e in errors if not (isinstance(e, FieldError) and e.field == "amount")]
    assert odd == [], odd[:3]
    assert PointsAccount.objects.get(member=member).balance == 0
    assert BenefitItem.objects.get(pk=it.pk).stock == 140
    assert_ledger_consistent()


def test_per_member_limit_holds_under_concurrency(pg_world: World) -> None:
    member = join(pg_world)
    points_award(actor=SYSTEM, member=member, amount=10_000, reason="goodwill", idempotency_key="seed")
    it = item(member, price=10, stock=100, per_member_limit=3)
    results = race(
        [
            partial(benefit_redeem, actor=SYSTEM, member=member, item=it, quantity=1, idempotency_key=f"r{i}")
            for i in range(30)
        ],
        workers=WORKERS,
    )
    assert len([r for r in results if isinstance(r, Redemption)]) == 3
    assert BenefitItem.objects.get(pk=it.pk).stock == 97
    assert_ledger_consistent()


def test_same_award_sent_concurrently_counts_once(pg_world: World) -> None:
    member = join(pg_world)
    results = race(
        [
            partial(points_award, actor=SYSTEM, member=member, amount=50, reason="check_in", idempotency_key="day-1")
            for _ in range(20)
        ],
        workers=WORKERS,
    )
    assert all(isinstance(r, PointsEntry) for r in results), results
    assert len({r.pk for r in results if isinstance(r, PointsEntry)}) == 1
    assert PointsAccount.objects.get(member=member).balance == 50
    assert_ledger_consistent()


def test_concurrent_joins_make_one_member(pg_world: World) -> None:
    person, brand = pg_world.persons["a2_owner"], pg_world.brands["mass"]
    from hufen.membership.services import member_join

    results = race(
        [partial(member_join, actor=SYSTEM, person=person, brand=brand, channel="api") for _ in range(10)],
        workers=WORKERS,
    )
    assert len({r.pk for r in results if isinstance(r, Member)}) == 1, results
    assert Member.objects.count() == 1


def test_crash_inside_a_redemption_leaves_nothing_reserved(pg_world: World, tmp_path: Path) -> None:
    """A process killed after the points spend, before commit: the database keeps nothing of it."""
    member = join(pg_world)
    points_award(actor=SYSTEM, member=member, amount=500, reason="goodwill", idempotency_key="seed")
    it = item(member, price=100, stock=5)
    marker = tmp_path / "spent"
    script = textwrap.dedent(
        f"""
        import os, signal, django
        django.setup()
        from hufen.common.actors import SYSTEM
        from hufen.membership import benefits
        from hufen.membership.models import BenefitItem, Member

        real_spend = benefits.points_spend
        def spend_then_die(**kw):
            entry = real_spend(**kw)
            open({str(marker)!r}, "w").write(str(entry.pk))
            os.kill(os.getpid(), signal.SIGKILL)
        benefits.points_spend = spend_then_die
        benefits.benefit_redeem(actor=SYSTEM, member=Member.objects.get(pk={member.pk}),
                                item=BenefitItem.objects.get(pk={it.pk}), quantity=2, idempotency_key="crash")
        """
    )
    db = settings.DATABASES["default"]
    auth = f"{db['USER']}:{db['PASSWORD']}" if db.get("PASSWORD") else db["USER"]
    url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "hufen.settings"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=Path(settings.BASE_DIR), timeout=60)
    assert proc.returncode == -9 and marker.exists()  # it died after spending, inside the transaction
    assert PointsAccount.objects.get(member=member).balance == 500
    assert BenefitItem.objects.get(pk=it.pk).stock == 5
    assert not Redemption.objects.exists()
    assert PointsEntry.objects.filter(kind="spend").count() == 0
    assert_ledger_consistent()

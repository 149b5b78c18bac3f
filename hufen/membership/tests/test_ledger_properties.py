"""Random sequences of award/spend/reverse/expire: the ledger always reconciles."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.common.errors import FieldError
from hufen.membership.ledger import points_award, points_expire_due, points_reverse, points_spend
from hufen.membership.models import PointsAccount, PointsEntry
from hufen.membership.selectors import ledger_verify
from hufen.membership.tests.helpers import T0, join

op = st.one_of(
    st.tuples(st.just("award"), st.integers(1, 5_000), st.integers(0, 200)),
    st.tuples(st.just("spend"), st.integers(1, 5_000), st.integers(0, 200)),
    st.tuples(st.just("reverse"), st.integers(0, 50), st.integers(0, 5)),
    st.tuples(st.just("expire"), st.integers(0, 0), st.integers(0, 400)),
)


class _Rollback(Exception):
    pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, max_size=25))
def test_any_sequence_reconciles(world: World, ops: list[tuple[str, int, int]]) -> None:
    try:
        with transaction.atomic():
            _run(world, ops)
            raise _Rollback
    except _Rollback:
        pass


def _run(world: World, ops: list[tuple[str, int, int]]) -> None:
    member = join(world)
    now = T0
    for i, (kind, value, days) in enumerate(ops):
        now += dt.timedelta(days=days)
        try:
            with transaction.atomic():
                if kind == "award":
                    points_award(
                        actor=SYSTEM, member=member, amount=value, reason="goodwill", idempotency_key=f"{i}", now=now
                    )
                elif kind == "spend":
                    points_spend(
                        actor=SYSTEM, member=member, amount=value, reason="merchant", idempotency_key=f"{i}", now=now
                    )
                elif kind == "reverse":
                    entries = list(PointsEntry.objects.filter(account__member=member).order_by("id"))
                    if entries:
                        points_reverse(actor=SYSTEM, entry=entries[value % len(entries)], now=now)
                else:
                    points_expire_due(actor=SYSTEM, as_of=now)
        except FieldError:
            pass  # refused operations (overspend, double reversal ...) must leave no trace
        account = PointsAccount.objects.get(member=member)
        total = PointsEntry.objects.filter(account=account).aggregate(s=Sum("amount"))["s"] or 0
        assert account.balance == total >= 0
        assert ledger_verify() == []

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from conftest import World
from hufen.common.actors import SYSTEM
from hufen.membership.ledger import points_award
from hufen.membership.models import Member, PointsAccount
from hufen.membership.tests.helpers import T0, join


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _csv(tmp_path: Path, text: str) -> str:
    path = tmp_path / "members.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_import_rejects_whole_file_with_bad_rows(world: World, tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        f"brand,person_id,phone\nmass,{world.persons['a1_owner'].pk},\nmass,,13800000000\nnobrand,1,\nmass,,12345\n",
    )
    out = io.StringIO()
    err = io.StringIO()
    with pytest.raises(CommandError, match="3 bad rows; nothing imported"):
        call_command("members", "import", path, stdout=out, stderr=err)
    assert "row 3, column phone: matches no person" in err.getvalue()
    assert "row 4, column brand: unknown brand 'nobrand'" in err.getvalue()
    assert "row 5, column phone" in err.getvalue()
    assert Member.objects.count() == 0


def test_import_skip_bad_rows_applies_the_rest_and_is_idempotent(world: World, tmp_path: Path) -> None:
    path = _csv(tmp_path, "brand,person_id,phone\nmass,,+8613812345678\npremium,abc,\n")
    result = json.loads(_run("members", "import", path, "--skip-bad-rows", "--json"))
    assert (result["joined"], result["skipped"]) == (1, 1)
    assert result["errors"] == [{"row": 3, "column": "person_id", "reason": "must be a whole number"}]
    again = json.loads(_run("members", "import", path, "--skip-bad-rows", "--json"))
    assert (again["joined"], again["already_members"]) == (0, 1)
    assert Member.objects.get().person == world.persons["a1_owner"]


def test_points_expire_and_verify_commands(world: World) -> None:
    member = join(world)
    points_award(actor=SYSTEM, member=member, amount=100, reason="goodwill", idempotency_key="a", now=T0)
    assert "ledger consistent" in _run("points", "verify")
    assert "expired 0 points" in _run("points", "expire", "--as-of", "2027-12-31")
    assert "expired 100 points in 1 accounts" in _run("points", "expire", "--as-of", "2028-01-01")
    assert "expired 0 points" in _run("points", "expire", "--as-of", "2028-01-01")
    assert "ledger consistent" in _run("points", "verify")
    PointsAccount.objects.filter(member=member).update(balance=5)
    out = io.StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("points", "verify", "--json", stdout=out)
    assert exc.value.code == 1
    body = json.loads(out.getvalue())
    assert (
        not body["ok"]
        and {
            "check": "entries_sum_to_balance",
            "account_id": member.account.pk,
            "row": f"account:{member.account.pk}",
            "expected": 5,
            "found": 0,
        }
        in body["discrepancies"]
    )


def test_review_tiers_command(world: World) -> None:
    member = join(world)
    points_award(actor=SYSTEM, member=member, amount=6_000, reason="purchase", idempotency_key="a", now=T0)
    later = (T0 + dt.timedelta(days=400)).date().isoformat()
    assert "1 downgraded" in _run("members", "review-tiers", "--as-of", later)
    assert "0 downgraded" in _run("members", "review-tiers", "--as-of", later)
    with pytest.raises(CommandError, match="--as-of"):
        _run("members", "review-tiers", "--as-of", "2026-13-01")

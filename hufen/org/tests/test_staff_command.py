from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from conftest import World
from hufen.org.models import Staff

pytestmark = pytest.mark.django_db


def test_create_list_and_deactivate_staff(world: World, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("NEW_PASSWORD", "secret-pass-1")
    call_command(
        "staff",
        "create",
        "--username",
        "butler_new",
        "--name",
        "郑管家",
        "--role",
        "butler",
        "--dealer",
        "A1",
        "--password-env",
        "NEW_PASSWORD",
    )
    staff = Staff.objects.get(user__username="butler_new")
    assert staff.dealer == world.dealers["A1"] and staff.user.check_password("secret-pass-1")
    call_command("staff", "list", "--dealer", "A1", "--json")
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "butler_new" in {r["username"] for r in rows}
    call_command("staff", "deactivate", "butler_new")
    staff.refresh_from_db()
    assert not staff.is_active and not staff.user.is_active


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "butler"], "dealer"),
        (["--role", "butler", "--dealer", "NOPE"], "--dealer: no dealer with code 'NOPE'"),
        (["--role", "region_manager"], "region"),
        (["--role", "hq_admin", "--phone", "123"], "phone"),
    ],
)
def test_bad_staff_input_is_rejected_and_nothing_written(
    world: World, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.setenv("NEW_PASSWORD", "secret-pass-1")
    before = Staff.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command("staff", "create", "--username", "x1", "--name", "某人", "--password-env", "NEW_PASSWORD", *args)
    assert Staff.objects.count() == before

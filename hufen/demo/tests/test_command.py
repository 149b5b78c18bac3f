"""`hufen demo` on the command line: arguments, output, and bad input rejected before any write."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from hufen.cli import main
from hufen.common.pii import FieldError
from hufen.demo.generate import check_persons, check_seed
from hufen.demo.logins import CONSOLE_URL, demo_logins
from hufen.org.models import Brand
from hufen.people.models import Person

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("args", "argument", "reason"),
    [
        (["--persons", "-5"], "--persons", "at least 1"),
        (["--persons", "0"], "--persons", "at least 1"),
        (["--persons", "abc"], "--persons", "whole number"),
        (["--persons", "20000001"], "--persons", "at most 20,000,000"),
        (["--persons", "1.5"], "--persons", "whole number"),
        (["--seed", "x"], "--seed", "whole number"),
        (["--seed", "-1"], "--seed", "between 0 and"),
    ],
)
def test_bad_arguments_are_rejected_by_name_and_nothing_is_written(args: list[str], argument: str, reason: str) -> None:
    with pytest.raises(CommandError) as caught:
        call_command("demo", *args, "--no-progress", stdout=io.StringIO())
    assert f"argument {argument}:" in str(caught.value) and reason in str(caught.value)
    assert not Person.objects.exists() and not Brand.objects.exists()


def test_checks_name_the_field() -> None:
    with pytest.raises(FieldError) as caught:
        check_persons("many")
    assert caught.value.field == "persons"
    assert check_persons("1_000") == 1000 and check_seed("0") == 0


def test_json_output_has_counts_url_and_one_login_per_role() -> None:
    out = io.StringIO()
    call_command("demo", "--persons", "40", "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["persons"] == summary["rows"]["persons"] == 40
    assert summary["url"] == CONSOLE_URL
    assert [x["username"] for x in summary["logins"]] == [x.username for x in demo_logins()]
    assert len({x["role"] for x in summary["logins"]}) == 6


def test_text_output_prints_the_console_url_and_logins_then_says_the_dataset_exists() -> None:
    out = io.StringIO()
    call_command("demo", "--persons", "30", "--no-progress", stdout=out)
    text = out.getvalue()
    assert CONSOLE_URL in text and "hufen-demo-2026" in text
    assert all(login.username in text for login in demo_logins())
    again = io.StringIO()
    call_command("demo", "--persons", "30", "--no-progress", stdout=again)
    assert "already exists with 30 persons" in again.getvalue()


@pytest.mark.parametrize("value", ["abc", "-5", "0"])
def test_cli_exits_non_zero_on_a_bad_argument_and_writes_nothing(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["demo", "--persons", value])
    assert caught.value.code not in (0, None)
    assert "argument --persons:" in capsys.readouterr().err
    assert not Person.objects.exists() and not Brand.objects.exists()

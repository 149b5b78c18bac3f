"""The analytics API and CLI: same JSON, scoped by actor, bad input named."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from conftest import World
from hufen.analytics.lakegen import Event, write_events
from hufen.api.tests.helpers import Caller, error_of

DAY = dt.datetime(2026, 5, 10, 2, 0, tzinfo=dt.UTC)
PARAMS = {"steps": "lead_created,store_visited", "window": "7d", "from": "2026-05-01", "to": "2026-05-31"}
# Persons 1-3 start the funnel at dealers A1, A2, B1; 1 and 3 convert.
EXPECTED_STARTS = {
    "hq_admin": 3,
    "hq_operator": 3,
    "region_east": 2,
    "dealer_a1": 1,
    "dealer_b1": 1,
    "api_dealer_a1": 1,
    "api_brand_premium": 2,
}


@pytest.fixture
def lake(tmp_path: Path, world: World, settings: Any) -> Path:
    settings.LAKE_URL = str(tmp_path)
    d = {k: world.dealers[k].pk for k in ("A1", "A2", "B1")}
    events = []
    for pid, dealer in ((1, d["A1"]), (2, d["A2"]), (3, d["B1"])):
        events.append(Event("lead_created", DAY, pid, dealer, "app"))
        if pid != 2:
            events.append(Event("store_visited", DAY + dt.timedelta(days=1), pid, dealer))
    events.append(Event("member_joined", DAY - dt.timedelta(days=3), 1, d["A1"]))
    write_events(str(tmp_path), events)
    return tmp_path


@pytest.mark.parametrize("name", sorted(EXPECTED_STARTS))
def test_funnel_is_scoped_to_the_actor(lake: Path, caller: Callable[[str], Caller], name: str) -> None:
    response = caller(name).get("/analytics/funnel", PARAMS)
    assert response.status_code == 200, response.content
    steps = response.json()["steps"]
    assert steps[0]["count"] == EXPECTED_STARTS[name]


@pytest.mark.parametrize("name", ["butler_a1", "merchant"])
@pytest.mark.parametrize("path", ["/analytics/funnel", "/analytics/retention", "/analytics/active"])
def test_butlers_and_merchants_get_403(lake: Path, caller: Callable[[str], Caller], name: str, path: str) -> None:
    response = caller(name).get(path, PARAMS)
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"


def test_api_and_cli_give_the_same_json(lake: Path, caller: Callable[[str], Caller]) -> None:
    api = caller("hq_admin").get("/analytics/funnel", {**PARAMS, "by": "region"}).json()
    out = io.StringIO()
    call_command(
        "analytics",
        "funnel",
        "--steps",
        PARAMS["steps"],
        "--window",
        "7d",
        "--from",
        "2026-05-01",
        "--to",
        "2026-05-31",
        "--by",
        "region",
        "--json",
        stdout=out,
    )
    assert json.loads(out.getvalue()) == api
    assert [s["count"] for s in api["steps"]] == [3, 2]
    assert {b["value"]: b["steps"][1]["count"] for b in api["breakdown"]} == {"east": 1, "south": 1}


def test_retention_and_active_endpoints(lake: Path, caller: Callable[[str], Caller]) -> None:
    hq = caller("hq_admin")
    ret = hq.get(
        "/analytics/retention",
        {
            "start": "lead_created",
            "return": "store_visited",
            "period": "day",
            "periods": 3,
            "from": "2026-05-01",
            "to": "2026-05-31",
        },
    )
    assert ret.status_code == 200, ret.content
    assert ret.json()["cohorts"] == [
        {"cohort": "2026-05-10", "size": 3, "retained": [0, 2, 0], "rates": [0.0, 0.6667, 0.0]}
    ]
    act = hq.get("/analytics/active", {"from": "2026-05-01", "to": "2026-05-31", "engine": "clickhouse"}).json()
    assert act["member_days"] == [{"day": "2026-05-31", "members": 1, "active": 0, "share": 0.0}]
    assert next(d for d in act["days"] if d["day"] == "2026-05-10")["dau"] == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"window": "30x"}, "window"),
        ({"steps": "lead_created,Nope"}, "steps"),
        ({"from": "2026-06-01", "to": "2026-05-01"}, "from"),
        ({"engine": "oracle"}, "engine"),
        ({"by": "bad key!"}, "by"),
    ],
)
def test_bad_input_names_the_field(
    lake: Path, caller: Callable[[str], Caller], params: dict[str, str], field: str
) -> None:
    response = caller("hq_admin").get("/analytics/funnel", {**PARAMS, **params})
    assert response.status_code == 422
    assert error_of(response)["details"]["field"] == field


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["funnel", "--steps", "lead_created", "--window", "30x"], "--window"),
        (["funnel", "--steps", "Lead Created"], "--steps"),
        (["funnel", "--funnel", "nope"], "--funnel"),
        (["funnel", "--steps", "a", "--from", "2026-02-01", "--to", "2026-01-01"], "--from"),
        (["funnel", "--steps", "a", "--engine", "spark"], "--engine"),
        (["retention", "--period", "year"], "--period"),
    ],
)
def test_cli_bad_input_exits_2(lake: Path, argv: list[str], flag: str) -> None:
    with pytest.raises(CommandError) as exc:
        call_command("analytics", *argv)
    assert exc.value.returncode == 2
    assert str(exc.value).startswith(flag)


def test_cli_missing_lake_exits_2(tmp_path: Path, settings: Any, db: None) -> None:
    settings.LAKE_URL = str(tmp_path / "nothing")
    with pytest.raises(CommandError) as exc:
        call_command("analytics", "active")
    assert exc.value.returncode == 2
    assert "lake" in str(exc.value)

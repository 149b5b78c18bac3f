"""The column-wise import (tracking/bulk.py) against the row validator it must equal, row for row.

Messy files — every kind of bad value the contract knows, odd but valid spellings, duplicates, blank
and broken lines — are checked both ways: the verdict, the reason and the row number of every
rejected row, and every field of every accepted event, must be the same.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.utils import timezone

from conftest import World
from hufen.common.actors import SYSTEM, Actor, Scope
from hufen.identity.services import RecordInput, identity_link_one
from hufen.tracking.bulk import BulkChecker, dedupe_first
from hufen.tracking.catalogue import catalogue_load
from hufen.tracking.importer import read_chunks, read_rows
from hufen.tracking.models import EventType, RejectedEvent
from hufen.tracking.services import events_check
from hufen.tracking.tests.helpers import lake_rows
from hufen.tracking.tests.test_crash import HUFEN, ROOT, lake_counts, run
from hufen.tracking.validation import Event, Problem

pytestmark = pytest.mark.django_db
Outcome = tuple[list[tuple[int, str, str]], list[tuple[Any, ...]]]


def legacy(path: Path, fmt: str, actor: Actor, now: dt.datetime) -> Outcome:
    """What `hufen events import` did before the column-wise path: every row through validate_event."""
    rows = list(read_rows(path, fmt))
    raws = [r if not isinstance(r, Problem) else None for _, r in rows]
    checked = events_check(actor=actor, raw_events=raws, now=now)
    errors: list[tuple[int, str, str]] = []
    accepted: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    for (number, raw), ev in zip(rows, checked, strict=True):
        outcome = raw if isinstance(raw, Problem) else ev
        if isinstance(outcome, Problem):
            errors.append((number, outcome.field, outcome.reason))
        elif isinstance(outcome, Event) and outcome.event_id not in seen:
            seen.add(outcome.event_id)
            accepted.append(
                (
                    outcome.event_id,
                    outcome.event,
                    outcome.ts,
                    outcome.person_id,
                    outcome.anonymous_id,
                    outcome.dealer_id,
                    outcome.channel,
                    outcome.properties,
                )
            )
    return errors, accepted


def bulk(path: Path, fmt: str, actor: Actor, now: dt.datetime, chunk_rows: int = 97) -> Outcome:
    checker = BulkChecker(actor, catalogue_load(), now)
    errors: list[tuple[int, str, str]] = []
    clean = []
    try:
        for chunk in read_chunks(path, fmt, rows=chunk_rows):
            checked = checker.check(chunk)
            clean.append(checked.clean)
            errors += [(row, p.field, p.reason) for row, p, _ in checked.rejected]
    finally:
        checker.close()
    table, _ = dedupe_first(clean)
    names = ["event_id", "event", "ts", "person_id", "anonymous_id", "dealer_id", "channel", "properties"]
    accepted = [tuple(r[n] for n in names) for r in table.to_pylist()]
    return sorted(errors), accepted


def messy_events(rng: random.Random, world: World, count: int) -> list[dict[str, Any]]:
    persons = [p.pk for p in world.persons.values()]
    dealers = [d.pk for d in world.dealers.values()]
    phones = ["+8613812345678", "13912340001", "+86 150 1234 0002", "13000000000", "12345", "+8618612340003"]
    now = timezone.now()
    cst, nst = dt.timezone(dt.timedelta(hours=8)), dt.timezone(dt.timedelta(hours=-3, minutes=-30))
    ts_variants: list[Callable[[], Any]] = [
        lambda: (now - dt.timedelta(minutes=rng.randint(1, 90_000))).astimezone(cst).isoformat(),
        lambda: (now - dt.timedelta(seconds=rng.randint(1, 9_000_000))).strftime("%Y-%m-%dT%H:%M:%SZ"),
        lambda: (now - dt.timedelta(seconds=rng.randint(1, 900))).astimezone(nst).isoformat(sep=" "),
        lambda: (now - dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+08:00",
        lambda: (now + dt.timedelta(days=2)).isoformat(),  # too far in the future
        lambda: (now + dt.timedelta(hours=20)).isoformat(),  # future, but within a day
        lambda: "1999-12-31T23:00:00+00:00",
        lambda: "2026-02-30T10:00:00+08:00",
        lambda: (now - dt.timedelta(days=1)).replace(tzinfo=None).isoformat(),  # naive
        lambda: "昨天",
        lambda: 1_700_000_000,
        lambda: " " + (now - dt.timedelta(days=1)).isoformat(),
        lambda: (now - dt.timedelta(days=1)).strftime("%Y%m%dT%H%M%S+0800"),
    ]
    names = ["app_active", "page_viewed", "test_drive", "lead_created", "member_joined", "custom_thing", "", "店铺到访"]
    out: list[dict[str, Any]] = []
    for i in range(count):
        ev: dict[str, Any] = {}
        ev["event_id"] = rng.choice(
            [f"ev-{i}", f"ev-{i}", f"ev-{i}", f"ev-{rng.randint(0, i)}", "", "has space", "x" * 65, 42, "a:b.c_d-e"]
        )
        ev["event"] = rng.choice([*names[:5], *names[:5], *names[5:], 7])
        ev["ts"] = rng.choice(ts_variants)()
        ident = rng.random()
        if ident < 0.3:
            ev["person_id"] = rng.choice([*persons, *persons, 987654321, 0, -4, True, 1.5, "", str(persons[0])])
        elif ident < 0.45:
            ev["phone"] = rng.choice(phones)
        elif ident < 0.8:
            ev["anonymous_id"] = rng.choice(["dev-1", "dev-2", "dev-3", "设备-4", "", "z" * 129, 9])
        elif ident < 0.9:  # ONE ID identifiers: known, unknown, blank, of the wrong type, too long
            kind = rng.choice(["unionid", "openid", "email", "app_user_id"])
            ev[kind] = rng.choice([*KNOWN_IDS[kind], "nobody-1", " ", "", 5, "q" * 129, "Bad Email@"])
            if rng.random() < 0.3:  # a second identifier: the same person's, or another's
                ev["app_user_id"] = rng.choice(KNOWN_IDS["app_user_id"])
        if rng.random() < 0.2:  # a device and a person together: links the device for later rows
            ev["anonymous_id"] = rng.choice(["dev-1", "dev-2", "dev-5"])
            ev.setdefault("person_id", rng.choice(persons))
        if rng.random() < 0.3:
            ev["dealer_id"] = rng.choice([*dealers, 424242, "", str(dealers[0])])
        if rng.random() < 0.5:
            ev["channel"] = rng.choice(["app", "wechat-mini", "APP", "", "a" * 41, "store.front"])
        p = rng.random()
        if p < 0.5:
            props = rng.choice(
                [
                    {"page": "/home", "source": "抖音", "model_code": "XH-7"},
                    {"page": "", "order_no": "SO-1", "source": "门店"},
                    {"model_code": None, "page": "/p?q=1&r=\u4e2d", "n": 1.5, "big": 12345678901234567890},
                    {"nested": {"a": [1, 2, {"b": None}]}, "page": "/x", "source": "s", "model_code": "M"},
                    {},
                ]
            )
            ev["properties"] = props if rng.random() < 0.7 else json.dumps(props, ensure_ascii=rng.random() < 0.5)
        elif p < 0.6:
            ev["properties"] = rng.choice(["", "{not json", "[1, 2]", ' {"page": "/padded"} ', "{}", 5, [1]])
        if rng.random() < 0.03:
            ev["colour"] = "红"
        if rng.random() < 0.55:  # mostly clean rows, in the spellings the column checks take
            ev = {k: v for k, v in ev.items() if k in ("person_id", "phone", "anonymous_id", "dealer_id")}
            ev["event_id"] = f"ev-{i}" if rng.random() < 0.95 else f"ev-{rng.randint(0, i)}"
            ev["event"] = rng.choice(names[:5])
            ev["ts"] = rng.choice([ts_variants[0], ts_variants[1], ts_variants[2], ts_variants[3]])()
            ev["properties"] = {"page": "/home", "source": "抖音", "model_code": "XH-7", "n": rng.randint(0, 9)}
            if rng.random() < 0.1:  # ... but for a property problem
                ev["properties"] = rng.choice(["{not json", [1], {"page": ""}, {"x": "y" * 9000}, " {} "])
            if not any(k in ev for k in ("person_id", "phone", "anonymous_id")):
                ev["anonymous_id"] = f"dev-{rng.randint(1, 5)}"
            if rng.random() < 0.5:
                ev["channel"] = "app"
        out.append(ev)
    return out


# Identifiers ONE ID holds in these tests (`with_identifiers`): two persons, and one value held by both.
KNOWN_IDS = {
    "unionid": ["oU-one", "oU-both"],
    "openid": ["oO-one"],
    "email": ["one@example.com", "ONE@example.com "],
    "app_user_id": ["APP-one", "APP-two"],
}


def with_identifiers() -> None:
    """Two persons ONE ID knows by unionid, openid, email and app user id (through its own service)."""
    fields = [
        {"wechat_unionid": "oU-one", "wechat_openid": "oO-one", "email": "one@example.com", "app_user_id": "APP-one"},
        {"app_user_id": "APP-two"},
    ]
    for key, extra in enumerate(fields):
        result = identity_link_one(actor=SYSTEM, record=RecordInput("app", f"k{key}", {"name": f"测试{key}", **extra}))
        assert result.person_id is not None
    for other in ("b1", "b2"):  # one unionid on two more records (ONE ID decides if they are one person)
        identity_link_one(
            actor=SYSTEM, record=RecordInput("wechat", other, {"name": f"王{other}", "wechat_unionid": "oU-both"})
        )


def _csv_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


def write_file(path: Path, fmt: str, events: list[dict[str, Any]], rng: random.Random) -> Path:
    fields = ["event_id", "event", "ts", "person_id", "phone", "anonymous_id", "dealer_id", "channel", "properties"]
    fields += ["unionid", "openid", "email", "app_user_id"]
    if fmt == "jsonl":
        lines = [json.dumps(e, ensure_ascii=False) for e in events]
        extras = ["", "   ", "{not json", "[1, 2]", '"text"', '{"event_id": "dup-key", "event": "app_active", '
                  '"event": "page_viewed", "ts": "2026-01-01T00:00:00Z", "anonymous_id": "d"}']  # fmt: skip
        for extra in extras:
            lines.insert(rng.randrange(len(lines)), extra)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif fmt == "csv":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow([*fields, "colour"])
            for e in events:
                writer.writerow([_csv_value(e[k]) if k in e and e[k] is not None else "" for k in [*fields, "colour"]])
            writer.writerow(["short", "row"])
    else:  # Parquet: strings where the values are mixed, typed where they are not
        columns: dict[str, pa.Array] = {}
        for k in [*fields, "colour"]:
            values = [e.get(k) for e in events]
            if k in ("person_id", "dealer_id") and fmt == "parquet-typed":
                ints = [v if isinstance(v, int) and not isinstance(v, bool) else None for v in values]
                columns[k] = pa.array(ints, pa.int64())
            else:
                columns[k] = pa.array([None if v is None else _csv_value(v) for v in values], pa.string())
        pq.write_table(pa.table(columns), path)
    return path


def _actors(world: World) -> dict[str, Actor]:
    dealer = next(world.actor(n) for n in world.staff if world.actor(n).scope == Scope.DEALER)
    return {"system": SYSTEM, "dealer": dealer}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "parquet-typed"])
@pytest.mark.parametrize("who", ["system", "dealer"])
def test_column_wise_import_equals_the_row_validator(tmp_path: Path, world: World, fmt: str, who: str) -> None:
    EventType.objects.create(name="custom_thing", required_properties=["page"])
    with_identifiers()
    rng = random.Random(f"{fmt}-{who}")
    path = write_file(tmp_path / f"events.{fmt.split('-')[0]}", fmt, messy_events(rng, world, 900), rng)
    read_fmt = fmt.split("-")[0]
    actor = _actors(world)[who]
    now = timezone.now()
    expected_errors, expected_accepted = legacy(path, read_fmt, actor, now)
    errors, accepted = bulk(path, read_fmt, actor, now)
    assert errors == expected_errors
    assert accepted == expected_accepted
    reasons = {e[1] for e in errors}
    assert {"event_id", "event", "ts", "properties"} <= reasons  # the file really is messy
    assert len(accepted) > 150


def typed_events(rng: random.Random, world: World, count: int) -> list[dict[str, Any]]:
    """Rows of the contract's JSON types (what the strict JSON reader takes) but wrong in every other way."""
    persons = [p.pk for p in world.persons.values()]
    dealers = [d.pk for d in world.dealers.values()]
    now = timezone.now()
    stamps = [
        (now - dt.timedelta(days=2)).isoformat(),
        (now - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        (now + dt.timedelta(days=3)).isoformat(),
        (now - dt.timedelta(days=1)).replace(tzinfo=None).isoformat(),
        "2026-02-30T10:00:00+08:00",
        "1999-12-31T23:00:00+00:00",
        "昨天",
    ]
    out: list[dict[str, Any]] = []
    for i in range(count):
        ev: dict[str, Any] = {
            "event_id": rng.choice([f"t-{i}"] * 8 + ["has space", "", "x" * 65, f"t-{rng.randint(0, i)}"]),
            "event": rng.choice(["app_active", "page_viewed", "test_drive", "member_joined", "nope", "", "店铺到访"]),
            "ts": rng.choice(stamps[:2] * 4 + stamps),
        }
        ident = rng.random()
        if ident < 0.3:
            ev["person_id"] = rng.choice([*persons, 987654321, 0])
        elif ident < 0.4:
            ev["phone"] = rng.choice(["+8613812345678", "13000000000", "12345", ""])
        elif ident < 0.6:
            kind = rng.choice(["unionid", "openid", "email", "app_user_id"])
            ev[kind] = rng.choice([*KNOWN_IDS[kind], "nobody", " ", "q" * 129])
        if ident > 0.5 or rng.random() < 0.2:
            ev["anonymous_id"] = rng.choice(["dev-1", "dev-2", "dev-3", "", "z" * 129])
        if rng.random() < 0.3:
            ev["dealer_id"] = rng.choice([*dealers, 424242])
        if rng.random() < 0.5:
            ev["channel"] = rng.choice(["app", "APP", "", "store.front"])
        props = rng.random()
        if props < 0.6:
            ev["properties"] = rng.choice(
                [{"page": "/home", "model_code": "XH-7"}, {"page": ""}, {}, {"page": "/p", "note": "中文"}, None]
            )
        out.append(ev)
    return out


@pytest.mark.parametrize("who", ["system", "dealer"])
def test_well_typed_json_lines_take_the_typed_reader_and_equal_the_row_validator(
    tmp_path: Path, world: World, who: str
) -> None:
    with_identifiers()
    rng = random.Random(f"typed-{who}")
    path = tmp_path / "typed.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in typed_events(rng, world, 900)))
    assert {chunk.kind for chunk in read_chunks(path, "jsonl", rows=97)} == {"columns"}  # not line by line
    actor = _actors(world)[who]
    now = timezone.now()
    errors, accepted = bulk(path, "jsonl", actor, now)
    assert (errors, accepted) == legacy(path, "jsonl", actor, now)
    assert {"event_id", "event", "ts", "person_id", "phone", "unionid", "anonymous_id"} <= {e[1] for e in errors}
    assert len(accepted) > 40


def test_files_only_the_row_reader_can_read_go_row_by_row(tmp_path: Path, world: World) -> None:
    """A quoted value spanning lines, lone carriage returns, a BOM: same rows, same numbers."""
    ts = "2026-11-21T09:00:00+08:00"
    now = timezone.now()
    multi = tmp_path / "multi.csv"
    multi.write_text(
        "event_id,event,ts,anonymous_id,properties\n"
        + f'm1,page_viewed,{ts},d1,"{{""page"":\n""/""}}"\n'
        + "m2,app_active,bad,d1,\n",
        encoding="utf-8",
    )
    cr = tmp_path / "cr.jsonl"
    cr.write_bytes(
        json.dumps({"event_id": "c1", "event": "app_active", "ts": ts, "anonymous_id": "d"}).encode()
        + b"\r"
        + json.dumps({"event_id": "c2", "event": "app_active", "ts": "x", "anonymous_id": "d"}).encode()
        + b"\n"
    )
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps({"event_id": "b1", "event": "app_active", "ts": ts}).encode())
    for path, fmt in [(multi, "csv"), (cr, "jsonl"), (bom, "jsonl")]:
        assert bulk(path, fmt, SYSTEM, now) == legacy(path, fmt, SYSTEM, now)
    assert bulk(multi, "csv", SYSTEM, now)[0] == [(4, "ts", "'bad' is not an ISO-8601 timestamp")]


def run_import(path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    out = StringIO()
    try:
        call_command("events", "import", str(path), "--json", *extra, stdout=out)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, json.loads(out.getvalue())


def test_a_big_file_with_bad_rows(tmp_path: Path, lake_url: str, world: World) -> None:
    """20,000 rows over 42 days with 1 in 500 bad and 1 in 1,000 sent twice."""
    base = timezone.now() - dt.timedelta(days=45)
    person = world.persons["a1_owner"].pk
    bad = {
        0: ("ts", "2026-13-01T00:00:00+08:00"),
        1: ("event", "no_such_event"),
        2: ("person_id", 999_999_999),
        3: ("properties", "{oops"),
    }
    lines: list[str] = []
    expected_bad: list[tuple[int, str]] = []
    for i in range(20_000):
        ev: dict[str, Any] = {
            "event_id": f"big-{i}",
            "event": "page_viewed",
            "ts": (base + dt.timedelta(minutes=3 * i)).isoformat(),
            "anonymous_id": f"dev-{i % 300}",
            "properties": {"page": f"/p/{i % 17}", "标签": "试驾"},
        }
        if i % 7 == 0:
            ev["person_id"] = person
        if i % 500 == 499:
            key, value = bad[(i // 500) % 4]
            ev[key] = value
            expected_bad.append((len(lines) + 1, key))
        lines.append(json.dumps(ev, ensure_ascii=False))
        if i % 1000 == 999:
            if i % 500 == 499:
                expected_bad.append((len(lines) + 1, key))
            lines.append(json.dumps(ev, ensure_ascii=False))  # sent twice
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    repeated_bad = sum(1 for i in range(999, 20_000, 1000) if i % 500 == 499)
    code, summary = run_import(path)
    assert code == 1 and summary["applied"] is False and summary["rejected"] == 40 + repeated_bad
    assert [(e["row"], e["field"]) for e in summary["errors"]] == expected_bad
    assert not list(Path(lake_url).glob("events/date=*")) and RejectedEvent.objects.count() == 0

    code, summary = run_import(path, "--skip-bad-rows")
    assert (summary["rows"], summary["rejected"]) == (20_020, 40 + repeated_bad)
    assert summary["accepted"] == 20_000 - 40 and summary["duplicates"] == 20 - repeated_bad
    assert lake_rows(lake_url, "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events") == [
        {"n": 19_960, "d": 19_960}
    ]
    dead = RejectedEvent.objects.filter(source="import")
    assert dead.count() == 40 + repeated_bad
    assert set(dead.values_list("field", flat=True)) == {"ts", "event", "person_id", "properties"}
    # Events of devices seen with a person earlier in the file carry that person.
    rows = lake_rows(lake_url, "SELECT event_id, person_id FROM events WHERE event_id IN ('big-1', 'big-307')")
    assert {r["event_id"]: r["person_id"] for r in rows} == {"big-1": None, "big-307": person}  # big-7 had dev-7

    code, summary = run_import(path, "--skip-bad-rows")
    assert summary["accepted"] == 0 and summary["duplicates"] == 19_960 + 20 - repeated_bad


def _parquet_file(path: Path, first: int, count: int) -> Path:
    base = dt.datetime.now(dt.UTC) - dt.timedelta(days=25)
    pq.write_table(
        pa.table(
            {
                "event_id": [f"k{i}" for i in range(first, first + count)],
                "event": ["app_active"] * count,
                "ts": pa.array(
                    [base + dt.timedelta(minutes=i) for i in range(first, first + count)],
                    pa.timestamp("us", tz="UTC"),
                ),
                "anonymous_id": [f"d{i % 31}" for i in range(first, first + count)],
            }
        ),
        path,
    )
    return path


@pytest.fixture
def scratch(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
        "HUFEN_LAKE_URL": str(tmp_path / "lake"),
        "DJANGO_SETTINGS_MODULE": "hufen.settings",
    }
    env.pop("HUFEN_TRACKING_CRASH_AT", None)
    assert run(env, "migrate", "--verbosity", "0") == 0
    return env


def test_a_killed_import_loses_nothing_and_duplicates_nothing(scratch: dict[str, str], tmp_path: Path) -> None:
    lake_url = scratch["HUFEN_LAKE_URL"]
    first = _parquet_file(tmp_path / "a.parquet", 0, 2000)
    assert run(scratch, "events", "import", str(first), crash_at="before_rename") == -signal.SIGKILL
    assert run(scratch, "events", "import", str(first)) == 0
    assert lake_counts(lake_url) == (2000, 2000)
    second = _parquet_file(tmp_path / "b.parquet", 1500, 30_000)  # overlaps the first by 500
    rng = random.Random(os.getpid())
    for _ in range(2):
        process = subprocess.Popen(
            [*HUFEN, "events", "import", str(second)],
            env=scratch,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.5, 3.0))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert run(scratch, "events", "import", str(second)) == 0
    assert lake_counts(lake_url) == (31_500, 31_500)
    leftovers = [p.name for p in Path(lake_url).rglob("*") if p.suffix == ".tmp"]
    assert leftovers == []


@pytest.mark.parametrize(
    ("name", "content", "fmt"), [("bad.jsonl", b"\xff\xfe{}\n", "jsonl"), ("bad.parquet", b"PAR", "parquet")]
)
def test_an_unreadable_file_is_named(tmp_path: Path, lake_url: str, name: str, content: bytes, fmt: str) -> None:
    from django.core.management.base import CommandError

    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CommandError, match=f"{name}: cannot read it as {fmt}"):
        call_command("events", "import", str(path), "--json")
    assert not list(Path(lake_url).glob("events/date=*"))

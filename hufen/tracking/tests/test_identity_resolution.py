"""Events name persons by any ONE ID identifier; devices and merges are resolved in the lake."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from conftest import World
from hufen.api.tests.helpers import Caller
from hufen.common.actors import SYSTEM
from hufen.identity.services import RecordInput, identity_link_one
from hufen.people.merge import person_merge, person_unmerge
from hufen.people.models import Person
from hufen.tracking import lake
from hufen.tracking.models import IdentityLink
from hufen.tracking.services import events_ingest, identity_identify, lake_compact, pending_flush
from hufen.tracking.tests.helpers import lake_rows, raw_event

pytestmark = pytest.mark.django_db
DAY1 = dt.datetime(2026, 11, 18, 9, 0, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 11, 19, 9, 0, tzinfo=dt.UTC)


def linked(key: str, **fields: str) -> int:
    """A person ONE ID knows by these identifiers (through the identity service, as in production)."""
    result = identity_link_one(actor=SYSTEM, record=RecordInput("app", key, {"name": "测试" + key, **fields}))
    assert result.person_id is not None
    return result.person_id


def outcome(**ids: object) -> tuple[str, str | None, str | None]:
    result = events_ingest(actor=SYSTEM, raw_events=[raw_event(anonymous_id=None, **ids)])
    [o] = result.outcomes
    return o.status, o.field, o.reason


def test_every_identifier_one_id_indexes_names_its_person(lake_url: str) -> None:
    person = linked(
        "u1", wechat_unionid="oUnion-1", wechat_openid="oOpen-1", email="Li@Example.com", app_user_id="APP-1"
    )
    cases: list[tuple[str, dict[str, object]]] = [
        ("u", {"unionid": "oUnion-1"}),
        ("o", {"openid": "oOpen-1"}),
        ("e", {"email": "li@example.COM"}),  # compared in ONE ID's normal form
        ("a", {"app_user_id": " APP-1"}),
        ("all", {"unionid": "oUnion-1", "app_user_id": "APP-1", "person_id": person}),
    ]
    for name, ids in cases:
        result = events_ingest(
            actor=SYSTEM, raw_events=[raw_event(event_id=name, anonymous_id=None, ts=DAY1.isoformat(), **ids)]
        )
        assert result.count("accepted") == 1, (name, result.outcomes)
    pending_flush()
    rows = lake_rows(lake_url, "SELECT event_id, person_id, source_person_id FROM events ORDER BY event_id")
    assert {r["event_id"]: r["person_id"] for r in rows} == dict.fromkeys(["a", "all", "e", "o", "u"], person)
    assert all(r["source_person_id"] == person for r in rows)


def test_unknown_ambiguous_and_conflicting_identifiers_are_rejected_with_a_reason(world: World) -> None:
    first = linked("c1", wechat_unionid="oU-1")
    linked("c2", app_user_id="APP-2")
    assert outcome(unionid="oU-nobody") == (
        "rejected",
        "unionid",
        "matches no person (ONE ID has not seen this WeChat unionid)",
    )
    assert outcome(email="not-an-email") == ("rejected", "email", "is not a valid email address")
    assert outcome(unionid="oU-1", app_user_id="APP-2") == (
        "rejected",
        "app_user_id",
        "belongs to another person than unionid",
    )
    assert outcome(person_id=world.persons["a1_owner"].pk, unionid="oU-1") == (
        "rejected",
        "unionid",
        "belongs to another person than person_id",
    )
    assert outcome(unionid=5) == ("rejected", "unionid", "must be a string of at most 128 characters")
    assert outcome(person_id=first, unionid="oU-1")[0] == "accepted"


def test_identifiers_of_a_merged_person_agree_with_the_survivor(world: World) -> None:
    absorbed = linked("m1", wechat_unionid="oU-m")
    survivor = world.persons["a1_owner"]
    person_merge(
        actor=world.actor("hq_admin"), survivor=survivor, absorbed=Person.objects.get(pk=absorbed), reason="同一人"
    )
    # The absorbed id as sent and the unionid (now on the survivor) are one human.
    assert outcome(person_id=absorbed, unionid="oU-m")[0] == "accepted"
    assert outcome(person_id=survivor.pk, unionid="oU-m")[0] == "accepted"


def test_a_device_s_earlier_anonymous_events_count_for_its_person_after_compaction(lake_url: str, world: World) -> None:
    person = world.persons["a1_owner"].pk
    events_ingest(
        actor=SYSTEM,
        raw_events=[
            raw_event(event_id=f"anon-{i}", anonymous_id="dev-x", ts=(DAY1 + dt.timedelta(minutes=i)).isoformat())
            for i in range(3)
        ],
    )
    pending_flush()
    lake_compact()  # one file per partition: nothing to merge, nothing to resolve yet
    assert {r["person_id"] for r in lake_rows(lake_url)} == {None}
    identity_identify(actor=SYSTEM, anonymous_id="dev-x", person_id=person)
    totals = lake_compact()
    assert totals["reresolved"] == 1
    rows = lake_rows(lake_url, "SELECT person_id, source_person_id, anonymous_id FROM events")
    assert rows == [{"person_id": person, "source_person_id": None, "anonymous_id": "dev-x"}] * 3
    # Nothing changed since: the next compaction leaves every partition alone.
    assert lake_compact()["reresolved"] == 0
    saved = pq.read_table(Path(lake_url) / "identity" / "device_persons.parquet").to_pylist()
    assert saved == [{"anonymous_id": "dev-x", "person_id": person}]


def test_a_merged_person_counts_once_and_an_unmerge_gives_the_events_back(lake_url: str, world: World) -> None:
    survivor, absorbed = world.persons["a1_owner"], world.persons["a1_other"]
    events_ingest(
        actor=SYSTEM,
        raw_events=[
            raw_event(event_id="s1", person_id=survivor.pk, ts=DAY1.isoformat()),
            raw_event(event_id="a1", person_id=absorbed.pk, ts=DAY1.isoformat()),
            raw_event(event_id="a2", person_id=absorbed.pk, anonymous_id="dev-a", ts=DAY2.isoformat()),
            raw_event(event_id="d1", person_id=None, anonymous_id="dev-a", ts=DAY2.isoformat()),
        ],
    )
    pending_flush()
    count = "SELECT count(DISTINCT person_id) AS n FROM events"
    assert lake_rows(lake_url, count)[0]["n"] == 2
    merge = person_merge(actor=world.actor("hq_admin"), survivor=survivor, absorbed=absorbed, reason="同一人")
    assert lake_compact()["reresolved"] == 2
    assert lake_rows(lake_url, count)[0]["n"] == 1
    by_event = {r["event_id"]: r for r in lake_rows(lake_url)}
    assert by_event["a1"]["person_id"] == survivor.pk and by_event["a1"]["source_person_id"] == absorbed.pk
    assert by_event["d1"]["person_id"] == survivor.pk  # the device is the absorbed person's: it follows
    redirects = pq.read_table(Path(lake_url) / "identity" / "person_redirects.parquet").to_pylist()
    assert redirects == [{"person_id": absorbed.pk, "live_person_id": survivor.pk}]
    # Flushed after the merge: already resolved when written.
    events_ingest(actor=SYSTEM, raw_events=[raw_event(event_id="a3", person_id=absorbed.pk, ts=DAY2.isoformat())])
    pending_flush()
    assert lake_rows(lake_url, "SELECT person_id FROM events WHERE event_id = 'a3'") == [{"person_id": survivor.pk}]

    person_unmerge(actor=world.actor("hq_admin"), merge=merge, reason="误合并")
    lake_compact()
    by_event = {r["event_id"]: r["person_id"] for r in lake_rows(lake_url)}
    assert by_event == {"s1": survivor.pk, "a1": absorbed.pk, "a2": absorbed.pk, "d1": absorbed.pk, "a3": absorbed.pk}


def test_files_without_the_source_column_read_as_their_person(lake_url: str, world: World) -> None:
    """A partition written by an older Hufen (or the demo): the compaction upgrades it in place."""
    person = world.persons["a1_owner"].pk
    events_ingest(actor=SYSTEM, raw_events=[raw_event(event_id="n1", person_id=person, ts=DAY1.isoformat())])
    pending_flush()
    [file] = lake.partition_files(lake.partition_dir(lake_url, DAY1.date()))
    pq.write_table(pq.read_table(file).select(lake.COLUMNS), file)
    events_ingest(actor=SYSTEM, raw_events=[raw_event(event_id="n2", person_id=person, ts=DAY1.isoformat())])
    pending_flush()
    lake_compact()
    rows = lake_rows(lake_url, "SELECT event_id, person_id, source_person_id FROM events ORDER BY event_id")
    assert rows == [
        {"event_id": "n1", "person_id": person, "source_person_id": person},
        {"event_id": "n2", "person_id": person, "source_person_id": person},
    ]


def test_import_resolves_identifiers_and_merges(tmp_path: Path, lake_url: str, world: World) -> None:
    person = linked("i1", app_user_id="APP-i")
    survivor = world.persons["a1_owner"]
    person_merge(
        actor=world.actor("hq_admin"), survivor=survivor, absorbed=Person.objects.get(pk=person), reason="同一人"
    )
    path = tmp_path / "ids.jsonl"
    lines = [
        {"event_id": "j1", "event": "app_active", "ts": DAY1.isoformat(), "app_user_id": "APP-i"},
        {
            "event_id": "j2",
            "event": "app_active",
            "ts": DAY1.isoformat(),
            "app_user_id": "APP-i",
            "anonymous_id": "dev-j",
        },
        {"event_id": "j3", "event": "app_active", "ts": DAY2.isoformat(), "anonymous_id": "dev-j"},
        {"event_id": "j4", "event": "app_active", "ts": DAY2.isoformat(), "unionid": "oU-none"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("events", "import", str(path), "--json", "--skip-bad-rows", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["accepted"] == 3
    assert summary["errors"] == [
        {"row": 4, "field": "unionid", "reason": "matches no person (ONE ID has not seen this WeChat unionid)"}
    ]
    # ONE ID moved the app user id to the survivor with the merge: the events name the survivor.
    rows = lake_rows(lake_url, "SELECT event_id, person_id FROM events ORDER BY event_id")
    assert rows == [{"event_id": e, "person_id": survivor.pk} for e in ("j1", "j2", "j3")]


def test_identify_joins_a_device_by_a_one_id_identifier(caller: Callable[[str], Caller]) -> None:
    person = linked("d1", wechat_unionid="oU-dev", app_user_id="APP-dev")
    api = caller("hq_admin")
    response = api.post("/events/identify", {"anonymous_id": "dev-u", "unionid": "oU-dev"})
    assert response.status_code == 200, response.content
    assert response.json() == {"anonymous_id": "dev-u", "person_id": person}
    assert IdentityLink.objects.get(anonymous_id="dev-u").person_id == person
    response = api.post("/events/identify", {"anonymous_id": "dev-v", "app_user_id": "APP-nobody"})
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "app_user_id"
    assert not IdentityLink.objects.filter(anonymous_id="dev-v").exists()
    response = api.post("/events/identify", {"anonymous_id": "dev-w"})
    assert response.status_code == 422 and response.json()["error"]["details"]["field"] == "person_id"

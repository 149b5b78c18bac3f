"""The demo population's behaviour events, written into the ONE DATA lake from the DB facts.

Every event is derived from a row of the database, so the analytics agree with the console:

- each ownership: lead_created → store_visited → test_drive → order_placed → vehicle_delivered,
  the last one at the ownership's `delivered_at` and dealer, the earlier steps days before it;
- lost leads: about half of the persons also have an earlier lead that stopped part-way (the funnel's
  drop-off), and persons without a car only have such partial funnels;
- each member: member_joined at `joined_at`, then app_active / page_viewed / post_created on days of
  the last 12 months, with a probability that decays after joining and differs per member;
- each Member Day check-in row: one `memberday_checked_in` event (the name memberday/checkin.py
  publishes) at `checked_in_at`, with the same properties;
- a second ownership of the same person: `repurchase` at its delivery; a few owners: `referral_made`.

Deterministic: every random draw is a hash of (seed, row id, slot), not a stream, so the events of a
person do not depend on how many persons there are, and event ids name their DB row
(`demo-o<ownership>-<step>`, `demo-m<member>-a<slot>`, `demo-c<checkin>` ...).

Idempotent: each UTC-date partition gets ONE file with a fixed name, `demo-events.parquet`, written
under a `.tmp` name and renamed into place (tracking/lake.py's convention) while holding the lake's
writer lock. A re-run replaces the files instead of adding to them, removes the demo files of dates
that no longer have demo events, and leaves out event ids that another file of the partition already
holds (after `hufen events compact` folded a demo file into a compacted one).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.conf import settings
from django.utils import timezone

from hufen.analytics.lakegen import SCHEMA
from hufen.memberday.models import CheckIn
from hufen.membership.models import Member
from hufen.org.models import Dealer
from hufen.people.models import Ownership, Person
from hufen.tracking import lake

FILE_NAME = "demo-events.parquet"
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
MINUTE_US = 60_000_000
ACTIVITY_SLOTS = 56  # at most this many active days per member in the last year
ACTIVITY_DAYS = 365
LEAD_SOURCES = ("汽车之家", "懂车帝", "易车", "官网留资", "抖音直播", "门店自然到店", "老客推荐")
LEAD_CHANNELS = ("web", "mini_program", "dealer", "app")
PAGES = ("首页", "车主社区", "积分商城", "会员日", "预约保养", "我的爱车", "活动报名")
APP_CHANNEL = "app"


@dataclass
class Columns:
    """Events under construction: one Arrow table per kind, converted as soon as it is added so that
    no Python string of an earlier kind stays alive (Arrow strings take a fraction of the memory)."""

    parts: list[pa.Table]

    @classmethod
    def empty(cls) -> Columns:
        return cls([])

    def add(
        self,
        ids: np.ndarray,
        name: str | np.ndarray,
        us: np.ndarray,
        person: np.ndarray,
        dealer: np.ndarray,
        channel: str | np.ndarray | None,
        properties: np.ndarray | None = None,
    ) -> None:
        n = len(ids)
        if n == 0:
            return
        us = us.astype(np.int64)
        dealer = dealer.astype(np.int64)
        if isinstance(name, str):
            events = pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([name])).cast(pa.string())
        else:
            events = pa.array(name, pa.string())
        if channel is None or isinstance(channel, str):
            channels = pa.array([channel] * n, pa.string())
        else:
            channels = pa.array(channel, pa.string())
        self.parts.append(
            pa.table(
                {
                    "event_id": pa.array(ids, pa.string()),
                    "event": events,
                    "ts": pa.array(us, pa.timestamp("us", tz="UTC")),
                    "person_id": pa.array(person.astype(np.int64), pa.int64()),
                    "anonymous_id": pa.nulls(n, pa.string()),
                    "dealer_id": pa.array(dealer, pa.int64(), mask=dealer <= 0),
                    "channel": channels,
                    "properties": pa.nulls(n, pa.string()) if properties is None else pa.array(properties, pa.string()),
                    # Received a few seconds after it happened: deterministic, so a re-run writes equal files.
                    "received_at": pa.array(us + 3_000_000, pa.timestamp("us", tz="UTC")),
                },
                schema=SCHEMA,
            )
        )

    def table(self) -> pa.Table:
        if not self.parts:
            return SCHEMA.empty_table()
        return pa.concat_tables(self.parts).combine_chunks()


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser over a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class Draws:
    """Uniform [0, 1) numbers keyed by (seed, stream, row id, slot): the same whatever the batch."""

    def __init__(self, seed: int) -> None:
        self.seed = np.uint64(seed & 0xFFFFFFFFFFFFFFFF)

    def u(self, stream: int, ids: np.ndarray, slot: int | np.ndarray = 0) -> np.ndarray:
        with np.errstate(over="ignore"):
            key = (
                ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
                + np.asarray(slot).astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)
                + np.uint64(stream) * np.uint64(0xA0761D6478BD642F)
                + self.seed
            )
            out = _mix(_mix(key))
        return (out >> np.uint64(11)).astype(np.float64) / float(1 << 53)

    def pick(self, stream: int, ids: np.ndarray, n: int, slot: int | np.ndarray = 0) -> np.ndarray:
        return np.minimum((self.u(stream, ids, slot) * n).astype(np.int64), n - 1)


def _us(values: Sequence[dt.datetime]) -> np.ndarray:
    return np.fromiter((int(v.timestamp() * 1_000_000) for v in values), dtype=np.int64, count=len(values))


def _ids(prefix: str, keys: np.ndarray, suffix: str) -> np.ndarray:
    return np.asarray([f"{prefix}{k}{suffix}" for k in keys.tolist()], dtype=object)


def _json(rows: Sequence[Mapping[str, object]]) -> np.ndarray:
    return np.asarray([json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in rows], dtype=object)


def _business_hour(draws: Draws, stream: int, keys: np.ndarray, slot: int = 0) -> np.ndarray:
    """An offset in µs from UTC midnight landing between 09:00 and 21:00 Beijing time."""
    return (1 * HOUR_US + (draws.u(stream, keys, slot) * 12 * HOUR_US)).astype(np.int64)


def build_events(*, seed: int, now: dt.datetime) -> pa.Table:
    """All the demo events for the persons in the database, as one table in the lake's schema."""
    draws = Draws(seed)
    now_us = int(now.timestamp() * 1_000_000)
    out = Columns.empty()
    dealers = np.asarray(sorted(Dealer.objects.values_list("id", flat=True)), dtype=np.int64)

    # -- ownerships: the acquisition funnel that ended in the delivery
    own = list(
        Ownership.objects.order_by("id").values_list(
            "id", "person_id", "dealer_id", "delivered_at", "vehicle__model_id"
        )
    )
    o_id = np.asarray([r[0] for r in own], dtype=np.int64)
    o_person = np.asarray([r[1] for r in own], dtype=np.int64)
    o_dealer = np.asarray([r[2] or 0 for r in own], dtype=np.int64)
    o_at = _us([r[3] for r in own])
    o_model = [r[4] for r in own]
    # Days between steps, counted back from the delivery (all within the 30-day default window).
    gap_deliver = (2 + draws.u(1, o_id) * 16) * DAY_US
    gap_order = draws.u(2, o_id) * 7 * DAY_US
    gap_drive = np.where(draws.u(3, o_id) < 0.5, 0, draws.u(4, o_id) * 2 * DAY_US)
    gap_visit = draws.u(5, o_id) * 4 * DAY_US
    order_at = o_at - gap_deliver.astype(np.int64)
    drive_at = order_at - gap_order.astype(np.int64)
    visit_at = drive_at - gap_drive.astype(np.int64)
    lead_at = visit_at - gap_visit.astype(np.int64) - HOUR_US
    src = draws.pick(6, o_id, len(LEAD_SOURCES))
    chan = np.asarray(LEAD_CHANNELS, dtype=object)[draws.pick(7, o_id, len(LEAD_CHANNELS))]
    out.add(
        _ids("demo-o", o_id, "-lead"),
        "lead_created",
        lead_at,
        o_person,
        o_dealer,
        chan,
        _json([{"source": LEAD_SOURCES[i]} for i in src.tolist()]),
    )
    out.add(_ids("demo-o", o_id, "-visit"), "store_visited", visit_at, o_person, o_dealer, "dealer")
    out.add(
        _ids("demo-o", o_id, "-drive"),
        "test_drive",
        drive_at,
        o_person,
        o_dealer,
        "dealer",
        _json([{"model_code": f"M{m}"} for m in o_model]),
    )
    out.add(
        _ids("demo-o", o_id, "-order"),
        "order_placed",
        order_at,
        o_person,
        o_dealer,
        "dealer",
        _json(
            [{"order_no": f"SO{i:010d}", "model_code": f"M{m}"} for i, m in zip(o_id.tolist(), o_model, strict=True)]
        ),
    )
    out.add(
        _ids("demo-o", o_id, "-delivered"),
        "vehicle_delivered",
        o_at,
        o_person,
        o_dealer,
        "dealer",
        _json([{"ownership_id": i} for i in o_id.tolist()]),
    )

    # A person's dealer: the one of their latest delivery (sorted by person, then delivery).
    order = np.lexsort((o_at, o_person))
    last = np.r_[o_person[order][1:] != o_person[order][:-1], True] if len(order) else np.zeros(0, bool)
    home_person, home_dealer = o_person[order][last], o_dealer[order][last]

    def dealer_of(persons: np.ndarray, stream: int) -> np.ndarray:
        fallback = (
            dealers[draws.pick(stream, persons, len(dealers))] if len(dealers) else np.zeros(len(persons), np.int64)
        )
        if not len(home_person):
            return fallback
        at = np.minimum(np.searchsorted(home_person, persons), len(home_person) - 1)
        found = home_person[at] == persons
        return np.where(found & (home_dealer[at] > 0), home_dealer[at], fallback)

    # -- repurchase: a second (or later) delivery of the same person
    first = np.r_[True, o_person[order][1:] != o_person[order][:-1]] if len(order) else np.zeros(0, bool)
    again = order[~first]
    out.add(
        _ids("demo-o", o_id[again], "-repurchase"),
        "repurchase",
        o_at[again] + MINUTE_US,
        o_person[again],
        o_dealer[again],
        "dealer",
    )

    # -- lost leads: partial funnels that never reached an order (every person may have one)
    persons = np.asarray(sorted(Person.objects.filter(status="active").values_list("id", flat=True)), dtype=np.int64)
    owners = np.isin(persons, o_person)
    has_lead = draws.u(10, persons) < np.where(owners, 0.45, 0.95)
    p = persons[has_lead]
    lost_at = now_us - (draws.u(11, p) * ACTIVITY_DAYS * DAY_US).astype(np.int64)
    lost_at = lost_at - lost_at % DAY_US + _business_hour(draws, 12, p)
    lost_at = np.minimum(lost_at, now_us - HOUR_US)
    p_dealer = dealers[draws.pick(13, p, len(dealers))] if len(dealers) else np.zeros(len(p), np.int64)
    depth = 1 + (draws.u(14, p) < 0.55).astype(int)  # lead, then visited
    depth += (depth == 2) & (draws.u(15, p) < 0.5)  # test drive
    depth += (depth == 3) & (draws.u(16, p) < 0.2)  # order (not delivered yet, or cancelled)
    src = draws.pick(17, p, len(LEAD_SOURCES))
    chan = np.asarray(LEAD_CHANNELS, dtype=object)[draws.pick(18, p, len(LEAD_CHANNELS))]
    out.add(
        _ids("demo-p", p, "-lead"),
        "lead_created",
        lost_at,
        p,
        p_dealer,
        chan,
        _json([{"source": LEAD_SOURCES[i]} for i in src.tolist()]),
    )
    at = lost_at
    for step, (name, props) in enumerate(
        (("store_visited", None), ("test_drive", "model_code"), ("order_placed", "order_no")), start=2
    ):
        keep = depth >= step
        at = at + (draws.u(20 + step, p) * 3 * DAY_US).astype(np.int64)
        sel, when = p[keep], np.minimum(at[keep], now_us - MINUTE_US)
        values = None
        if props == "model_code":
            values = _json([{"model_code": f"M{1 + k % 12}"} for k in sel.tolist()])
        elif props == "order_no":
            values = _json([{"order_no": f"SP{k:010d}"} for k in sel.tolist()])
        out.add(_ids("demo-p", sel, f"-{name}"), name, when, sel, p_dealer[keep], "dealer", values)

    # -- members: joined, then activity with a decaying probability over the last year
    mem = list(Member.objects.order_by("id").values_list("id", "person_id", "joined_at"))
    m_id = np.asarray([r[0] for r in mem], dtype=np.int64)
    m_person = np.asarray([r[1] for r in mem], dtype=np.int64)
    m_joined = _us([r[2] for r in mem])
    m_dealer = dealer_of(m_person, 30)
    out.add(_ids("demo-m", m_id, "-joined"), "member_joined", m_joined, m_person, m_dealer, APP_CHANNEL)
    start = np.maximum(m_joined, now_us - ACTIVITY_DAYS * DAY_US)
    span = now_us - start
    engagement = 0.15 + 0.85 * draws.u(31, m_id) ** 2  # share of the slots a member uses
    decay_days = 45 + draws.u(32, m_id) * 400  # how fast their interest fades after joining
    ids = np.repeat(m_id, ACTIVITY_SLOTS)
    slot = np.tile(np.arange(ACTIVITY_SLOTS), len(m_id))
    idx = np.repeat(np.arange(len(m_id)), ACTIVITY_SLOTS)
    used = draws.u(33, ids, slot) < engagement[idx]
    offset_days = -decay_days[idx] * np.log1p(-draws.u(34, ids, slot))
    offset = (offset_days * DAY_US).astype(np.int64)
    keep = used & (offset < span[idx]) & (span[idx] > 0)
    a_id, a_slot, a_idx = ids[keep], slot[keep], idx[keep]
    a_at = start[a_idx] + offset[keep]
    # Into the evening of that day, Beijing time.
    a_at = a_at - a_at % DAY_US + _business_hour(draws, 35, a_id, a_slot)
    a_at = np.minimum(np.maximum(a_at, m_joined[a_idx] + MINUTE_US), now_us - MINUTE_US)
    suffix = [f"-a{s}" for s in a_slot.tolist()]
    a_keys = [f"demo-m{m}{s}" for m, s in zip(a_id.tolist(), suffix, strict=True)]
    out.add(np.asarray(a_keys, dtype=object), "app_active", a_at, m_person[a_idx], m_dealer[a_idx], APP_CHANNEL)
    viewed = draws.u(36, a_id, a_slot) < 0.6
    page = draws.pick(37, a_id[viewed], len(PAGES), a_slot[viewed])
    out.add(
        np.asarray([k + "-view" for k, v in zip(a_keys, viewed.tolist(), strict=True) if v], dtype=object),
        "page_viewed",
        a_at[viewed] + 2 * MINUTE_US,
        m_person[a_idx][viewed],
        m_dealer[a_idx][viewed],
        APP_CHANNEL,
        _json([{"page": PAGES[i]} for i in page.tolist()]),
    )
    posted = draws.u(38, a_id, a_slot) < 0.07
    post_keys = [k + "-post" for k, v in zip(a_keys, posted.tolist(), strict=True) if v]
    out.add(
        np.asarray(post_keys, dtype=object),
        "post_created",
        np.minimum(a_at[posted] + 9 * MINUTE_US, now_us),
        m_person[a_idx][posted],
        m_dealer[a_idx][posted],
        APP_CHANNEL,
        _json([{"post_id": k.removeprefix("demo-")} for k in post_keys]),
    )
    # A few members recommend the brand to a friend.
    referrer = draws.u(39, m_id) < 0.04
    r_at = start[referrer] + (draws.u(40, m_id[referrer]) * span[referrer]).astype(np.int64)
    referee = persons[draws.pick(41, m_id[referrer], max(len(persons), 1))] if len(persons) else m_person[referrer]
    out.add(
        _ids("demo-m", m_id[referrer], "-referral"),
        "referral_made",
        r_at,
        m_person[referrer],
        m_dealer[referrer],
        APP_CHANNEL,
        _json([{"referee": f"p{r}"} for r in referee.tolist()]),
    )

    # -- Member Day check-ins: one event per row, as memberday_checkin publishes it
    rows = list(
        CheckIn.objects.order_by("id").values_list(
            "id",
            "person_id",
            "dealer_id",
            "checked_in_at",
            "channel",
            "occurrence_id",
            "occurrence__day",
            "member__program__brand__code",
            "member_id",
            "points",
            "entry_id",
        )
    )
    c_id = np.asarray([r[0] for r in rows], dtype=np.int64)
    c_person = np.asarray([r[1] for r in rows], dtype=np.int64)
    c_dealer = np.asarray([r[2] or 0 for r in rows], dtype=np.int64)
    checkin_props = [
        {
            "occurrence_id": r[5],
            "day": r[6].isoformat(),
            "brand": r[7],
            "member_id": r[8],
            "points": r[9],
            "entry_id": r[10],
        }
        for r in rows
    ]
    out.add(
        _ids("demo-c", c_id, ""),
        "memberday_checked_in",
        _us([r[3] for r in rows]),
        c_person,
        c_dealer,
        np.asarray([r[4] or APP_CHANNEL for r in rows], dtype=object),
        _json(checkin_props),
    )
    return out.table()


@dataclass(frozen=True)
class LakeWrite:
    events: int
    partitions: int
    removed: int
    skipped: int
    seconds: float


def write_demo_events(*, seed: int, now: dt.datetime | None = None, lake_url: str | None = None) -> LakeWrite:
    """Build the demo events and (re)write them into the lake: one file per UTC date, see the module doc."""
    began = time.monotonic()
    now = now or timezone.now()
    lake_url = lake_url or settings.LAKE_URL
    table = build_events(seed=seed, now=now).sort_by("ts")
    written = skipped = 0
    touched: set[str] = set()
    with lake.lake_lock(lake_url):
        lake.recover(lake_url)
        micros = table.column("ts").cast(pa.int64()).to_numpy()
        days = micros // DAY_US
        bounds = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), table.num_rows] if table.num_rows else [0]
        for start, stop in itertools.pairwise(bounds):
            part = table.slice(start, stop - start)
            day = dt.date(1970, 1, 1) + dt.timedelta(days=int(days[start]))
            directory = lake.partition_dir(lake_url, day)
            others = [p for p in lake.partition_files(directory) if p.name != FILE_NAME] if directory.exists() else []
            if others:
                held = pa.chunked_array(
                    [pq.ParquetFile(p).read(columns=["event_id"]).column("event_id") for p in others], pa.string()
                ).combine_chunks()
                keep = pc.invert(pc.is_in(part.column("event_id"), value_set=held))
                skipped += part.num_rows - pc.sum(keep.cast(pa.int64())).as_py()
                part = part.filter(keep)
            if part.num_rows:
                _write_fixed(directory, part)
                touched.add(directory.name)
                written += part.num_rows
            elif (directory / FILE_NAME).exists():
                (directory / FILE_NAME).unlink()
        removed = 0
        for directory in lake.partitions(lake_url):
            stale = directory / FILE_NAME
            if directory.name not in touched and stale.exists():
                stale.unlink()
                removed += 1
    return LakeWrite(written, len(touched), removed, skipped, round(time.monotonic() - began, 1))


def _write_fixed(folder: Path, table: pa.Table) -> None:
    """Write the partition's demo file: complete under a temp name, fsync'ed, renamed over the old one."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / FILE_NAME
    temp = folder / (FILE_NAME + ".tmp")
    pq.write_table(table.cast(lake.EVENT_SCHEMA), temp, compression="zstd")
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, final)

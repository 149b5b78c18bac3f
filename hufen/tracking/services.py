"""Tracking writes: ingest events, identify devices, ship the outbox, flush and compact the lake.

Durability: an API event is acknowledged once its `PendingEvent` row commits (the database is the
write-ahead store and its unique index the dedupe); `pending_flush` moves rows to Parquet and deletes
them only after the file is durable, deduplicating against the lake, so a crash at any point loses
nothing and duplicates nothing. The importer writes the lake directly, under the same lock and dedupe.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hufen.common.actors import Actor, Role, Scope
from hufen.common.audit import audit
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.models import DomainEvent
from hufen.people.merge import person_redirects
from hufen.tracking import lake
from hufen.tracking.catalogue import catalogue_load
from hufen.tracking.models import IdentityLink, PendingEvent, RejectedEvent
from hufen.tracking.pending import pending_insert
from hufen.tracking.resolve import chunks, device_persons, live_persons, resolve
from hufen.tracking.validation import Event, Problem, storable, validate_batch, validate_event

FLUSH_BATCH = 200_000


@dataclass(frozen=True)
class EventOutcome:
    index: int
    event_id: str | None
    status: str  # "accepted" | "duplicate" | "rejected"
    field: str | None = None
    reason: str | None = None


@dataclass
class IngestResult:
    outcomes: list[EventOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def require_tracking(actor: Actor) -> None:
    if actor.scope == Scope.NONE:
        raise PermissionDenied(f"{actor.label} may not send events")


def events_check(*, actor: Actor, raw_events: Sequence[Any], now: dt.datetime | None = None) -> list[Event | Problem]:
    """Validate and resolve a batch without writing anything (the importer's dry pass)."""
    require_tracking(actor)
    now = now or timezone.now()
    catalogue = catalogue_load()
    checked = validate_batch(raw_events, catalogue, now)
    resolved, _ = resolve(actor, checked, now)
    return resolved


def _event_id_of(raw: Any) -> str | None:
    value = raw.get("event_id") if isinstance(raw, dict) else None
    return storable(value[:200]) if isinstance(value, str) else None


@transaction.atomic
def events_ingest(
    *, actor: Actor, raw_events: Sequence[Any], source: str = "api", dead_letters: bool = True
) -> IngestResult:
    """Accept the valid events of a batch into the write-ahead store; report each event's outcome.

    Rejected events go to the dead-letter store unless `dead_letters` is false (a retry of a dead
    letter updates that row instead of adding another)."""
    require_tracking(actor)
    now = timezone.now()
    catalogue = catalogue_load()
    checked = validate_batch(raw_events, catalogue, now)
    resolved, links = resolve(actor, checked, now)
    result = IngestResult()
    rows: list[Event] = []
    dead: list[RejectedEvent] = []
    seen: set[str] = set()
    for index, (raw, ev) in enumerate(zip(raw_events, resolved, strict=True)):
        if isinstance(ev, Problem):
            outcome = EventOutcome(index, _event_id_of(raw), "rejected", storable(ev.field), storable(ev.reason))
            result.outcomes.append(outcome)
            dead.append(_dead_letter(raw, index, ev, source, actor, now))
        elif ev.event_id in seen:
            result.outcomes.append(EventOutcome(index, ev.event_id, "duplicate"))
        else:
            seen.add(ev.event_id)
            rows.append(ev)
            result.outcomes.append(EventOutcome(index, ev.event_id, "accepted"))
    # The store's unique index dedupes: what it already held (sent before, or by a concurrent
    # request) is not inserted, and is answered as a duplicate.
    inserted = pending_insert(rows, now)
    if len(inserted) < len(rows):
        result.outcomes = [
            replace(o, status="duplicate") if o.status == "accepted" and o.event_id not in inserted else o
            for o in result.outcomes
        ]
    if dead_letters:
        RejectedEvent.objects.bulk_create(dead)
    _links_save(links.new, now, "event")
    return result


def _dead_letter(raw: Any, index: int, problem: Problem, source: str, actor: Actor, now: dt.datetime) -> RejectedEvent:
    try:
        payload = storable(json.dumps(raw, ensure_ascii=False, default=str))
    except (TypeError, ValueError):
        payload = repr(raw)
    return RejectedEvent(
        received_at=now,
        source=source,
        actor_label=actor.label[:150],
        batch_index=index,
        event_id=_event_id_of(raw) or "",
        field=storable(problem.field)[:80],
        reason=storable(problem.reason)[:300],
        payload=payload[:20000],
    )


def _links_save(new: dict[str, int], now: dt.datetime, source: str) -> None:
    IdentityLink.objects.bulk_create(
        [IdentityLink(anonymous_id=a, person_id=p, linked_at=now, source=source) for a, p in new.items()],
        ignore_conflicts=True,
    )


@transaction.atomic
def identity_identify(
    *,
    actor: Actor,
    anonymous_id: str,
    person_id: int | None = None,
    phone: str | None = None,
    identifiers: dict[str, str] | None = None,
) -> int:
    """Join a device's anonymous id to a person (by id, phone or another ONE ID identifier: `identifiers`
    maps unionid / openid / email / app_user_id to a value); returns the person's id.

    The first link wins: a device already joined keeps its person, so a shared tablet at a dealer
    cannot move someone's history to the next visitor.
    """
    require_tracking(actor)
    now = timezone.now()
    raw = {"event_id": "identify", "event": "identify", "ts": now, "anonymous_id": anonymous_id}
    raw.update({"person_id": person_id} if person_id is not None else {})
    raw.update({"phone": phone} if phone is not None else {})
    raw.update({k: v for k, v in (identifiers or {}).items() if v is not None})
    checked = validate_event(raw, catalogue_load(), now)
    if isinstance(checked, Event) and checked.person_id is None and checked.phone is None and not checked.identifiers():
        checked = Problem(
            "person_id", "person_id, phone or another identifier (unionid, openid, email, app_user_id) is required"
        )
    resolved, links = resolve(actor, [checked], now)
    outcome = resolved[0]
    if isinstance(outcome, Problem):
        raise FieldError(outcome.field, outcome.reason)
    _links_save(links.new, now, "identify")
    linked = IdentityLink.objects.get(anonymous_id=anonymous_id)
    return linked.person_id


def outbox_ship(*, limit: int = 50_000) -> int:
    """Move unshipped DomainEvents into the write-ahead store; safe to run twice (same event_id)."""
    shipped = 0
    while shipped < limit:
        with transaction.atomic():
            batch = list(
                DomainEvent.objects.select_for_update(skip_locked=True)
                .filter(shipped_at__isnull=True)
                .order_by("id")[: min(5000, limit - shipped)]
            )
            if not batch:
                break
            now = timezone.now()
            PendingEvent.objects.bulk_create(
                [
                    PendingEvent(
                        event_id=str(d.event_id),
                        event=d.name,
                        ts=d.ts,
                        person_id=d.person_id,
                        dealer_id=d.dealer_id,
                        channel=d.channel or None,
                        properties=json.dumps(d.properties, ensure_ascii=False) if d.properties else None,
                        received_at=now,
                    )
                    for d in batch
                ],
                ignore_conflicts=True,
            )
            DomainEvent.objects.filter(id__in=[d.id for d in batch]).update(shipped_at=now)
            shipped += len(batch)
    return shipped


def _pending_table(rows: list[tuple[Any, ...]]) -> pa.Table:
    """Store rows as a lake table; the person as received is the source of the identity map."""
    cols: list[list[Any]] = [[] for _ in range(9)]
    for row in rows:
        for i, value in enumerate(row[1:]):
            cols[i].append(value)
    table = pa.Table.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(cols, lake.EVENT_SCHEMA, strict=True)], schema=lake.EVENT_SCHEMA
    )
    return lake.conform(table)


def identity_map_for(table: pa.Table, *, devices_known: bool = False) -> lake.IdentityMap:
    """The identity map restricted to a table's devices and persons (a few `IN (...)` queries).

    `devices_known`: the rows' devices were looked up when they were checked (the importer), so only
    merges are looked up."""
    table = lake.conform(table)
    source = table.column("source_person_id")
    devices: dict[str, int] = {}
    if not devices_known:
        anon = table.column("anonymous_id").filter(pc.is_null(source))
        devices = device_persons(a for a in pc.unique(anon).to_pylist() if a)
    persons = {p for p in pc.unique(source).to_pylist() if p is not None} | set(devices.values())
    redirects = {p: live for p, live in live_persons(persons).items() if p != live}
    return lake.IdentityMap(devices, redirects)


def identity_map_current() -> lake.IdentityMap:
    """The whole identity map: every identified device, every live merge (`people.merge.person_redirects`)."""
    devices = dict(IdentityLink.objects.values_list("anonymous_id", "person_id").iterator(chunk_size=20_000))
    return lake.IdentityMap(devices, person_redirects())


def pending_flush(*, lake_url: str | None = None, batch: int = FLUSH_BATCH) -> dict[str, int]:
    """Write pending events to the lake, then delete exactly the rows written (or found there)."""
    lake_url = lake_url or settings.LAKE_URL
    totals = {"written": 0, "duplicates": 0}
    fields = ("id", *lake.COLUMNS)  # `_pending_table` reads the rows in the lake's column order
    with lake.lake_lock(lake_url):
        lake.recover(lake_url)
        last = 0
        while True:
            rows = list(PendingEvent.objects.filter(id__gt=last).order_by("id").values_list(*fields)[:batch])
            if not rows:
                break
            last = rows[-1][0]
            table = _pending_table(rows)
            counts = lake.append(lake_url, identity_map_for(table).apply(table))
            lake._crash_point("flush_before_delete")
            for part in chunks([r[0] for r in rows]):
                PendingEvent.objects.filter(id__in=part).delete()
            totals["written"] += counts["written"]
            totals["duplicates"] += counts["duplicates"]
    return totals


def lake_compact(*, lake_url: str | None = None) -> dict[str, int]:
    """Merge each date partition's small files into one and apply the identity map; safe to rerun and
    to kill at any point.

    Identity: the map last applied to the whole lake is kept in the lake (`identity/*.parquet`). The
    entries that changed since (devices identified, merges done or undone) are looked for in every
    partition (two columns read); a partition holding an affected row is rewritten with its persons
    resolved, like a compaction. The new map is saved only after every partition is done, so a job
    killed half way redoes the search on its next run.
    """
    lake_url = lake_url or settings.LAKE_URL
    totals = {"partitions": 0, "files_in": 0, "rows": 0, "duplicates": 0, "reresolved": 0}
    with lake.lake_lock(lake_url):
        totals["recovered"] = lake.recover(lake_url)
        current = identity_map_current()
        changes = current.changes_from(lake.IdentityMap.load(lake_url))
        changed = bool(changes.devices or changes.redirects)
        for directory in lake.partitions(lake_url):
            force = changed and lake.partition_needs_identity(directory, changes)
            stats = lake.compact_partition(directory, current, force=force)
            if stats["rows"]:
                totals["partitions"] += 1
                totals["files_in"] += stats["files_in"]
                totals["rows"] += stats["rows"]
                totals["duplicates"] += stats["duplicates"]
                totals["reresolved"] += int(force)
        if changed or not (Path(lake_url) / lake.IDENTITY_DIR).exists():
            current.save(lake_url)
    return totals


def lake_import_table(*, table: pa.Table, lake_url: str | None = None) -> dict[str, int]:
    """Write checked, resolved rows (the lake's columns but `received_at`, one row per event_id)
    straight to the lake."""
    lake_url = lake_url or settings.LAKE_URL
    now = timezone.now()
    names = [n for n in lake.COLUMNS if n != "received_at"]
    stamp = int(now.timestamp() * 1_000_000)
    received = pa.array(np.full(table.num_rows, stamp, dtype=np.int64)).cast(pa.timestamp("us", tz="UTC"))
    table = lake.conform(table.select(names).append_column("received_at", received))
    table = identity_map_for(table, devices_known=True).apply(table)
    with lake.lake_lock(lake_url):
        lake.recover(lake_url)
        return lake.append(lake_url, table, unique=True)


# --- the dead-letter store: retry or discard, HQ only, audited ------------------------------------


def require_hq(actor: Actor) -> None:
    if actor.scope != Scope.ALL or actor.role not in (Role.HQ_ADMIN, Role.HQ_OPERATOR):
        raise PermissionDenied(f"{actor.label} may not handle rejected events (HQ only)")


def _dead_rows(ids: Sequence[int]) -> list[RejectedEvent]:
    if not ids:
        raise FieldError("ids", "choose at least one rejected event")
    rows = list(RejectedEvent.objects.select_for_update().filter(id__in=sorted(set(ids))).order_by("id"))
    missing = sorted(set(ids) - {r.id for r in rows})
    if missing:
        raise NotFound(f"rejected event {missing[0]} does not exist (already retried or discarded?)")
    return rows


@transaction.atomic
def dead_letters_retry(*, actor: Actor, ids: Sequence[int], ip: str | None = None) -> dict[str, int]:
    """Send rejected events through ingestion again (e.g. after HQ declared the missing event type).

    Accepted (or already stored) events leave the dead-letter store; those still rejected stay, with
    the new reason. Each retry is audited with its outcome.
    """
    require_hq(actor)
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for row in _dead_rows(ids):
        try:
            raw: Any = json.loads(row.payload) if row.payload else None
        except ValueError:
            raw = None
        if isinstance(raw, dict):
            outcome = events_ingest(actor=actor, raw_events=[raw], source="retry", dead_letters=False).outcomes[0]
            status, field_name, reason = outcome.status, outcome.field, outcome.reason
        else:
            status, field_name, reason = "rejected", row.field, row.reason
        counts[status] += 1
        audit(
            actor=actor,
            action="tracking.dead_letter.retry",
            obj_type="tracking.RejectedEvent",
            obj_id=row.id,
            summary={"event_id": row.event_id, "outcome": status, "field": field_name or "", "reason": reason or ""},
            ip=ip,
        )
        if status == "rejected":
            RejectedEvent.objects.filter(id=row.id).update(field=(field_name or "")[:80], reason=(reason or "")[:300])
        else:
            row.delete()
    return counts


@transaction.atomic
def dead_letters_discard(*, actor: Actor, ids: Sequence[int], reason: str = "", ip: str | None = None) -> int:
    """Drop rejected events for good (e.g. test traffic); each discard is audited with its reason."""
    require_hq(actor)
    rows = _dead_rows(ids)
    for row in rows:
        audit(
            actor=actor,
            action="tracking.dead_letter.discard",
            obj_type="tracking.RejectedEvent",
            obj_id=row.id,
            summary={"event_id": row.event_id, "source": row.source, "field": row.field, "reason": row.reason},
            reason=reason,
            ip=ip,
        )
        row.delete()
    return len(rows)

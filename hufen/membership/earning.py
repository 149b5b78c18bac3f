"""The earning job: apply the active earning rules to the event stream, award points, log decisions.

Source. Every event — sent through the API or the importer, or published by the platform's own
services into the DomainEvent outbox — ends up in the ONE DATA lake. The job first runs the tracking
flush (outbox → write-ahead store → lake; idempotent and serialized by the lake lock), then reads
the lake through DuckDB: the events *received* since the durable watermark (less a look-back margin
for transactions that committed late), of the names some active rule listens to. Late events with
an old `ts` are still seen, because the watermark is on `received_at`, not `ts`.

Exactly once. Each (rule, event) gets one `EarningDecision` row (unique), written in the same
transaction as the award, under the member's account lock; the award's idempotency key is
`rule:<rule id>:<event id>`. Replaying a window, overlapping windows and concurrent jobs therefore
never award twice, and caps are counted under the same lock so concurrent jobs cannot both slip under
them. Decisions are kept for skips too (capped, conditions not met, not a member), so every outcome
can be explained.

Batched. Each read batch of events is judged in ONE transaction (`judge_members`): the accounts of
its members are locked in id order, decisions already taken and the caps' usage are read in one query
each, the awards go through the ledger's set-based path (`ledger_batch.points_award_batch`) and the
decisions are bulk inserted. The tier-upgrade check runs once per member and batch, so a member who
crosses a threshold in the middle of a batch earns the new multiplier from the next batch on.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hufen.common.actors import SYSTEM, Actor
from hufen.membership.ledger_batch import AwardItem, points_award_batch
from hufen.membership.models import (
    EarningCursor,
    EarningDecision,
    EarningRule,
    Member,
    PointsAccount,
    PointsEntry,
)
from hufen.membership.programs import zone_of
from hufen.membership.rules import condition_failed, multiplied
from hufen.people.models import Person

CURSOR = "earning"
# Events whose write-ahead row committed up to this long after it was stamped are still seen.
LOOKBACK = dt.timedelta(minutes=10)
AWARDED = ("awarded", "truncated")
READ_BATCH = 10_000


@dataclass(frozen=True)
class StreamEvent:
    event_id: str
    name: str
    ts: dt.datetime
    person_id: int | None
    properties: dict[str, Any]


@dataclass
class EarnResult:
    since: str
    until: str
    events: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    points: int = 0
    already_decided: int = 0
    unresolved: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "events": self.events,
            "outcomes": dict(sorted(self.outcomes.items())),
            "points": self.points,
            "already_decided": self.already_decided,
            "unresolved": self.unresolved,
            "seconds": self.seconds,
        }


# --- reading the stream ------------------------------------------------------------------------------


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def read_events(
    *, lake_url: str, since: dt.datetime, names: set[str], earliest_ts: dt.datetime, batch: int = READ_BATCH
) -> Iterator[list[StreamEvent]]:
    """Events of `names` received at or after `since` with `ts >= earliest_ts`, one per event_id,
    in `ts` order and in batches, so that a first run over a large lake does not hold it in memory."""
    import os

    from hufen.analytics.engines import DuckDBEngine, LakeError

    if not names or not os.path.isdir(os.path.join(lake_url, "events")):
        return
    try:
        engine = DuckDBEngine(lake_url, threads=1)
    except LakeError:
        return
    span = (int(earliest_ts.timestamp() * 1e6), int((timezone.now() + dt.timedelta(days=2)).timestamp() * 1e6))
    if not engine.files(span=span):
        return
    listed = ", ".join(_lit(n) for n in sorted(names))
    # Compaction may briefly show an event twice: keep one row per event_id.
    sql = f"""
        SELECT event_id, event, epoch_us(ts), person_id, properties
        FROM {engine.source(span=span)}
        WHERE received_at >= TIMESTAMPTZ {_lit(since.isoformat())}
          AND ts >= TIMESTAMPTZ {_lit(earliest_ts.isoformat())}
          AND event IN ({listed})
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY received_at) = 1
        ORDER BY ts, event_id
    """
    cursor = engine.con.execute(sql)
    while True:
        rows = cursor.fetchmany(batch)
        if not rows:
            return
        yield [_stream_event(*row) for row in rows]


def _stream_event(event_id: Any, name: Any, ts_us: Any, person_id: Any, props: Any) -> StreamEvent:
    # Timestamps cross as epoch microseconds: DuckDB's TIMESTAMPTZ → datetime conversion needs pytz.
    try:
        properties = json.loads(props) if props else {}
    except ValueError:
        properties = {}
    return StreamEvent(
        event_id=str(event_id),
        name=str(name),
        ts=dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(ts_us)),
        person_id=int(person_id) if person_id is not None else None,
        properties=properties if isinstance(properties, dict) else {},
    )


# --- the job -----------------------------------------------------------------------------------------


def points_earn(
    *,
    actor: Actor = SYSTEM,
    since: dt.datetime | None = None,
    lake_url: str | None = None,
    flush: bool = True,
) -> EarnResult:
    """Judge the events received since the watermark (or `since`), then move the watermark on.

    Safe to run twice, over overlapping windows, and concurrently.
    """
    started = time.monotonic()
    lake_url = lake_url or settings.LAKE_URL
    until = timezone.now()
    cursor = EarningCursor.objects.filter(name=CURSOR).first()
    if since is None:
        since = (cursor.position - LOOKBACK) if cursor else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    result = EarnResult(since=since.isoformat(), until=until.isoformat())
    if flush:
        from hufen.tracking.tasks import tracking_flush

        tracking_flush(lake_url=lake_url)
    rules = list(EarningRule.objects.filter(active=True).select_related("program__brand"))
    by_event: dict[str, list[EarningRule]] = defaultdict(list)
    for rule in rules:
        by_event[rule.event].append(rule)
    if rules:
        earliest = min(r.valid_from for r in rules)
        resolver = _Resolver()
        for events in read_events(
            lake_url=lake_url, since=since, names=set(by_event), earliest_ts=earliest, batch=READ_BATCH
        ):
            result.events += len(events)
            _judge_all(actor, events, by_event, result, resolver)
    _advance(until)
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _advance(until: dt.datetime) -> None:
    """Move the watermark forward only: a replay with an old `since` never moves it back."""
    with transaction.atomic():
        cursor, created = EarningCursor.objects.select_for_update().get_or_create(
            name=CURSOR, defaults={"position": until}
        )
        if not created and cursor.position < until:
            cursor.position = until
            cursor.save(update_fields=["position", "updated_at"])


class _Resolver:
    """Person → surviving person (after merges) → member of a program, cached for one run."""

    def __init__(self) -> None:
        self.persons: dict[int, int | None] = {}
        self.members: dict[tuple[int, int], Member | None] = {}

    def person(self, person_id: int) -> int | None:
        if person_id not in self.persons:
            current = person_id
            found: int | None = None
            for _ in range(10):  # merges chain at most a few hops; a cycle must not loop forever
                row = Person.objects.filter(pk=current).values_list("status", "merged_into_id").first()
                if row is None:
                    break
                status, merged_into = row
                if status != "merged" or merged_into is None:
                    found = current
                    break
                current = merged_into
            self.persons[person_id] = found
        return self.persons[person_id]

    def member(self, program_id: int, person_id: int) -> Member | None:
        key = (program_id, person_id)
        if key not in self.members:
            self.members[key] = (
                Member.objects.select_related("program__brand")
                .filter(program_id=program_id, person_id=person_id)
                .first()
            )
        return self.members[key]


def _judge_all(
    actor: Actor,
    events: list[StreamEvent],
    by_event: dict[str, list[EarningRule]],
    result: EarnResult,
    resolver: _Resolver,
) -> None:
    for start in range(0, len(events), 1000):
        batch = events[start : start + 1000]
        decided = set(
            EarningDecision.objects.filter(event_id__in=[e.event_id for e in batch]).values_list("rule_id", "event_id")
        )
        skipped: list[EarningDecision] = []
        # Awards are grouped by member: one transaction (and one account lock) per member and batch.
        work: dict[int, tuple[Member, list[tuple[EarningRule, StreamEvent]]]] = {}
        for event in batch:
            for rule in by_event.get(event.name, ()):
                if not (rule.valid_from <= event.ts and (rule.valid_until is None or event.ts < rule.valid_until)):
                    continue
                if (rule.pk, event.event_id) in decided:
                    result.already_decided += 1
                    continue
                person_id = resolver.person(event.person_id) if event.person_id else None
                if person_id is None:
                    result.unresolved += 1
                    continue
                member = resolver.member(rule.program_id, person_id)
                failed = condition_failed(rule.conditions, event.properties)
                if member is None or failed:
                    outcome = "not_member" if member is None else "conditions_not_met"
                    skipped.append(_decision(rule, event, person_id, member, outcome, detail=failed or ""))
                    result.outcomes[outcome] += 1
                    continue
                work.setdefault(member.pk, (member, []))[1].append((rule, event))
        # One ledger transaction for the whole batch (set-based awards, one lock per account).
        for decision in judge_members(actor=actor, work=work) if work else []:
            if decision is None:
                result.already_decided += 1
            else:
                result.outcomes[decision.outcome] += 1
                result.points += decision.points
        # A concurrent job may have logged the same skip: the unique index keeps one.
        EarningDecision.objects.bulk_create(skipped, ignore_conflicts=True)


def _decision(
    rule: EarningRule,
    event: StreamEvent,
    person_id: int,
    member: Member | None,
    outcome: str,
    *,
    detail: str = "",
    base: int = 0,
    multiplier: Any = 1,
    points: int = 0,
    entry: PointsEntry | None = None,
) -> EarningDecision:
    return EarningDecision(
        rule=rule,
        event_id=event.event_id,
        event_ts=event.ts,
        person_id=person_id,
        member=member,
        outcome=outcome,
        base_points=base,
        multiplier=multiplier,
        points=points,
        entry=entry,
        detail=detail[:300],
        decided_at=timezone.now(),
    )


def _period_bounds(rule: EarningRule, ts: dt.datetime, period: str) -> tuple[dt.datetime, dt.datetime]:
    """The brand-local day or month holding `ts`, as a half-open UTC window."""
    zone = zone_of(rule.program)
    local = ts.astimezone(zone).date()
    if period == "day":
        first, after = local, local + dt.timedelta(days=1)
    else:
        first = local.replace(day=1)
        after = dt.date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return (
        dt.datetime.combine(first, dt.time(), tzinfo=zone).astimezone(dt.UTC),
        dt.datetime.combine(after, dt.time(), tzinfo=zone).astimezone(dt.UTC),
    )


def _bucket(rule: EarningRule, member_id: int, ts: dt.datetime, period: str) -> tuple[int, int, str, dt.datetime]:
    return (rule.pk, member_id, period, _period_bounds(rule, ts, period)[0])


def _has_caps(rule: EarningRule) -> bool:
    caps = (rule.daily_cap_count, rule.monthly_cap_count, rule.daily_cap_points, rule.monthly_cap_points)
    return any(c is not None for c in caps)


class _Usage:
    """Awards already counted against the caps, per (rule, member, period, period start): read in
    one query under the account locks, then kept up to date as this batch decides."""

    def __init__(self, pairs: list[tuple[Member, EarningRule, StreamEvent]]) -> None:
        self.used: dict[tuple[int, int, str, dt.datetime], list[int]] = defaultdict(lambda: [0, 0])
        capped = [(m, r, e) for m, r, e in pairs if _has_caps(r)]
        if not capped:
            return
        windows = [_period_bounds(r, e.ts, p) for _, r, e in capped for p in ("day", "month")]
        rules = {r.pk: r for _, r, _ in capped}
        rows = EarningDecision.objects.filter(
            rule_id__in=rules,
            member_id__in={m.pk for m, _, _ in capped},
            outcome__in=AWARDED,
            event_ts__gte=min(w[0] for w in windows),
            event_ts__lt=max(w[1] for w in windows),
        ).values_list("rule_id", "member_id", "event_ts", "points")
        for rule_id, member_id, ts, points in rows:
            self.add(rules[rule_id], member_id, ts, points)

    def add(self, rule: EarningRule, member_id: int, ts: dt.datetime, points: int) -> None:
        for period in ("day", "month"):
            cell = self.used[_bucket(rule, member_id, ts, period)]
            cell[0] += 1
            cell[1] += points

    def allowed(self, rule: EarningRule, member_id: int, ts: dt.datetime, amount: int) -> tuple[int, str]:
        """How many points the caps leave for this award (0: skip), and why it was cut."""
        for period, count_cap, points_cap in (
            ("day", rule.daily_cap_count, rule.daily_cap_points),
            ("month", rule.monthly_cap_count, rule.monthly_cap_points),
        ):
            if count_cap is None and points_cap is None:
                continue
            n, used = self.used.get(_bucket(rule, member_id, ts, period), (0, 0))
            if count_cap is not None and n >= count_cap:
                return 0, f"{period} cap of {count_cap} awards reached"
            if points_cap is not None:
                left = points_cap - used
                if left <= 0:
                    return 0, f"{period} cap of {points_cap} points reached"
                if amount > left:
                    return left, f"{period} cap of {points_cap} points: {used} already earned"
        return amount, ""


@transaction.atomic
def judge_members(
    *, actor: Actor, work: dict[int, tuple[Member, list[tuple[EarningRule, StreamEvent]]]]
) -> list[EarningDecision | None]:
    """Decide many members' (rule, event) pairs in one transaction, each member's in event order.

    The members' accounts are locked first (in id order), so every other award to them queues and
    the caps count a settled ledger; the awards go through the batched ledger path in one go, and the
    decisions are bulk inserted. None for a pair some other run decided first.
    """
    member_ids = sorted(work)
    list(PointsAccount.objects.select_for_update().filter(member_id__in=member_ids).order_by("id").values("id"))
    pairs = [(work[mid][0], rule, event) for mid in member_ids for rule, event in work[mid][1]]
    decided = set(
        EarningDecision.objects.filter(event_id__in={e.event_id for _, _, e in pairs}).values_list(
            "rule_id", "event_id"
        )
    )
    fresh = {
        pk: (status, multiplier)
        for pk, status, multiplier in Member.objects.filter(pk__in=member_ids).values_list(
            "pk", "status", "tier__multiplier"
        )
    }
    usage = _Usage(pairs)
    out: list[EarningDecision | None] = []
    awards: list[tuple[EarningDecision, AwardItem]] = []
    for member, rule, event in pairs:
        if (rule.pk, event.event_id) in decided:
            out.append(None)
            continue
        decided.add((rule.pk, event.event_id))
        status, multiplier = fresh[member.pk]
        if status != "active":
            out.append(
                _decision(rule, event, member.person_id, member, "member_inactive", detail=f"member is {status}")
            )
            continue
        multiplier = multiplier if rule.apply_multiplier else Decimal(1)
        base = rule.points
        amount = multiplied(base, multiplier)
        allowed, why = usage.allowed(rule, member.pk, event.ts, amount)
        args: dict[str, Any] = {"base": base, "multiplier": multiplier}
        if allowed <= 0:
            out.append(_decision(rule, event, member.person_id, member, "capped", detail=why, **args))
            continue
        usage.add(rule, member.pk, event.ts, allowed)
        outcome = "truncated" if allowed < amount else "awarded"
        detail = why or f"{rule.event} → {base} × {multiplier}"
        decision = _decision(rule, event, member.person_id, member, outcome, detail=detail, points=allowed, **args)
        key = f"rule:{rule.pk}:{event.event_id}"
        awards.append((decision, AwardItem(member.pk, allowed, rule.reason, key, "event", event.event_id)))
        out.append(decision)
    results = points_award_batch(actor=actor, items=[item for _, item in awards])
    for (decision, _), result in zip(awards, results, strict=True):
        # A conflict: awarded before under another amount (the rule changed between a crash and
        # its replay): the first award stands and is what the log records.
        decision.entry = result.entry
        if result.entry is not None:
            decision.points = result.entry.amount
    EarningDecision.objects.bulk_create([d for d in out if d is not None])
    return out

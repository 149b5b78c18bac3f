"""The demo's membership and Member Day data: programs, tiers, catalogue, earning rules, members with a
points history, Member Day occurrences with check-ins and dealer sessions.

The configuration (programs, tiers, rules, benefits, occurrences, sessions) goes through the apps'
own services, so it is validated and audited like a console edit. Members and their ledgers are
bulk-written (tens of millions of rows at 1M persons): each member's history is simulated in
memory exactly as the ledger would record it - award lots with validity, spends and expiries taking
oldest-expiry-first with their lot movements, running `balance_after` - so `ledger_verify()` finds
nothing. Tiers follow the rolling qualifying points at the end of the history.

Idempotent and incremental: a person who is already a member of a program is skipped, so a second
run adds nothing and a bigger run adds members only for the new persons.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, Min, OuterRef

from hufen.common.actors import SYSTEM
from hufen.demo.writer import Pipeline, Row, RowWriter
from hufen.identity.models import SourceRecord
from hufen.memberday.models import CheckIn, Occurrence, Session, Task, TaskCompletion
from hufen.memberday.services import memberday_schedule
from hufen.memberday.sessions import session_create
from hufen.membership.catalogue import benefit_add
from hufen.membership.models import (
    BenefitItem,
    EarningRule,
    LotMovement,
    Member,
    PointsAccount,
    PointsEntry,
    PointsLot,
    Program,
    Redemption,
    TierDefinition,
    TierHistory,
)
from hufen.membership.programs import add_months, lot_expires_at, program_for_brand
from hufen.membership.rules import rule_create
from hufen.org.models import Brand, Dealer
from hufen.people.models import Ownership, Person

MEMBER_PER_MILLE = 350  # owners who joined the brand's program
PROSPECT_MEMBER_PER_MILLE = 80  # prospects (no car yet) who joined anyway
CHUNK_MEMBERS = 5_000
DELIVERY_POINTS = 20_000
ACTOR_LABEL = "system:demo"

# code, name, event, points, reason, daily cap (count)
EARNING_RULES = (
    ("daily-check-in", "每日签到", "daily_check_in", 5, "check_in", 1),
    ("post", "社区发帖", "post_created", 10, "community_post", 3),
    ("experience", "参加体验活动", "experience_attended", 50, "experience", None),
    ("referral", "推荐好友购车", "referral_delivered", 5_000, "referral", None),
    ("delivery", "新车交付奖励", "vehicle_delivered", DELIVERY_POINTS, "purchase", None),
)

# code, name, description, points, cash (fen), stock, per member, min tier
BENEFITS = (
    ("car-wash", "免费洗车券", "授权门店精洗一次，预约后到店使用", 300, 0, 50_000, 12, None),
    ("labour-80", "保养工时 8 折", "常规保养工时费 8 折，每次保养限用一张", 800, 0, 20_000, 4, None),
    ("merch-mug", "品牌周边·保温杯", "品牌定制 500ml 保温杯，门店领取", 1_500, 0, 5_000, 2, None),
    ("merch-model", "品牌周边·1:43 车模", "合金车模，限量发售", 6_000, 9_900, 800, 1, "silver"),
    ("aircon-clean", "空调系统清洗", "空调管路杀菌清洗一次", 2_000, 0, 8_000, 2, None),
    ("pickup", "免费取送车", "保养维修上门取送车一次（30 公里内）", 3_000, 0, 10_000, 4, "gold"),
    ("charging-100", "充电卡 100 元", "合作充电网络 100 元储值", 9_000, 0, 3_000, 3, None),
    ("lounge", "机场贵宾厅", "国内机场贵宾厅单次使用", 12_000, 0, 1_000, 4, "black"),
)

# Activity awards drawn for a member's history: reason, points, weight.
ACTIVITY = (("check_in", 5, 50), ("community_post", 10, 25), ("experience", 50, 8), ("service_visit", 300, 12))
ACTIVITY_WEIGHTS = [w for _, _, w in ACTIVITY]

SESSION_TITLES = ("会员日新车品鉴会", "车主养护小课堂", "会员日试驾体验", "亲子洗车嘉年华")

MEMBER_FIELDS = ("id", "program_id", "person_id", "number", "status", "tier_id", "channel", "joined_at")
ACCOUNT_FIELDS = ("id", "member_id", "balance", "updated_at")
HISTORY_FIELDS = ("member_id", "from_tier_id", "to_tier_id", "reason", "qualifying_points", "changed_at")
ENTRY_FIELDS = (
    "id", "account_id", "kind", "amount", "reason", "ref_type", "ref_id", "idempotency_key", "actor_label",
    "reverses_id", "balance_after", "created_at",
)  # fmt: skip
LOT_FIELDS = ("id", "account_id", "entry_id", "amount", "remaining", "expires_at")
MOVEMENT_FIELDS = ("entry_id", "lot_id", "amount")
REDEMPTION_FIELDS = (
    "member_id", "item_id", "quantity", "points", "cash_fen", "status", "spend_entry_id", "idempotency_key",
    "created_at", "updated_at",
)  # fmt: skip
CHECKIN_FIELDS = (
    "occurrence_id", "member_id", "person_id", "dealer_id", "points", "entry_id", "channel", "actor_label",
    "checked_in_at",
)  # fmt: skip

COMPLETION_FIELDS = ("task_id", "occurrence_id", "member_id", "dealer_id", "points", "entry_id", "ref", "completed_at")


@dataclass
class LoyaltyRows:
    members: list[Row] = field(default_factory=list)
    accounts: list[Row] = field(default_factory=list)
    history: list[Row] = field(default_factory=list)
    entries: list[Row] = field(default_factory=list)
    lots: list[Row] = field(default_factory=list)
    movements: list[Row] = field(default_factory=list)
    redemptions: list[Row] = field(default_factory=list)
    checkins: list[Row] = field(default_factory=list)
    completions: list[Row] = field(default_factory=list)


@dataclass
class _Lot:
    id: int
    entry_id: int
    amount: int
    remaining: int
    expires_at: dt.datetime


@dataclass
class _ProgramInfo:
    program: Program
    tiers: list[TierDefinition]  # by rank
    items: list[BenefitItem]
    occurrences: list[Occurrence]  # past ones, oldest first
    share_tasks: dict[int, Task] = field(default_factory=dict)  # occurrence id -> its "share" task

    @property
    def tasks_by_id(self) -> dict[int, Task]:
        return {t.pk: t for t in self.share_tasks.values()}


@dataclass
class _Ids:
    member: int
    account: int
    entry: int
    lot: int


def demo_now(today: dt.date) -> dt.datetime:
    """The generator's "now": noon Beijing time of `today`."""
    return dt.datetime(today.year, today.month, today.day, 4, tzinfo=dt.UTC)


# --- configuration through the services ------------------------------------------------------------


def ensure_programs(today: dt.date) -> dict[int, _ProgramInfo]:
    """Each brand's program with its tiers, catalogue, earning rules and Member Days."""
    now = demo_now(today)
    out: dict[int, _ProgramInfo] = {}
    for brand in Brand.objects.order_by("id"):
        program = program_for_brand(brand)
        _ensure_rules(program, now)
        _ensure_benefits(program)
        occurrences = _ensure_memberdays(brand, now)
        out[brand.pk] = _ProgramInfo(
            program=program,
            tiers=list(TierDefinition.objects.filter(program=program).order_by("rank")),
            items=list(BenefitItem.objects.filter(program=program, min_tier__isnull=True).order_by("points_price")),
            occurrences=[o for o in occurrences if o.ends_at <= now],
            share_tasks={
                t.occurrence_id: t for t in Task.objects.filter(occurrence__in=occurrences, kind="share", points__gt=0)
            },
        )
    return out


def _ensure_rules(program: Program, now: dt.datetime) -> None:
    have = set(EarningRule.objects.filter(program=program).values_list("code", flat=True))
    start = dt.datetime(now.year - 3, 1, 1, tzinfo=dt.UTC)
    for code, name, event, points, reason, daily in EARNING_RULES:
        if code in have:
            continue
        values: dict[str, Any] = {
            "name": name,
            "event": event,
            "points": points,
            "reason": reason,
            "daily_cap_count": daily,
            "apply_multiplier": code not in ("referral", "delivery"),
            "valid_from": start,
        }
        rule_create(actor=SYSTEM, program=program, code=code, values=values)


def _ensure_benefits(program: Program) -> None:
    have = set(BenefitItem.objects.filter(program=program).values_list("code", flat=True))
    for code, name, description, points, cash, stock, limit, tier in BENEFITS:
        if code in have:
            continue
        values: dict[str, Any] = {
            "name": name,
            "description": description,
            "points_price": points,
            "cash_price_fen": cash,
            "stock": stock,
            "per_member_limit": limit,
            "min_tier": tier,
        }
        benefit_add(actor=SYSTEM, program=program, code=code, values=values)


def _ensure_memberdays(brand: Brand, now: dt.datetime) -> list[Occurrence]:
    """The Member Days of the last two months, this month and the next, and a few dealer sessions."""
    two_months_ago = dt.datetime.combine(add_months(now.date(), -2), now.timetz())
    occurrences = memberday_schedule(actor=SYSTEM, brand=brand, months=4, now=two_months_ago)
    dealers = list(Dealer.objects.filter(brands=brand).order_by("id")[:3])
    for occurrence in occurrences:
        if Session.objects.filter(occurrence=occurrence).exists():
            continue
        for i, dealer in enumerate(dealers):
            starts = occurrence.starts_at + dt.timedelta(hours=10 + 4 * (i % 2))  # 10:00 or 14:00 brand time
            session_create(
                actor=SYSTEM,
                occurrence=occurrence,
                dealer=dealer,
                title=SESSION_TITLES[(occurrence.day.month + i) % len(SESSION_TITLES)],
                location=f"{dealer.name}展厅",
                starts_at=starts,
                ends_at=starts + dt.timedelta(hours=2),
                capacity=30 + 10 * i,
            )
    return sorted(occurrences, key=lambda o: o.day)


# --- members and ledgers, in bulk --------------------------------------------------------------------


def candidates(
    programs: dict[int, _ProgramInfo], forced: set[int]
) -> Iterable[tuple[_ProgramInfo, int, dt.datetime | None]]:
    """(program, person id, first delivery of the brand or None) for each person who should be a member
    and is not yet one. Chosen by a fixed hash of the ids, so the choice does not depend on run order."""
    for brand_id, info in programs.items():
        existing = set(Member.objects.filter(program=info.program).values_list("person_id", flat=True))
        owners = (
            Ownership.objects.filter(role="owner", vehicle__model__brand_id=brand_id, person__status="active")
            .values_list("person_id")
            .annotate(first=Min("delivered_at"))
            .order_by("person_id")
        )
        owned: set[int] = set()
        for pid, first in owners.iterator(chunk_size=20_000):
            owned.add(pid)
            if pid not in existing and (pid in forced or _per_mille(pid, brand_id) < MEMBER_PER_MILLE):
                yield info, pid, first
        # The demo owner signs in to the portal's default brand whichever brand they drive.
        for pid in sorted(forced - existing - owned):
            yield info, pid, None
        # Persons that ONE ID linking created from a demo record (see identity.py) are not the demo's
        # own, and were not there when earlier runs chose members: they never join.
        prospects = (
            Person.objects.filter(status="active", ownerships__isnull=True)
            .exclude(Exists(SourceRecord.objects.filter(person_id=OuterRef("pk"))))
            .values_list("id", flat=True)
            .order_by("id")
        )
        ids = list(programs)
        for pid in prospects.iterator(chunk_size=20_000):
            if ids[pid % len(ids)] != brand_id or pid in existing:
                continue
            if _per_mille(pid, brand_id) < PROSPECT_MEMBER_PER_MILLE:
                yield info, pid, None


def _per_mille(pid: int, brand_id: int) -> int:
    return ((pid * 2_654_435_761 + brand_id * 40_503) >> 7) % 1000


class LedgerBuilder:
    """Simulates members' ledgers exactly as hufen.membership.ledger writes them."""

    def __init__(self, writer: RowWriter, *, seed: int, today: dt.date, forced: set[int]) -> None:
        self.writer = writer
        self.now = demo_now(today)
        self.start = self.now - dt.timedelta(days=3 * 365)
        self.rng = random.Random(f"hufen-demo-loyalty:{seed}:{Member.objects.count()}")
        self.forced = forced
        self.ids = _Ids(
            member=writer.next_id(Member),
            account=writer.next_id(PointsAccount),
            entry=writer.next_id(PointsEntry),
            lot=writer.next_id(PointsLot),
        )
        self.rows = LoyaltyRows()
        self.members = 0
        self.numbers: dict[int, int] = {}
        self.tables = [
            (writer.table(Member, MEMBER_FIELDS), "members"),
            (writer.table(PointsAccount, ACCOUNT_FIELDS), "accounts"),
            (writer.table(TierHistory, HISTORY_FIELDS), "history"),
            (writer.table(PointsEntry, ENTRY_FIELDS), "entries"),
            (writer.table(PointsLot, LOT_FIELDS), "lots"),
            (writer.table(LotMovement, MOVEMENT_FIELDS), "movements"),
            (writer.table(Redemption, REDEMPTION_FIELDS), "redemptions"),
            (writer.table(CheckIn, CHECKIN_FIELDS), "checkins"),
            (writer.table(TaskCompletion, COMPLETION_FIELDS), "completions"),
        ]

    def run(self, programs: dict[int, _ProgramInfo]) -> int:
        """Simulate and write the new members. The candidates are read first: while the pipeline's
        worker writes on this thread's connection, the simulation must not touch the database."""
        candidates_left = list(candidates(programs, self.forced))
        with Pipeline(self._write) as pipeline:
            for info, pid, first in candidates_left:
                self.member(info, pid, first)
                if len(self.rows.members) >= CHUNK_MEMBERS:
                    pipeline.put(self.rows)
                    self.rows = LoyaltyRows()
            pipeline.put(self.rows)
            self.rows = LoyaltyRows()
        for info in programs.values():
            if info.program.pk in self.numbers:
                Program.objects.filter(pk=info.program.pk).update(next_number=self.numbers[info.program.pk])
        self.writer.reset_sequences([Member, PointsAccount, PointsEntry, PointsLot])
        return self.members

    def _write(self, rows: LoyaltyRows) -> None:
        for table, attr in self.tables:  # described on the main thread in __init__
            self.writer.write(table, getattr(rows, attr))

    def member(self, info: _ProgramInfo, pid: int, first_delivery: dt.datetime | None) -> None:
        rng, now, program = self.rng, self.now, info.program
        active = pid in self.forced
        base = max(first_delivery or self.start, self.start)
        joined = min(base + dt.timedelta(days=rng.random() * 20), now - dt.timedelta(days=1))
        number = self.numbers.get(program.pk, program.next_number)
        self.numbers[program.pk] = number + 1
        member_id, account_id = self.ids.member, self.ids.account
        self.ids.member += 1
        self.ids.account += 1
        self.members += 1

        level = 2 if active else rng.choices((0, 1, 2), (30, 50, 20))[0]
        span = (now - joined).total_seconds()
        events: list[tuple[dt.datetime, str, int, str, str]] = []  # when, reason, points, ref type, ref id
        if first_delivery is not None and first_delivery >= joined - dt.timedelta(days=30):
            events.append((joined + dt.timedelta(minutes=5), "purchase", DELIVERY_POINTS, "vehicle_delivered", ""))
        n = (rng.randint(0, 2), rng.randint(3, 10), rng.randint(10, 35))[level]
        for _ in range(n):
            reason, points, _w = rng.choices(ACTIVITY, ACTIVITY_WEIGHTS)[0]
            events.append((joined + dt.timedelta(seconds=rng.random() * span), reason, points, "", ""))
        if rng.random() < (0.02, 0.03, 0.08)[level]:
            events.append((joined + dt.timedelta(seconds=rng.random() * span), "referral", 5_000, "", ""))
        if active:  # the demo owner referred a friend this year: a silver card worth showing
            events.append((now - dt.timedelta(days=10 + rng.random() * 120), "referral", 5_000, "", ""))
        share = (0.02, 0.15, 0.5)[level]
        for occ in info.occurrences:
            if occ.starts_at > joined and rng.random() < share:
                at = occ.starts_at + dt.timedelta(seconds=3600 * 8 + rng.random() * 13 * 3600)
                events.append((at, "memberday", occ.checkin_points, "memberday_occurrence", str(occ.pk)))
                task = info.share_tasks.get(occ.pk)
                if task is not None and rng.random() < 0.4:
                    done_at = at + dt.timedelta(minutes=1 + rng.random() * 30)
                    if done_at < occ.ends_at:
                        events.append((done_at, "share", task.points, "memberday_task", str(task.pk)))
        spends = (0, rng.randint(0, 1), rng.randint(1, 3))[level]
        for _ in range(spends):
            events.append((joined + dt.timedelta(seconds=rng.random() * span), "redeem", 0, "", ""))
        events.sort(key=lambda e: e[0])

        ledger = _Ledger(self, account_id)
        for when, reason, points, ref_type, ref_id in events:
            ledger.expire_due(when)
            if reason == "redeem":
                item = self._affordable(info, ledger.balance, rng)
                if item is not None:
                    entry_id = ledger.spend(when, item.points_price, "redemption", "redemption", item.code)
                    key = f"demo:redeem:{entry_id}"
                    self.rows.redemptions.append(
                        (
                            member_id,
                            item.pk,
                            1,
                            item.points_price,
                            item.cash_price_fen,
                            "fulfilled",
                            entry_id,
                            key,
                            when,
                            when,
                        )
                    )
                continue
            if reason == "memberday":
                entry_id = ledger.award(
                    when, points, "check_in", info, ref_type, ref_id, key=f"memberday:{ref_id}:checkin"
                )
                self.rows.checkins.append(
                    (int(ref_id), member_id, pid, None, points, entry_id, "h5", ACTOR_LABEL, when)
                )
                continue
            if reason == "share":
                task = info.tasks_by_id[int(ref_id)]
                key = f"memberday:{task.occurrence_id}:task:{task.kind}"
                entry_id = ledger.award(when, points, "memberday_task", info, ref_type, ref_id, key=key)
                self.rows.completions.append(
                    (task.pk, task.occurrence_id, member_id, None, points, entry_id, "分享至微信朋友圈", when)
                )
                continue
            ledger.award(when, points, reason, info, ref_type, ref_id)
        ledger.expire_due(now)
        ledger.finish()

        window_start = dt.datetime.combine(add_months(now.date(), -12), now.timetz())
        qualifying = sum(p for when, p in ledger.awards if window_start <= when < now)
        tier = info.tiers[0]
        for t in info.tiers:
            if t.threshold <= qualifying:
                tier = t
        channel = "dealer" if first_delivery is not None else rng.choice(("app", "wechat", "h5"))
        self.rows.members.append(
            (member_id, program.pk, pid, f"{program.number_prefix}{number:09d}", "active", tier.pk, channel, joined)
        )
        self.rows.accounts.append((account_id, member_id, ledger.balance, ledger.last or joined))
        self.rows.history.append((member_id, None, info.tiers[0].pk, "join", 0, joined))
        if tier.rank > 0:
            upgraded = max((when for when, _p in ledger.awards if when < now), default=joined)
            self.rows.history.append((member_id, info.tiers[0].pk, tier.pk, "upgrade", qualifying, upgraded))

    @staticmethod
    def _affordable(info: _ProgramInfo, balance: int, rng: random.Random) -> BenefitItem | None:
        items = [i for i in info.items if i.points_price <= balance]
        return rng.choice(items) if items else None


class _Ledger:
    """One account's entries, lots and movements, appended to the builder's rows in time order."""

    def __init__(self, builder: LedgerBuilder, account_id: int) -> None:
        self.b = builder
        self.account_id = account_id
        self.balance = 0
        self.lots: list[_Lot] = []
        self.awards: list[tuple[dt.datetime, int]] = []
        self.seq = 0
        self.last: dt.datetime | None = None

    def _entry(
        self, when: dt.datetime, kind: str, amount: int, reason: str, ref_type: str, ref_id: str, key: str
    ) -> int:
        entry_id = self.b.ids.entry
        self.b.ids.entry += 1
        self.balance += amount
        self.seq += 1
        key = key or f"demo:{self.seq}"
        self.b.rows.entries.append(
            (
                entry_id,
                self.account_id,
                kind,
                amount,
                reason,
                ref_type,
                ref_id,
                key,
                ACTOR_LABEL,
                None,
                self.balance,
                when,
            )
        )
        self.last = when
        return entry_id

    def award(
        self, when: dt.datetime, amount: int, reason: str, info: _ProgramInfo, ref_type: str, ref_id: str, key: str = ""
    ) -> int:
        entry_id = self._entry(when, "award", amount, reason, ref_type, ref_id, key)
        expires = lot_expires_at(info.program, when)
        lot = _Lot(self.b.ids.lot, entry_id, amount, amount, expires)
        self.b.ids.lot += 1
        self.lots.append(lot)
        self.lots.sort(key=lambda x: (x.expires_at, x.id))
        self.awards.append((when, amount))
        return entry_id

    def spend(self, when: dt.datetime, amount: int, reason: str, ref_type: str, ref_id: str) -> int:
        entry_id = self._entry(when, "spend", -amount, reason, ref_type, ref_id, "")
        self._take(entry_id, [lot for lot in self.lots if lot.remaining > 0], amount)
        return entry_id

    def expire_due(self, when: dt.datetime) -> None:
        """Expire lots due by `when`, one entry per expiry instant, as the nightly job would have."""
        while True:
            due = [lot for lot in self.lots if lot.remaining > 0 and lot.expires_at <= when]
            if not due:
                return
            instant = min(lot.expires_at for lot in due)
            batch = [lot for lot in due if lot.expires_at <= instant]
            total = sum(lot.remaining for lot in batch)
            entry_id = self._entry(instant, "expire", -total, "expiry", "", "", f"expire:{instant.isoformat()}:0")
            self._take(entry_id, batch, total)

    def _take(self, entry_id: int, lots: list[_Lot], amount: int) -> None:
        left = amount
        for lot in lots:
            if left == 0:
                break
            take = min(lot.remaining, left)
            lot.remaining -= take
            self.b.rows.movements.append((entry_id, lot.id, take))
            left -= take
        if left:
            raise AssertionError(f"demo: lots short by {left} points")

    def finish(self) -> None:
        """The lots with what is left of them, once the whole history is simulated."""
        for lot in sorted(self.lots, key=lambda x: x.id):
            self.b.rows.lots.append((lot.id, self.account_id, lot.entry_id, lot.amount, lot.remaining, lot.expires_at))

"""`generate_demo`: the whole demo dataset in one transaction, idempotent and resumable by size.

Re-running is safe: the organisation is matched by natural keys, and the persons already
generated are counted from the `demo.generate` audit rows (written in the same transaction as
the persons they count). Asking for more persons than exist adds only the difference, drawn from
a random stream seeded by (seed, persons present), so the same sequence of runs gives the same data.

Persons are generated in chunks of 5,000 and written (executemany on SQLite, COPY on PostgreSQL)
by a second thread while the next chunk is generated, so memory stays flat whatever the size.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.utils import timezone

from hufen.common.actors import SYSTEM
from hufen.common.audit import audit
from hufen.common.models import AuditEvent
from hufen.common.pii import FieldError
from hufen.demo import fakes
from hufen.demo.consents import ensure_consents
from hufen.demo.data import BRANDS
from hufen.demo.events import write_demo_events
from hufen.demo.identity import ensure_identity
from hufen.demo.logins import DEMO_OWNER_PHONE
from hufen.demo.loyalty import LedgerBuilder, ensure_programs
from hufen.demo.org import ensure_org
from hufen.demo.partners import ensure_partners
from hufen.demo.population import DEMO_HOUSEHOLDS, Population
from hufen.demo.rows import (
    ASSIGNMENT_FIELDS,
    CONTACT_FIELDS,
    HOUSEHOLD_FIELDS,
    OWNERSHIP_FIELDS,
    PERSON_FIELDS,
    VEHICLE_FIELDS,
    VISIT_FIELDS,
    Counters,
    Rows,
)
from hufen.demo.writer import Pipeline, RowWriter, Table
from hufen.identity.models import ReviewPair, SourceRecord
from hufen.memberday.models import CheckIn, Occurrence, TaskCompletion
from hufen.membership.models import Member, PointsAccount, PointsEntry, PointsLot
from hufen.org.models import Brand, Dealer, Grid, Region, Staff
from hufen.partners.models import Merchant, PerkRedemption
from hufen.partners.models import Offer as MerchantOffer
from hufen.people.models import (
    ButlerAssignment,
    ContactPoint,
    Household,
    Ownership,
    Person,
    ServiceVisit,
    Vehicle,
    VehicleModel,
)
from hufen.portal.models import ProgramConsent

DEFAULT_PERSONS = 50_000
DEFAULT_SEED = 2026
MAX_PERSONS = 20_000_000
MAX_SEED = 2**63 - 1
CHUNK_PERSONS = 5_000
AUDIT_ACTION = "demo.generate"

PEOPLE_TABLES = (
    Household, Person, ContactPoint, Vehicle, Ownership, ServiceVisit, ButlerAssignment,
    Member, PointsAccount, PointsEntry, PointsLot,
)  # fmt: skip
COUNTED: dict[str, type[models.Model]] = {
    "brands": Brand,
    "regions": Region,
    "dealers": Dealer,
    "staff": Staff,
    "grids": Grid,
    "vehicle_models": VehicleModel,
    "households": Household,
    "persons": Person,
    "contact_points": ContactPoint,
    "vehicles": Vehicle,
    "ownerships": Ownership,
    "service_visits": ServiceVisit,
    "butler_assignments": ButlerAssignment,
    "members": Member,
    "points_entries": PointsEntry,
    "points_lots": PointsLot,
    "memberday_occurrences": Occurrence,
    "memberday_checkins": CheckIn,
    "memberday_task_completions": TaskCompletion,
    "merchants": Merchant,
    "merchant_offers": MerchantOffer,
    "perk_redemptions": PerkRedemption,
    "source_records": SourceRecord,
    "review_pairs": ReviewPair,
    "program_consents": ProgramConsent,
}


@dataclass
class DemoResult:
    persons_requested: int
    persons_before: int
    persons_added: int
    seed: int
    seconds: float
    created: dict[str, int] = field(default_factory=dict)
    loyalty: dict[str, int] = field(default_factory=dict)  # members, partner merchants/offers added
    rows: dict[str, int] = field(default_factory=dict)
    events: dict[str, float] = field(default_factory=dict)  # behaviour events written into the lake

    @property
    def persons_present(self) -> int:
        return self.persons_before + self.persons_added


def check_persons(value: object) -> int:
    """The number of persons, or FieldError naming `persons` and why."""
    number = _whole_number(value, "persons")
    if number < 1:
        raise FieldError("persons", f"must be at least 1, got {number}", value)
    if number > MAX_PERSONS:
        raise FieldError("persons", f"must be at most {MAX_PERSONS:,}, got {number:,}", value)
    return number


def check_seed(value: object) -> int:
    number = _whole_number(value, "seed")
    if not 0 <= number <= MAX_SEED:
        raise FieldError("seed", f"must be between 0 and {MAX_SEED}, got {number}", value)
    return number


def _whole_number(value: object, name: str) -> int:
    if isinstance(value, bool):
        raise FieldError(name, f"must be a whole number, got {value!r}", value)
    if isinstance(value, int):
        return value
    text = str(value).strip().replace("_", "").replace(",", "")
    if not text.lstrip("+-").isdigit():
        raise FieldError(name, f"must be a whole number, got {value!r}", value)
    return int(text)


def demo_persons_present() -> int:
    """Persons added by earlier demo runs (their audit rows commit together with the persons)."""
    rows = AuditEvent.objects.filter(action=AUDIT_ACTION).values_list("summary", flat=True)
    return sum(int(s.get("persons_added", 0)) for s in rows if isinstance(s, dict))


def generate_demo(
    *,
    persons: int = DEFAULT_PERSONS,
    seed: int = DEFAULT_SEED,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    today: dt.date | None = None,
) -> DemoResult:
    """Create the demo organisation and `persons` persons (in total) with their cars and history.

    `on_start(n)` is told how many persons will be added, `on_progress(k)` each time k more are in.
    """
    persons, seed = check_persons(persons), check_seed(seed)
    asked_today = today is not None
    began = time.monotonic()
    today = today or timezone.now().date()
    # The wrapper itself, not the `connection` proxy: the proxy resolves per thread, and the writer
    # thread must use this thread's connection and transaction.
    writer = RowWriter(connections[DEFAULT_DB_ALIAS])
    with transaction.atomic():
        writer.lock(PEOPLE_TABLES)
        before = demo_persons_present()
        org = ensure_org(random.Random(f"hufen-demo-org:{seed}"), today)
        to_add = max(0, persons - before)
        if on_start is not None:
            on_start(to_add)
        if to_add:
            population = Population(
                org,
                rng=random.Random(f"hufen-demo:{seed}:{before}"),
                timeline=fakes.Timeline(dt.datetime(today.year, today.month, today.day)),
                counters=_counters(writer),
                demo_households=DEMO_HOUSEHOLDS if before == 0 else 0,
            )
            with writer.tuned(), Pipeline(_writer(writer)) as pipeline:
                for done, rows in population.chunks(to_add, CHUNK_PERSONS):
                    pipeline.put(rows)
                    if on_progress is not None:
                        on_progress(done)
            writer.reset_sequences([Household, Person, Vehicle])
        loyalty = _ensure_loyalty(writer, seed=seed, today=today)
        # Last: the identity records read the persons, vehicles and members written above.
        loyalty.update(ensure_identity(seed=seed, today=today).as_dict())
        result = DemoResult(
            persons_requested=persons,
            persons_before=before,
            persons_added=to_add,
            seed=seed,
            seconds=0.0,
            created={k: v for k, v in org.created.items() if v},
            loyalty={k: v for k, v in loyalty.items() if v},
        )
        if to_add or result.created or result.loyalty:
            audit(
                actor=SYSTEM,
                action=AUDIT_ACTION,
                obj_type="demo",
                obj_id=seed,
                summary={
                    "persons_added": to_add,
                    "persons_total": before + to_add,
                    "seed": seed,
                    "created": result.created,
                    "loyalty": result.loyalty,
                },
                reason="hufen demo",
            )
    if to_add and connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
        # Fresh statistics after a bulk load: without them the planner has no row counts and a
        # region's first search page took 39 s at 1M persons (see README, scoped reads).
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("ANALYZE")
    result.rows = {name: model._default_manager.count() for name, model in COUNTED.items()}
    # The behaviour events, outside the transaction: derived from the committed rows, rewritten whole.
    lake_write = write_demo_events(seed=seed, now=_events_until(today if asked_today else None))
    result.events = {
        "lake_events": lake_write.events,
        "partitions": lake_write.partitions,
        "seconds": lake_write.seconds,
    }
    result.seconds = round(time.monotonic() - began, 1)
    return result


def _events_until(today: dt.date | None) -> dt.datetime:
    """Where the demo's activity events end: Beijing midnight starting `today`, by default the day of
    the first demo run, so re-running on a later day rewrites the same events instead of moving them."""
    if today is None:
        first = (
            AuditEvent.objects.filter(action=AUDIT_ACTION).order_by("id").values_list("occurred_at", flat=True).first()
        )
        today = (first or timezone.now()).date()
    return dt.datetime.combine(today, dt.time(16), dt.UTC) - dt.timedelta(days=1)


def _ensure_loyalty(writer: RowWriter, *, seed: int, today: dt.date) -> dict[str, int]:
    """Membership, Member Day and partner data for the persons present (see loyalty.py, partners.py)."""
    programs = ensure_programs(today)
    forced = set(Person.objects.filter(phone=DEMO_OWNER_PHONE).values_list("id", flat=True))
    with writer.tuned():
        members = LedgerBuilder(writer, seed=seed, today=today, forced=forced).run(programs)
    created = ensure_partners(today)
    return {
        "members": members,
        "partner_merchants": created["merchants"],
        "partner_offers": created["offers"],
        "perk_redemptions": created.get("perk_redemptions", 0),
        "consents": ensure_consents(writer),
    }


def _counters(writer: RowWriter) -> Counters:
    """Next ids, and how many VINs per WMI and plates per prefix are already taken."""
    vins = {b.wmi: Vehicle.objects.filter(vin__startswith=b.wmi).count() for b in BRANDS}
    table = connection.ops.quote_name(Vehicle._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN LENGTH(plate) = 8 THEN SUBSTR(plate, 1, 3) ELSE SUBSTR(plate, 1, 2) END, COUNT(*) "
            f"FROM {table} WHERE plate IS NOT NULL GROUP BY 1"
        )
        plates = {str(prefix): int(n) for prefix, n in cursor.fetchall()}
    return Counters(
        household=writer.next_id(Household),
        person=writer.next_id(Person),
        vehicle=writer.next_id(Vehicle),
        vin=vins,
        plate=plates,
    )


def _tables(writer: RowWriter) -> list[tuple[Table, str]]:
    """Each table with the `Rows` attribute feeding it, parents before children."""
    return [
        (writer.table(Household, HOUSEHOLD_FIELDS), "households"),
        (writer.table(Person, PERSON_FIELDS), "persons"),
        (writer.table(ContactPoint, CONTACT_FIELDS), "contacts"),
        (writer.table(Vehicle, VEHICLE_FIELDS), "vehicles"),
        (writer.table(Ownership, OWNERSHIP_FIELDS), "ownerships"),
        (writer.table(ServiceVisit, VISIT_FIELDS), "visits"),
        (writer.table(ButlerAssignment, ASSIGNMENT_FIELDS), "assignments"),
    ]


def _writer(writer: RowWriter) -> Callable[[Rows], None]:
    tables = _tables(writer)  # described here, on the main thread; the worker only inserts

    def write(rows: Rows) -> None:
        for table, attr in tables:
            writer.write(table, getattr(rows, attr))

    return write

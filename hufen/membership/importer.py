"""Bulk enrolment from CSV: validate every row first, then apply all or (if asked) the good ones.

Columns: `brand` (code) and one of `person_id` or `phone`; optional `channel` (default `import`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from hufen.common.actors import Actor
from hufen.common.errors import FieldError
from hufen.common.pii import normalize_cn_mobile
from hufen.membership.models import Member
from hufen.membership.services import CHANNELS, member_join
from hufen.org.models import Brand
from hufen.people.models import Person


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based, the header is row 1
    column: str
    reason: str


@dataclass(frozen=True)
class ImportPlan:
    rows: list[tuple[int, Person, Brand, str]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class ImportResult:
    joined: int
    already_members: int
    skipped: int
    errors: list[RowError]


def plan_import(path: Path) -> ImportPlan:
    plan = ImportPlan()
    brands = {b.code: b for b in Brand.objects.all()}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = set(reader.fieldnames or [])
        if "brand" not in columns or not columns & {"person_id", "phone"}:
            plan.errors.append(RowError(1, "header", "needs a brand column and a person_id or phone column"))
            return plan
        for number, raw in enumerate(reader, start=2):
            row = {k: (v or "").strip() for k, v in raw.items() if k}
            brand = brands.get(row.get("brand", ""))
            if brand is None:
                plan.errors.append(RowError(number, "brand", f"unknown brand {row.get('brand', '')!r}"))
                continue
            channel = row.get("channel") or "import"
            if channel not in CHANNELS:
                plan.errors.append(RowError(number, "channel", f"unknown channel {channel!r}"))
                continue
            person = _person_of(row, number, plan.errors)
            if person is not None:
                plan.rows.append((number, person, brand, channel))
    return plan


def _person_of(row: dict[str, str], number: int, errors: list[RowError]) -> Person | None:
    if row.get("person_id"):
        if not row["person_id"].isdigit():
            errors.append(RowError(number, "person_id", "must be a whole number"))
            return None
        person = Person.objects.filter(pk=int(row["person_id"]), status="active").first()
        if person is None:
            errors.append(RowError(number, "person_id", f"no active person {row['person_id']}"))
        return person
    if not row.get("phone"):
        errors.append(RowError(number, "phone", "give a person_id or a phone"))
        return None
    try:
        phone = normalize_cn_mobile(row["phone"])
    except FieldError as exc:
        errors.append(RowError(number, "phone", exc.reason))
        return None
    matches = list(Person.objects.filter(phone=phone, status="active")[:2])
    if len(matches) != 1:
        errors.append(RowError(number, "phone", "matches no person" if not matches else "matches several persons"))
        return None
    return matches[0]


def members_import(*, actor: Actor, path: Path, skip_bad_rows: bool = False) -> ImportResult:
    """Apply the file in one transaction; a file with bad rows applies nothing unless skipping them."""
    plan = plan_import(path)
    header_broken = any(e.column == "header" for e in plan.errors)
    if plan.errors and (not skip_bad_rows or header_broken):
        return ImportResult(joined=0, already_members=0, skipped=0, errors=plan.errors)
    joined = already = 0
    with transaction.atomic():
        for _number, person, brand, channel in plan.rows:
            exists = Member.objects.filter(program__brand=brand, person=person).exists()
            member_join(actor=actor, person=person, brand=brand, channel=channel)
            already += exists
            joined += not exists
    skipped = len({e.row for e in plan.errors})
    return ImportResult(joined=joined, already_members=already, skipped=skipped, errors=plan.errors)

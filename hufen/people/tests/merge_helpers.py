"""Snapshots of every row a merge may touch, to prove that merge + unmerge restores them exactly."""

from __future__ import annotations

from typing import Any

from django.db import models

from hufen.identity.models import BlockKey, Identifier, SourceRecord
from hufen.membership.models import Member, PointsAccount, PointsLot
from hufen.people.models import ButlerAssignment, ContactPoint, Household, Ownership, Person, ServiceVisit

# Everything but the bookkeeping timestamp that any save bumps.
IGNORED = {"updated_at"}
SNAPSHOT_MODELS: list[type[models.Model]] = [
    Person,
    Household,
    ContactPoint,
    Ownership,
    ServiceVisit,
    ButlerAssignment,
    Member,
    PointsAccount,
    PointsLot,
    SourceRecord,
    Identifier,
    BlockKey,
]


def snapshot() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for model in SNAPSHOT_MODELS:
        names = [f.attname for f in model._meta.concrete_fields if f.attname not in IGNORED]
        out[model._meta.label_lower] = list(model._default_manager.order_by("pk").values(*names))
    return out


def snapshot_diff(before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Human-readable differences, empty when equal (easier to read than a dict assertion)."""
    problems = []
    for label in before:
        rows_b = {r["id"]: r for r in before[label]}
        rows_a = {r["id"]: r for r in after[label]}
        for pk in sorted(set(rows_b) | set(rows_a)):
            if rows_b.get(pk) != rows_a.get(pk):
                problems.append(f"{label}:{pk} {rows_b.get(pk)} -> {rows_a.get(pk)}")
    return problems

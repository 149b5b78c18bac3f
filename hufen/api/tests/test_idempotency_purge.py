"""Stored Idempotency-Key responses are purged after the retention window, and only those."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from hufen.api.idempotency import RETENTION_DAYS, idempotency_purge
from hufen.common.models import IdempotencyRecord
from hufen.common.pii import FieldError

pytestmark = pytest.mark.django_db


def _record(key: str, age_days: float) -> IdempotencyRecord:
    record = IdempotencyRecord.objects.create(
        scope="client:1", key=key, request_hash="0" * 64, status_code=201, response={"id": 1}
    )
    # created_at is auto_now_add: age the row afterwards
    IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - dt.timedelta(days=age_days))
    return record


def test_purge_deletes_only_records_past_the_window() -> None:
    old = [_record(f"old-{i}", RETENTION_DAYS + 1 + i) for i in range(5)]
    fresh = _record("fresh", RETENTION_DAYS - 1)
    assert idempotency_purge(batch=2) == len(old)  # several batches
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == [fresh.key]
    assert idempotency_purge() == 0  # twice purges once


def test_purge_command_reports_json(capsys: pytest.CaptureFixture[str]) -> None:
    _record("old", 30)
    _record("recent", 1)
    call_command("idempotency", "purge", "--days", "10", "--json")
    assert json.loads(capsys.readouterr().out) == {"deleted": 1, "days": 10}
    assert IdempotencyRecord.objects.count() == 1


def test_a_window_below_one_day_is_refused() -> None:
    _record("old", 30)
    with pytest.raises(FieldError):
        idempotency_purge(older_than_days=0)
    with pytest.raises(CommandError, match="--days"):
        call_command("idempotency", "purge", "--days", "0")
    assert IdempotencyRecord.objects.count() == 1

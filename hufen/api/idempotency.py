"""`Idempotency-Key` for creates: a retry returns the first response instead of creating twice.

The first successful response is stored in `IdempotencyRecord` under (caller, key) together with a
hash of the request. A retry with the same key and the same request replays it with the same status;
the same key with another request is a 409 `idempotency_conflict`.

Concurrency: the record is written in the same transaction as the create. Two requests racing with
one key both create, but the unique (scope, key) constraint lets only one record commit; the loser's
transaction rolls back (its create with it) and it replays the winner's response. Errors (4xx) are
not stored: nothing was created, so retrying them simply runs the request again.

Usage in an endpoint:

    outcome = run_idempotent(request, payload=data.model_dump(mode="json"),
                             create=lambda: (201, make_the_thing()))
    return outcome.to_status(response)   # `response: HttpResponse` is ninja's temporal response
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja.responses import Status

from hufen.api.auth import actor_of
from hufen.api.errors import ApiError
from hufen.common.actors import Actor
from hufen.common.models import IdempotencyRecord
from hufen.common.pii import FieldError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200

REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    replayed: bool = False

    def to_status(self, response: HttpResponse) -> Status[dict[str, Any]]:
        """The ninja return value; marks a replay so a client can tell (and log) it."""
        if self.replayed:
            response[REPLAYED_HEADER] = "true"
        return Status(self.status, self.body)


class _LostRace(Exception):
    """Another request committed the same key first; our transaction must roll back."""


def caller_scope(actor: Actor) -> str:
    """Keys are per caller: two integrations may both use key "1" without meeting."""
    if actor.api_client_id is not None:
        return f"api_client:{actor.api_client_id}"
    if actor.user_id is not None:
        return f"user:{actor.user_id}"
    return f"{actor.kind}:{actor.label}"[:120]


def request_hash(request: HttpRequest, payload: Any) -> str:
    return request_digest(request.method or "", request.path, payload)


def request_digest(method: str, path: str, payload: Any) -> str:
    """The digest a key's first request is remembered by: method, path and the validated body."""
    canonical = json.dumps(
        {"method": method, "path": path, "body": payload},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key(request: HttpRequest) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise FieldError(HEADER, f"must be 1 to {MAX_KEY_LENGTH} printable characters")
    return key


def _replay(record: IdempotencyRecord, digest: str) -> Outcome:
    if record.request_hash != digest:
        raise ApiError(
            409,
            "idempotency_conflict",
            f"{HEADER} was already used for a different request.",
            {"key": record.key},
        )
    return Outcome(record.status_code, record.response, replayed=True)


def run_idempotent(request: HttpRequest, *, payload: Any, create: Callable[[], tuple[int, dict[str, Any]]]) -> Outcome:
    """Run `create` at most once per (caller, key); without the header, just run it."""
    key = idempotency_key(request)
    if key is None:
        with transaction.atomic():
            return Outcome(*create())
    scope = caller_scope(actor_of(request))
    digest = request_hash(request, payload)
    existing = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
    if existing is not None:
        return _replay(existing, digest)
    try:
        with transaction.atomic():
            status, body = create()
            try:
                with transaction.atomic():
                    IdempotencyRecord.objects.create(
                        scope=scope, key=key, request_hash=digest, status_code=status, response=body
                    )
            except IntegrityError as exc:
                raise _LostRace from exc
    except _LostRace:
        winner = IdempotencyRecord.objects.get(scope=scope, key=key)
        return _replay(winner, digest)
    return Outcome(status, body)


# How long a key protects against a duplicate create. A retry later than this runs the request again,
# so clients must not retry older requests blindly (the README says so); the table stays bounded.
RETENTION_DAYS = 7


def idempotency_purge(*, older_than_days: int = RETENTION_DAYS, batch: int = 10_000) -> int:
    """Delete stored responses older than the retention window, in batches; returns how many went."""
    if older_than_days < 1:
        raise FieldError("older_than_days", "must be at least 1")
    cutoff = timezone.now() - dt.timedelta(days=older_than_days)
    deleted = 0
    while True:
        ids = list(IdempotencyRecord.objects.filter(created_at__lt=cutoff).values_list("id", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += IdempotencyRecord.objects.filter(id__in=ids).delete()[0]

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """Who did what, when and why: one row per write and per PII reveal. Append-only."""

    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_kind = models.CharField(max_length=20)
    actor_label = models.CharField(max_length=150)
    actor_user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_api_client_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64, db_index=True)
    summary = models.JSONField(default=dict, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_type}:{self.object_id}"


class DomainEvent(models.Model):
    """The outbox of business facts for ONE DATA.

    Services append here inside their transaction, so an event exists exactly when its change
    committed; the lake writer (tracking) drains it to Parquet and marks `shipped_at`.
    """

    event_id = models.UUIDField(unique=True)
    name = models.CharField(max_length=80, db_index=True)
    ts = models.DateTimeField(db_index=True)
    person_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    dealer_id = models.BigIntegerField(null=True, blank=True)
    channel = models.CharField(max_length=40, default="system")
    properties = models.JSONField(default=dict, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} {self.event_id}"


class IdempotencyRecord(models.Model):
    """The first response to a create sent with an `Idempotency-Key`, replayed on retry."""

    scope = models.CharField(max_length=120)
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="uniq_idempotency_scope_key")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"

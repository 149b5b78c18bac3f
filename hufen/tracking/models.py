"""Tracking tables: the event catalogue, device identity links, the write-ahead store, dead letters."""

from __future__ import annotations

from django.db import models


class EventType(models.Model):
    """An event name HQ declares, with the properties every such event must carry.

    Built-in types (the double funnel, `catalogue.BUILTIN_EVENT_TYPES`) need no row; a row with the
    same name overrides a built-in's required properties, and `is_active=False` retires a name.
    """

    name = models.CharField(max_length=80, unique=True)
    description = models.CharField(max_length=300, blank=True)
    required_properties = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class IdentityLink(models.Model):
    """An anonymous device id joined to the person it turned out to be (first link wins)."""

    anonymous_id = models.CharField(max_length=128, unique=True)
    person_id = models.BigIntegerField(db_index=True)
    linked_at = models.DateTimeField()
    source = models.CharField(max_length=20, default="event")  # "event" | "identify"

    def __str__(self) -> str:
        return f"{self.anonymous_id} -> {self.person_id}"


class PendingEvent(models.Model):
    """The write-ahead store: an event is acknowledged once its row commits here.

    The unique index on `event_id` is the dedupe of everything not yet in the lake; the flush job
    moves rows to Parquet and deletes them only after the file is durable.
    """

    event_id = models.CharField(max_length=64, unique=True)
    event = models.CharField(max_length=80)
    ts = models.DateTimeField()
    person_id = models.BigIntegerField(null=True, blank=True)
    anonymous_id = models.CharField(max_length=128, null=True, blank=True)
    dealer_id = models.BigIntegerField(null=True, blank=True)
    channel = models.CharField(max_length=40, null=True, blank=True)
    properties = models.TextField(null=True, blank=True)  # JSON text, as in the lake
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id}"


class RejectedEvent(models.Model):
    """The dead-letter store: every rejected event with its reason, for the console to show."""

    received_at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=20)  # "api" | "import"
    actor_label = models.CharField(max_length=150)
    batch_index = models.IntegerField()
    event_id = models.CharField(max_length=200, blank=True)
    field = models.CharField(max_length=80)
    reason = models.CharField(max_length=300)
    payload = models.TextField()

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class ScheduledRun(models.Model):
    """One claimed slot of a periodic job (hufen.common.scheduler): the unique pair is the lock."""

    job = models.CharField(max_length=100)
    slot = models.CharField(max_length=40)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(null=True)
    outcome = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["job", "slot"], name="tracking_scheduledrun_job_slot")]

    def __str__(self) -> str:
        return f"{self.job} @ {self.slot}"

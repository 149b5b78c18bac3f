"""ONE ID online: the records behind every person, their lookup keys, the review queue and the
constraints reviewers leave behind, and the trained Fellegi–Sunter parameters.

A SourceRecord is one inbound record, unique by (source, source_key), linked to exactly one Person.
ID-card numbers never appear in clear: raw fields hold the keyed hash and a masked hint only.
"""

from __future__ import annotations

from django.db import models

from hufen.org.models import Dealer
from hufen.people.models import Person

DECISION_CHOICES = [
    ("linked", "linked"),  # joined an existing person (strong identifier or model above `merge`)
    ("new", "new"),  # a new person: nothing matched, or a contradiction kept it apart
    ("review", "review"),  # a new person, and the gray-zone pair waits on the review queue
    ("constraint", "constraint"),  # a reviewer's must-link decided it
]


class SourceRecord(models.Model):
    source = models.CharField(max_length=40, help_text="dms, app, wechat, leads, service, merchant ...")
    source_key = models.CharField(max_length=120, help_text="the record's id in its source system")
    dealer = models.ForeignKey(Dealer, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    raw = models.JSONField(default=dict, help_text="fields as received; id_number replaced by hash + hint")
    normalized = models.JSONField(default=dict, help_text="the matching columns (prepare.py)")
    fingerprint = models.CharField(max_length=64, help_text="hash of the raw fields: an unchanged resend")
    received_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="source_records")
    decision = models.CharField(max_length=12, choices=DECISION_CHOICES)
    score = models.FloatField(null=True, blank=True)
    explanation = models.JSONField(default=dict)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["source", "source_key"], name="uniq_source_record")]
        indexes = [models.Index(fields=["person", "received_at"])]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_key}"


IDENTIFIER_KINDS = [
    ("phone", "phone"),
    ("unionid", "WeChat unionid"),
    ("openid", "WeChat openid"),
    ("email", "email"),
    ("id_hash", "ID-card hash"),
    ("vin", "VIN"),
    ("app_user_id", "app user id"),
]


class Identifier(models.Model):
    """A strong identifier of a record: lookups by (kind, value) find every record sharing it."""

    kind = models.CharField(max_length=12, choices=IDENTIFIER_KINDS)
    value = models.CharField(max_length=128)
    record = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="identifiers")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["kind", "value"]), models.Index(fields=["person"])]
        constraints = [models.UniqueConstraint(fields=["record", "kind", "value"], name="uniq_identifier_record")]

    def __str__(self) -> str:
        return f"{self.kind}→{self.record_id}"


class BlockKey(models.Model):
    """A blocking key (name pinyin + birth date, name + district ...): candidates for weak evidence."""

    key = models.CharField(max_length=160)
    record = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="block_keys")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["key"]), models.Index(fields=["person"])]

    def __str__(self) -> str:
        return f"block→{self.record_id}"


class LinkConstraint(models.Model):
    """A reviewer's decision about two records, honoured by online linking and by every rebuild."""

    KIND_CHOICES = [("must", "must-link"), ("cannot", "cannot-link")]

    kind = models.CharField(max_length=6, choices=KIND_CHOICES)
    record_a = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="+")
    record_b = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["record_a", "record_b"], name="uniq_link_constraint"),
            models.CheckConstraint(
                name="link_constraint_ordered", condition=models.Q(record_a__lt=models.F("record_b"))
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.record_a_id}-{self.record_b_id}"


class ReviewPair(models.Model):
    """A gray-zone pair: the model was not sure enough to merge nor to keep apart."""

    STATUS_CHOICES = [("open", "open"), ("confirmed", "confirmed"), ("rejected", "rejected"), ("obsolete", "obsolete")]

    record_a = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="+")
    record_b = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="+")
    probability = models.FloatField()
    match_weight = models.FloatField()
    evidence = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default="open", db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-probability", "id"]
        constraints = [
            models.UniqueConstraint(fields=["record_a", "record_b"], name="uniq_review_pair"),
            models.CheckConstraint(name="review_pair_ordered", condition=models.Q(record_a__lt=models.F("record_b"))),
        ]

    def __str__(self) -> str:
        return f"review {self.record_a_id}-{self.record_b_id} ({self.status})"


class ModelParameters(models.Model):
    """One trained Fellegi–Sunter model: the prior and m/u for every level of every comparison.

    The newest row is the one online linking scores with; older rows stay for the record.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    trained_on = models.CharField(max_length=200, help_text="what it was trained on, e.g. rebuild of 100000 records")
    records = models.PositiveIntegerField()
    parameters = models.JSONField()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"model #{self.pk}: {self.trained_on}"


class RecordMove(models.Model):
    """Which source records a person merge moved, so that its unmerge can move exactly those back.

    Kept after the unmerge (lineage): `restored_at` says when the record went back, or `note` why it
    stayed (it had moved on to another person since)."""

    merge_id = models.BigIntegerField(db_index=True, help_text="people.PersonMerge id")
    record = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="+")
    from_person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    to_person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    moved_at = models.DateTimeField(null=True, blank=True)
    restored_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True, help_text="why an unmerge left the record where it was")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"merge {self.merge_id}: record {self.record_id}"


class NameFrequency(models.Model):
    """How many stored records carry each normalised full name (`n_full`): a common name such as
    王伟 agreeing is weaker evidence than a rare one (the batch model's term-frequency adjustment).

    Name rows use shard 0. The total of named records is kept in the rows with the empty name,
    spread over a few shards so that concurrent links do not all wait on one row.
    """

    name = models.CharField(max_length=200, help_text="n_full; empty for the total of named records")
    shard = models.PositiveSmallIntegerField(default=0)
    records = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "shard"], name="uniq_name_frequency")]

    def __str__(self) -> str:
        return f"{self.name or '*'}#{self.shard}: {self.records}"

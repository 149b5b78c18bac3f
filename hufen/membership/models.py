"""Membership: programs, members, the points ledger (append-only, with lots), tiers and benefits.

One program per brand: each brand has its own time zone, tiers and catalogue, and a person may be a
member of both brands of the group with separate balances.
"""

from __future__ import annotations

from django.db import models

from hufen.org.models import Brand
from hufen.people.models import Person


class Program(models.Model):
    VALIDITY_CHOICES = [("end_of_next_year", "End of the following calendar year"), ("months", "N months")]
    QUALIFYING_CHOICES = [("rolling_12m", "Rolling 12 months"), ("calendar_year", "Calendar year")]

    brand = models.OneToOneField(Brand, on_delete=models.PROTECT, related_name="membership_program")
    name = models.CharField(max_length=60)
    number_prefix = models.CharField(max_length=4, unique=True, help_text="Member numbers: prefix + 9 digits")
    next_number = models.PositiveBigIntegerField(default=1)
    validity = models.CharField(max_length=20, choices=VALIDITY_CHOICES, default="end_of_next_year")
    validity_months = models.PositiveSmallIntegerField(default=24)
    qualifying_period = models.CharField(max_length=20, choices=QUALIFYING_CHOICES, default="rolling_12m")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class TierDefinition(models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="tiers")
    code = models.SlugField(max_length=20)
    name = models.CharField(max_length=30)
    rank = models.PositiveSmallIntegerField(help_text="0 is the entry tier")
    threshold = models.PositiveIntegerField(help_text="Qualifying points needed")
    multiplier = models.DecimalField(max_digits=4, decimal_places=2, default=1)
    benefits = models.JSONField(default=list, blank=True, help_text="Benefit texts shown to the member")

    class Meta:
        ordering = ["program_id", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["program", "code"], name="uniq_tier_code"),
            models.UniqueConstraint(fields=["program", "rank"], name="uniq_tier_rank"),
        ]

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    STATUS_CHOICES = [("active", "Active"), ("frozen", "Frozen"), ("closed", "Closed")]

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="members")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="memberships")
    number = models.CharField(max_length=16, unique=True)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default="active")
    tier = models.ForeignKey(TierDefinition, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=20, default="api")
    joined_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["program", "person"], name="uniq_member_program_person")]

    def __str__(self) -> str:
        return self.number


class TierHistory(models.Model):
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="tier_history")
    from_tier = models.ForeignKey(TierDefinition, null=True, on_delete=models.PROTECT, related_name="+")
    to_tier = models.ForeignKey(TierDefinition, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=20)  # join | upgrade | review
    qualifying_points = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"member {self.member_id}: tier {self.from_tier_id} -> {self.to_tier_id}"


class PointsAccount(models.Model):
    """The cached balance: changed only together with a ledger entry, under a row lock."""

    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="account")
    balance = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(balance__gte=0), name="points_balance_not_negative")]

    def __str__(self) -> str:
        return f"account {self.pk}: {self.balance}"


class PointsEntry(models.Model):
    """One line of the ledger. Never updated or deleted: corrections are reversing entries."""

    KIND_CHOICES = [("award", "Award"), ("spend", "Spend"), ("reverse", "Reversal"), ("expire", "Expiry")]

    # Indexed with the id (Meta.indexes): a member's history pages by (account, id) in either order.
    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="entries", db_index=False)
    kind = models.CharField(max_length=10, choices=KIND_CHOICES)
    amount = models.BigIntegerField()
    reason = models.CharField(max_length=40)
    ref_type = models.CharField(max_length=40, blank=True)
    ref_id = models.CharField(max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=200)
    actor_label = models.CharField(max_length=150)
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    balance_after = models.BigIntegerField()
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "idempotency_key"], name="uniq_entry_account_key"),
            models.CheckConstraint(condition=~models.Q(amount=0), name="points_entry_amount_not_zero"),
        ]
        indexes = [models.Index(fields=["account", "id"], name="membership_entry_account_id")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.reason})"


class PointsLot(models.Model):
    """Points earned by one award entry, spent and expired oldest-expiry-first."""

    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="lots")
    entry = models.OneToOneField(PointsEntry, on_delete=models.PROTECT, related_name="lot")
    amount = models.BigIntegerField()
    remaining = models.BigIntegerField()
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["expires_at", "id"]
        indexes = [models.Index(fields=["account", "expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(remaining__gte=0, remaining__lte=models.F("amount")), name="lot_remaining_in_range"
            )
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.remaining}/{self.amount}"


class LotMovement(models.Model):
    """How much of a lot one entry took (positive) or gave back (negative, a reversal)."""

    entry = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, related_name="movements")
    lot = models.ForeignKey(PointsLot, on_delete=models.PROTECT, related_name="movements")
    amount = models.BigIntegerField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"entry {self.entry_id} lot {self.lot_id}: {self.amount}"


class BenefitItem(models.Model):
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="benefits")
    code = models.SlugField(max_length=40)
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True)
    points_price = models.PositiveIntegerField()
    cash_price_fen = models.PositiveIntegerField(default=0)
    stock = models.PositiveIntegerField()
    per_member_limit = models.PositiveIntegerField(null=True, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    min_tier = models.ForeignKey(TierDefinition, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["program", "code"], name="uniq_benefit_code")]

    def __str__(self) -> str:
        return self.name


class Redemption(models.Model):
    STATUS_CHOICES = [("reserved", "Reserved"), ("fulfilled", "Fulfilled"), ("cancelled", "Cancelled")]

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="redemptions")
    item = models.ForeignKey(BenefitItem, on_delete=models.PROTECT, related_name="redemptions")
    quantity = models.PositiveIntegerField()
    points = models.BigIntegerField()
    cash_fen = models.BigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default="reserved")
    spend_entry = models.OneToOneField(PointsEntry, on_delete=models.PROTECT, related_name="redemption")
    idempotency_key = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["member", "idempotency_key"], name="uniq_redemption_key")]

    def __str__(self) -> str:
        return f"redemption {self.pk} ({self.status})"


class EarningRule(models.Model):
    """Points for an event: `event` name → `points`, with conditions, caps and a validity window.

    `conditions` is a list of `{"property", "op", "value"}` tests on the event's properties, all of
    which must hold (rules.py validates and evaluates them). Caps count the rule's awards to one member
    per day / month in the brand's time zone: the `*_count` caps skip an award, the `*_points` caps
    truncate it to what is left.
    """

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="earning_rules")
    code = models.SlugField(max_length=40)
    name = models.CharField(max_length=80)
    event = models.CharField(max_length=80, db_index=True)
    points = models.PositiveIntegerField()
    reason = models.CharField(max_length=40)
    conditions = models.JSONField(default=list, blank=True)
    daily_cap_count = models.PositiveIntegerField(null=True, blank=True)
    monthly_cap_count = models.PositiveIntegerField(null=True, blank=True)
    daily_cap_points = models.PositiveIntegerField(null=True, blank=True)
    monthly_cap_points = models.PositiveIntegerField(null=True, blank=True)
    apply_multiplier = models.BooleanField(default=True)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["program_id", "id"]
        constraints = [models.UniqueConstraint(fields=["program", "code"], name="uniq_earning_rule_code")]

    def __str__(self) -> str:
        return f"{self.code}: {self.event} +{self.points}"


class EarningDecision(models.Model):
    """What the evaluation job decided for one (rule, event): the explainable earning log.

    Unique per (rule, event_id): a replayed event finds its decision and is never judged twice.
    """

    OUTCOMES = [
        ("awarded", "Awarded"),
        ("truncated", "Awarded, truncated by a points cap"),
        ("capped", "Skipped: a cap is reached"),
        ("conditions_not_met", "Skipped: conditions not met"),
        ("not_member", "Skipped: the person is not a member"),
        ("member_inactive", "Skipped: the member is frozen or closed"),
    ]

    rule = models.ForeignKey(EarningRule, on_delete=models.PROTECT, related_name="decisions")
    event_id = models.CharField(max_length=64)
    event_ts = models.DateTimeField()
    person_id = models.BigIntegerField(null=True, blank=True)
    member = models.ForeignKey(Member, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=20, choices=OUTCOMES)
    base_points = models.IntegerField(default=0)
    multiplier = models.DecimalField(max_digits=4, decimal_places=2, default=1)
    points = models.IntegerField(default=0)
    entry = models.OneToOneField(PointsEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    detail = models.CharField(max_length=300, blank=True)
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["rule", "event_id"], name="uniq_decision_rule_event")]
        indexes = [models.Index(fields=["rule", "member", "event_ts"])]

    def __str__(self) -> str:
        return f"rule {self.rule_id} event {self.event_id}: {self.outcome}"


class EarningCursor(models.Model):
    """The evaluation job's durable watermark: events received before `position` were judged."""

    name = models.CharField(max_length=40, unique=True)
    position = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.position.isoformat()}"

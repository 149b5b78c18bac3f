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

    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="entries")
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

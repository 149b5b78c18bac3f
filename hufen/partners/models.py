"""Partners (issue 6): Territory Partners and cross-industry partners, their operators, the digital
car key's issued codes and the log of every verification attempt."""

from __future__ import annotations

from django.db import models

from hufen.org.models import Brand, Dealer, Staff
from hufen.people.models import Person, Vehicle

# The ten life scenarios 衣食住行娱学购健财游.
SCENARIO_CHOICES = [
    ("apparel", "衣 Apparel"),
    ("food", "食 Food"),
    ("housing", "住 Housing"),
    ("mobility", "行 Mobility"),
    ("entertainment", "娱 Entertainment"),
    ("learning", "学 Learning"),
    ("shopping", "购 Shopping"),
    ("health", "健 Health"),
    ("finance", "财 Finance"),
    ("travel", "游 Travel"),
]


class Merchant(models.Model):
    KIND_CHOICES = [("territory", "Territory Partner"), ("cross_industry", "Cross-industry partner")]
    STATUS_CHOICES = [
        ("applied", "Applied"),
        ("active", "Active"),
        ("rejected", "Rejected"),
        ("suspended", "Suspended"),
    ]

    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    name = models.CharField(max_length=80, help_text="Shop name shown to owners")
    legal_name = models.CharField(max_length=120)
    credit_code = models.CharField(max_length=18, db_index=True, help_text="Unified social credit code (GB 32100)")
    scenario = models.CharField(max_length=16, choices=SCENARIO_CHOICES)
    brands = models.ManyToManyField(Brand, related_name="merchants")
    province = models.CharField(max_length=20, blank=True)
    city = models.CharField(max_length=30, db_index=True)
    district = models.CharField(max_length=30, blank=True)
    address = models.CharField(max_length=200)
    latitude = models.DecimalField(max_digits=9, decimal_places=6)
    longitude = models.DecimalField(max_digits=9, decimal_places=6)
    opening_hours = models.CharField(max_length=120, blank=True, help_text="e.g. 周一至周日 10:00-22:00")
    photos = models.JSONField(default=list, blank=True, help_text="Photo URLs")
    phone = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default="applied", db_index=True)
    # A Territory Partner's applicant: a verified owner, reviewed by their dealer or HQ.
    applicant = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    review_dealer = models.ForeignKey(Dealer, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reviewed_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # A rejected applicant may apply again with the same company.
            models.UniqueConstraint(
                fields=["credit_code"], condition=~models.Q(status="rejected"), name="uniq_live_credit_code"
            )
        ]

    def __str__(self) -> str:
        return self.name


class MerchantOperator(models.Model):
    """Links a staff login (role merchant_operator) to the one merchant it acts for."""

    staff = models.OneToOneField(Staff, on_delete=models.CASCADE, related_name="merchant_link")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="operators")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.staff_id}@{self.merchant_id}"


class CarKeyCode(models.Model):
    """One issued car key: the QR token's nonce and the 6-digit fallback code (stored as a keyed
    digest; the digest is cleared once expired so the code can be reissued)."""

    nonce = models.CharField(max_length=32, unique=True)
    code_digest = models.CharField(max_length=64, null=True, blank=True, unique=True)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    member_id = models.BigIntegerField(null=True, blank=True)
    vehicle = models.ForeignKey(Vehicle, on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(Merchant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["person", "issued_at"])]

    def __str__(self) -> str:
        return f"car key {self.pk} of person {self.person_id}"


class CarKeyAttempt(models.Model):
    """Every verification attempt, accepted or not: the audit trail and the durable rate-limit log."""

    OUTCOME_CHOICES = [
        ("ok", "Accepted"),
        ("forged", "Forged or tampered"),
        ("expired", "Expired"),
        ("used", "Already used"),
        ("unknown", "Unknown code"),
        ("malformed", "Malformed"),
        ("not_owned", "Vehicle no longer owned"),
        ("brand", "Brand not served"),
        ("rate_limited", "Rate limited"),
    ]

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+")
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    method = models.CharField(max_length=6, choices=[("qr", "QR"), ("code", "6-digit code")])
    outcome = models.CharField(max_length=14, choices=OUTCOME_CHOICES)
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    key = models.ForeignKey(CarKeyCode, null=True, blank=True, on_delete=models.PROTECT, related_name="attempts")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["merchant", "outcome", "created_at"])]

    def __str__(self) -> str:
        return f"{self.outcome} at merchant {self.merchant_id}"


class Offer(models.Model):
    """A perk a merchant gives owners who show the car key: its conditions, caps, budget, validity."""

    KIND_CHOICES = [("percent", "Percentage off"), ("fixed", "Fixed amount off"), ("free_item", "Free item")]

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="offers")
    title = models.CharField(max_length=80)
    kind = models.CharField(max_length=10, choices=KIND_CHOICES)
    percent_off = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1-99")
    amount_fen = models.PositiveIntegerField(null=True, blank=True, help_text="Fixed discount in fen")
    min_bill_fen = models.PositiveIntegerField(default=0)
    max_discount_fen = models.PositiveIntegerField(null=True, blank=True, help_text="Cap of a percentage discount")
    item_name = models.CharField(max_length=60, blank=True)
    item_value_fen = models.PositiveIntegerField(null=True, blank=True, help_text="Value of the free item")
    # Conditions.
    min_tier_rank = models.PositiveSmallIntegerField(null=True, blank=True, help_text="0 = entry tier")
    brand = models.ForeignKey(Brand, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    series = models.CharField(max_length=40, blank=True)
    first_visit_only = models.BooleanField(default=False)
    # Caps per owner (brand time zone) and the total budget.
    per_owner_per_day = models.PositiveSmallIntegerField(null=True, blank=True)
    per_owner_per_month = models.PositiveSmallIntegerField(null=True, blank=True)
    budget_count = models.PositiveIntegerField(null=True, blank=True)
    budget_fen = models.PositiveBigIntegerField(null=True, blank=True)
    used_count = models.PositiveIntegerField(default=0)
    used_fen = models.PositiveBigIntegerField(default=0)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["merchant_id", "id"]

    def __str__(self) -> str:
        return self.title


class PerkRedemption(models.Model):
    """One perk given at a merchant after a verified car key: the bill and the value to the owner."""

    STATUS_CHOICES = [("recorded", "Recorded"), ("disputed", "Disputed"), ("voided", "Voided")]

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="redemptions")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="redemptions")
    key = models.OneToOneField(CarKeyCode, on_delete=models.PROTECT, related_name="redemption")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    member_id = models.BigIntegerField(null=True, blank=True)
    vehicle = models.ForeignKey(Vehicle, on_delete=models.PROTECT, related_name="+")
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    bill_fen = models.PositiveBigIntegerField()
    value_fen = models.PositiveBigIntegerField(help_text="Discount or item value the owner received")
    local_day = models.DateField(help_text="Day in the brand time zone (for caps and reports)")
    idempotency_key = models.CharField(max_length=80)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default="recorded")
    dispute_reason = models.CharField(max_length=300, blank=True)
    disputed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "idempotency_key"], name="uniq_perk_idempotency"),
        ]
        indexes = [
            models.Index(fields=["offer", "person", "local_day"]),
            models.Index(fields=["merchant", "created_at"]),
            models.Index(fields=["person", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"perk {self.pk} at {self.merchant_id}"


class MerchantVisitor(models.Model):
    """One row per (merchant, owner): the row every redemption at the merchant locks first, so that
    "first visit only" holds across all of the merchant's offers, not just within one offer."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "person"], name="uniq_merchant_visitor")]

    def __str__(self) -> str:
        return f"person {self.person_id} at merchant {self.merchant_id}"


class PartnerKey(models.Model):
    """A cross-industry partner's own API key (`hp_...`, stored hashed). It authenticates only the
    partner endpoints and acts for its merchant; it is not an org ApiClient, whose brand or dealer
    scope would let a hotel's integration read the brand's owners."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=80)
    token_prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…)"


class CouponBatch(models.Model):
    SOURCE_CHOICES = [("imported", "Imported from CSV"), ("generated", "Generated")]

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="coupon_batches")
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+", help_text="Program it is issued in")
    title = models.CharField(max_length=80)
    value_fen = models.PositiveIntegerField(help_text="Face value to the owner")
    points_price = models.PositiveIntegerField(null=True, blank=True, help_text="Exchangeable for points if set")
    source = models.CharField(max_length=10, choices=SOURCE_CHOICES)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.title


class Coupon(models.Model):
    STATUS_CHOICES = [("available", "Available"), ("issued", "Issued"), ("redeemed", "Redeemed")]
    VIA_CHOICES = [
        ("tier", "To a tier"),
        ("segment", "To a segment"),
        ("member_day", "On Member Day"),
        ("points", "For points"),
    ]

    batch = models.ForeignKey(CouponBatch, on_delete=models.PROTECT, related_name="coupons")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=32)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default="available")
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    member_id = models.BigIntegerField(null=True, blank=True)
    issued_via = models.CharField(max_length=12, choices=VIA_CHOICES, blank=True)
    issue_key = models.CharField(max_length=120, blank=True, help_text="Idempotency of the issue")
    points_entry_id = models.BigIntegerField(null=True, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    redeem_key = models.CharField(max_length=200, blank=True)
    redeemed_by = models.ForeignKey(PartnerKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "code"], name="uniq_coupon_code_per_partner"),
            models.UniqueConstraint(
                fields=["batch", "issue_key"], condition=~models.Q(issue_key=""), name="uniq_coupon_issue_key"
            ),
        ]
        indexes = [models.Index(fields=["batch", "status"]), models.Index(fields=["person", "status"])]

    def __str__(self) -> str:
        return f"coupon {self.code}"


class MemberDayCoupon(models.Model):
    """HQ attaches a coupon batch to one Member Day (`occurrence_id`) or to every Member Day of the
    batch's brand (null): each member who checks in (at or above `min_tier_rank`) gets one coupon.
    The occurrence is referenced by id: partners reads Member Days only through memberday's selectors."""

    batch = models.ForeignKey(CouponBatch, on_delete=models.PROTECT, related_name="memberday_links")
    occurrence_id = models.BigIntegerField(null=True, blank=True, help_text="Empty = every Member Day")
    min_tier_rank = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "occurrence_id"],
                condition=models.Q(active=True, occurrence_id__isnull=False),
                name="uniq_live_memberday_coupon",
            ),
            models.UniqueConstraint(
                fields=["batch"],
                condition=models.Q(active=True, occurrence_id__isnull=True),
                name="uniq_live_memberday_coupon_recurring",
            ),
        ]

    def __str__(self) -> str:
        return f"batch {self.batch_id} on Member Day {self.occurrence_id or '*'}"


class MemberDayCouponGrant(models.Model):
    """The reaction's decision for one member's check-in and one batch: issued (with the coupon) or
    why not. Unique per (batch, occurrence, member): replays and concurrent jobs issue once."""

    OUTCOME_CHOICES = [
        ("issued", "Issued"),
        ("out_of_stock", "Batch out of coupons"),
        ("below_tier", "Tier below the minimum"),
        ("not_valid", "Batch not valid on that day"),
        ("not_member", "Not an active member of the brand"),
    ]

    link = models.ForeignKey(MemberDayCoupon, on_delete=models.PROTECT, related_name="grants")
    batch = models.ForeignKey(CouponBatch, on_delete=models.PROTECT, related_name="+")
    occurrence_id = models.BigIntegerField()
    member_id = models.BigIntegerField()
    event_id = models.CharField(max_length=40)
    outcome = models.CharField(max_length=12, choices=OUTCOME_CHOICES)
    coupon = models.OneToOneField(Coupon, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "occurrence_id", "member_id"], name="uniq_memberday_grant")
        ]

    def __str__(self) -> str:
        return f"{self.outcome}: member {self.member_id} on {self.occurrence_id}"


class ReactionCursor(models.Model):
    """How far a partners job has read the event outbox. `position` is an event id below which every
    event is judged; `pending_position` is the highest id seen at `pending_at`, promoted to
    `position` once a look-back has passed (a transaction that took an id earlier may commit later)."""

    name = models.CharField(max_length=40, unique=True)
    position = models.BigIntegerField(default=0)
    pending_position = models.BigIntegerField(default=0)
    pending_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.position}"


class SavedSegment(models.Model):
    """A named set of a brand's members that HQ (or a region or dealer, within its scope) reuses to
    issue coupon batches. The filters are kept as typed columns; the members are counted live."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=60)
    min_tier_rank = models.PositiveSmallIntegerField(default=0)
    cities = models.JSONField(default=list, blank=True)
    series = models.JSONField(default=list, blank=True)
    dealer_codes = models.JSONField(default=list, blank=True)
    member_since = models.DateField(null=True, blank=True, help_text="Joined on or before this day")
    active_within_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # The scope it was saved in: empty for HQ, else the region or dealer of the staff who saved it.
    owner_region_id = models.BigIntegerField(null=True, blank=True)
    owner_dealer_id = models.BigIntegerField(null=True, blank=True)
    created_by = models.CharField(max_length=150)
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["brand_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "name"], condition=models.Q(archived=False), name="uniq_live_segment_name"
            )
        ]

    def __str__(self) -> str:
        return self.name

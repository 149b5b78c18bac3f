"""Member Day (会员日): a monthly campaign per brand, by default on the last day of the month.

A `Campaign` holds the recurring rule; `memberday_schedule` turns it into one `Occurrence` per date
(the day in the brand's time zone, with its UTC window). Each occurrence has check-ins (one per
member, enforced by the database), tasks with points, tier-targeted offers and dealers' offline
sessions with sign-ups and attendance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import models

from hufen.membership.models import Member
from hufen.org.models import Brand, Dealer
from hufen.people.models import Person


class Campaign(models.Model):
    RULE_CHOICES = [("last_day", "Last day of the month"), ("day_of_month", "A fixed day of the month")]

    brand = models.OneToOneField(Brand, on_delete=models.PROTECT, related_name="memberday_campaign")
    name = models.CharField(max_length=60)
    rule = models.CharField(max_length=20, choices=RULE_CHOICES, default="last_day")
    day_of_month = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1-28 for day_of_month")
    checkin_points = models.PositiveIntegerField(default=10)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Occurrence(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="occurrences")
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")  # denormalised for lookups
    day = models.DateField(help_text="The Member Day's date in the brand's time zone")
    starts_at = models.DateTimeField()  # UTC instant of 00:00 brand time
    ends_at = models.DateTimeField()  # exclusive: 00:00 brand time of the next day
    title = models.CharField(max_length=80)
    theme = models.CharField(max_length=200, blank=True)
    checkin_points = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-day", "id"]
        constraints = [models.UniqueConstraint(fields=["brand", "day"], name="uniq_memberday_brand_day")]

    def __str__(self) -> str:
        return f"{self.title} ({self.day})"


# The columns of a check-in a read carries (as `ci_<column>`) to answer a repeat tap without loading it.
CHECKIN_COLUMNS = ("id", "points", "entry_id", "checked_in_at", "points_status")


class CheckIn(models.Model):
    """One per member per occurrence: the unique constraint is what makes a double tap safe.

    Its points are paid after the check-in commits, in batches (`awards.memberday_award_pending`):
    `points_status` is "pending" until the ledger entry exists, then "awarded" with `entry_id`.
    """

    POINTS_STATUS_CHOICES = [
        ("pending", "Points on their way"),
        ("awarded", "Points awarded"),
        ("skipped", "Not awarded: the member was no longer active"),
        ("none", "No points to award"),
    ]

    # No database foreign key to the occurrence or the dealer: every check-in of the day references
    # the same occurrence row and a few dozen dealer rows, and PostgreSQL checks a foreign key by
    # locking the referenced row (FOR KEY SHARE) at commit. Under a Member Day's load those locks on
    # a handful of hot rows cost a third of the database's CPU per check-in (benchmarks/memberday:
    # 1.80 → 1.24 ms). Neither is ever deleted (the app has no way to), and Django still refuses to
    # delete one with check-ins (PROTECT). The member and person keys stay: their rows are not shared.
    # The occurrence needs no index of its own: the unique constraint and both indexes start with it.
    occurrence = models.ForeignKey(
        Occurrence, on_delete=models.PROTECT, related_name="checkins", db_constraint=False, db_index=False
    )
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    dealer = models.ForeignKey(
        Dealer, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    points = models.PositiveIntegerField()
    entry_id = models.BigIntegerField(null=True, blank=True, help_text="The ledger entry that paid the points")
    channel = models.CharField(max_length=20)
    actor_label = models.CharField(max_length=150)
    checked_in_at = models.DateTimeField()
    points_status = models.CharField(
        max_length=10, choices=POINTS_STATUS_CHOICES, default="awarded", db_default="awarded"
    )

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["occurrence", "member"], name="uniq_memberday_checkin")]
        indexes = [
            models.Index(fields=["occurrence", "checked_in_at"]),
            models.Index(fields=["occurrence", "dealer"]),
            # The award drain's queue: only the few pending rows are in this index.
            models.Index(fields=["id"], condition=models.Q(points_status="pending"), name="memberday_checkin_pending"),
        ]

    def __str__(self) -> str:
        return f"check-in {self.member_id} @ {self.occurrence_id}"

    @classmethod
    def from_read(
        cls, read: Mapping[str, Any], *, occurrence: Occurrence, member_id: int, person_id: int
    ) -> CheckIn | None:
        """The member's check-in a read found (its `ci_<column>` values, `CHECKIN_COLUMNS`), as a
        partial instance without a query; None when the read found none."""
        if read.get("ci_id") is None:
            return None
        values = {"pk" if c == "id" else c: read[f"ci_{c}"] for c in CHECKIN_COLUMNS}
        return cls(occurrence=occurrence, member_id=member_id, person_id=person_id, **values)


class Task(models.Model):
    KIND_CHOICES = [("post", "Post"), ("share", "Share"), ("attend", "Attend a dealer session")]

    occurrence = models.ForeignKey(Occurrence, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=10, choices=KIND_CHOICES)
    title = models.CharField(max_length=80)
    points = models.PositiveIntegerField()

    class Meta:
        ordering = ["occurrence_id", "id"]
        constraints = [models.UniqueConstraint(fields=["occurrence", "kind"], name="uniq_memberday_task_kind")]

    def __str__(self) -> str:
        return self.title


class TaskCompletion(models.Model):
    task = models.ForeignKey(Task, on_delete=models.PROTECT, related_name="completions")
    occurrence = models.ForeignKey(Occurrence, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    dealer = models.ForeignKey(Dealer, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    points = models.PositiveIntegerField()
    entry_id = models.BigIntegerField(null=True, blank=True)
    ref = models.CharField(max_length=120, blank=True, help_text="The post, share or session it proves")
    completed_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["task", "member"], name="uniq_memberday_task_member")]

    def __str__(self) -> str:
        return f"{self.task_id} by {self.member_id}"


class Offer(models.Model):
    """A benefit or message shown only to members whose tier rank is at least `min_tier_rank`."""

    occurrence = models.ForeignKey(Occurrence, on_delete=models.CASCADE, related_name="offers")
    title = models.CharField(max_length=80)
    body = models.CharField(max_length=300, blank=True)
    min_tier_rank = models.PositiveSmallIntegerField(default=0)
    benefit_code = models.SlugField(max_length=40, blank=True, help_text="A benefit item of the catalogue")

    class Meta:
        ordering = ["occurrence_id", "min_tier_rank", "id"]

    def __str__(self) -> str:
        return self.title


class Session(models.Model):
    """A dealer's offline event on the Member Day (a tasting, a clinic, a drive)."""

    occurrence = models.ForeignKey(Occurrence, on_delete=models.PROTECT, related_name="sessions")
    dealer = models.ForeignKey(Dealer, on_delete=models.PROTECT, related_name="memberday_sessions")
    title = models.CharField(max_length=80)
    location = models.CharField(max_length=120, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    capacity = models.PositiveIntegerField()
    signed_up = models.PositiveIntegerField(default=0)  # kept with sign-ups under the session's row lock
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="memberday_session_ends"
            ),
            models.CheckConstraint(
                condition=models.Q(signed_up__lte=models.F("capacity")), name="memberday_session_capacity"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class SessionSignup(models.Model):
    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="signups")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    signed_up_at = models.DateTimeField()
    attended_at = models.DateTimeField(null=True, blank=True)
    marked_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["session", "member"], name="uniq_memberday_signup")]

    def __str__(self) -> str:
        return f"{self.member_id} → {self.session_id}"

"""People and their vehicles: the unified profile ONE ID maintains, households, vehicles, ownership."""

from __future__ import annotations

from django.db import models

from hufen.org.models import Brand, Dealer, Grid, Staff
from hufen.people.querysets import HouseholdQuerySet, OwnershipQuerySet, PersonQuerySet, VehicleQuerySet

GENDER_CHOICES = [("M", "男"), ("F", "女"), ("U", "未知")]


class Household(models.Model):
    name = models.CharField(max_length=60, help_text="e.g. 王家")
    province = models.CharField(max_length=20, blank=True)
    city = models.CharField(max_length=30, blank=True)
    district = models.CharField(max_length=30, blank=True)
    address = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = HouseholdQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Person(models.Model):
    STATUS_CHOICES = [("active", "Active"), ("merged", "Merged"), ("inactive", "Inactive")]
    HOUSEHOLD_ROLES = [("head", "户主"), ("spouse", "配偶"), ("child", "子女"), ("parent", "父母"), ("other", "其他")]

    name = models.CharField(max_length=60, db_index=True)
    name_pinyin = models.CharField(max_length=120, blank=True, db_index=True, help_text="wangxiaowei")
    name_initials = models.CharField(max_length=20, blank=True, db_index=True, help_text="wxw")
    gender = models.CharField(max_length=1, choices=GENDER_CHOICES, default="U")
    birth_date = models.DateField(null=True, blank=True)
    phone = models.CharField(max_length=16, blank=True, db_index=True, help_text="Primary mobile, E.164")
    email = models.CharField(max_length=120, blank=True)
    id_number_hash = models.CharField(max_length=64, blank=True, db_index=True)
    id_number_hint = models.CharField(max_length=18, blank=True, help_text="Masked: region and last four")
    province = models.CharField(max_length=20, blank=True)
    city = models.CharField(max_length=30, blank=True)
    district = models.CharField(max_length=30, blank=True)
    address = models.CharField(max_length=200, blank=True)
    household = models.ForeignKey(Household, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    household_role = models.CharField(max_length=10, choices=HOUSEHOLD_ROLES, blank=True)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default="active", db_index=True)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=20, default="manual")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PersonQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name}"


class ContactPoint(models.Model):
    """Every phone and email of a person; `last4` makes "last four digits" search an index lookup."""

    KIND_CHOICES = [("phone", "Phone"), ("email", "Email")]

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="contacts")
    kind = models.CharField(max_length=8, choices=KIND_CHOICES)
    value = models.CharField(max_length=120)
    last4 = models.CharField(max_length=4, blank=True)
    is_primary = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-is_primary", "id"]
        constraints = [models.UniqueConstraint(fields=["person", "kind", "value"], name="uniq_contact_person_value")]
        indexes = [models.Index(fields=["kind", "last4"]), models.Index(fields=["kind", "value"])]

    def __str__(self) -> str:
        return f"{self.kind}:{self.person_id}"


class VehicleModel(models.Model):
    ENERGY_CHOICES = [("ice", "燃油"), ("hev", "混动"), ("phev", "插电混动"), ("bev", "纯电")]
    PRICE_BANDS = [("a", "10万以下"), ("b", "10-15万"), ("c", "15-20万"), ("d", "20-30万"), ("e", "30万以上")]

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="vehicle_models")
    series = models.CharField(max_length=40)
    name = models.CharField(max_length=80)
    energy_type = models.CharField(max_length=4, choices=ENERGY_CHOICES)
    price_band = models.CharField(max_length=1, choices=PRICE_BANDS)
    msrp_fen = models.BigIntegerField(help_text="Guide price in fen")
    year = models.PositiveSmallIntegerField()
    wmi = models.CharField(max_length=3, help_text="World manufacturer identifier used in VINs")

    class Meta:
        ordering = ["brand_id", "series", "name"]
        constraints = [models.UniqueConstraint(fields=["brand", "series", "name"], name="uniq_vehicle_model")]

    def __str__(self) -> str:
        return f"{self.series} {self.name}"


class Vehicle(models.Model):
    vin = models.CharField(max_length=17, unique=True)
    model = models.ForeignKey(VehicleModel, on_delete=models.PROTECT, related_name="vehicles")
    colour = models.CharField(max_length=20)
    plate = models.CharField(max_length=10, null=True, blank=True, unique=True)
    produced_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = VehicleQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.vin


class Ownership(models.Model):
    ROLE_CHOICES = [("owner", "车主"), ("co_user", "共同使用人")]
    END_REASONS = [("trade_in", "置换"), ("transfer", "过户"), ("scrapped", "报废"), ("other", "其他")]

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="ownerships")
    vehicle = models.ForeignKey(Vehicle, on_delete=models.PROTECT, related_name="ownerships")
    role = models.CharField(max_length=8, choices=ROLE_CHOICES, default="owner")
    dealer = models.ForeignKey(Dealer, null=True, blank=True, on_delete=models.PROTECT, related_name="ownerships")
    delivered_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=10, choices=END_REASONS, blank=True)

    objects = OwnershipQuerySet.as_manager()

    class Meta:
        ordering = ["-delivered_at", "id"]
        indexes = [models.Index(fields=["dealer", "person"]), models.Index(fields=["person", "ended_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["vehicle"],
                condition=models.Q(role="owner", ended_at__isnull=True),
                name="one_current_owner_per_vehicle",
            ),
            models.CheckConstraint(
                name="ownership_ends_after_delivery",
                condition=models.Q(ended_at__isnull=True) | models.Q(ended_at__gte=models.F("delivered_at")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_id}→{self.vehicle_id}"


class ServiceVisit(models.Model):
    """An after-sales visit (maintenance, repair ...) at a dealer; it puts the person in that dealer's scope."""

    KIND_CHOICES = [("maintenance", "保养"), ("repair", "维修"), ("inspection", "检测"), ("accessory", "加装")]

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="service_visits")
    vehicle = models.ForeignKey(Vehicle, on_delete=models.PROTECT, related_name="service_visits")
    dealer = models.ForeignKey(Dealer, on_delete=models.PROTECT, related_name="service_visits")
    kind = models.CharField(max_length=12, choices=KIND_CHOICES)
    visited_at = models.DateTimeField()
    mileage_km = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-visited_at"]
        indexes = [models.Index(fields=["dealer", "person"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.vehicle_id}@{self.dealer_id}"


class ButlerAssignment(models.Model):
    """Which butler serves a person, in which grid; at most one open assignment per person."""

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="butler_assignments")
    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, related_name="assignments")
    butler = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="assignments")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["butler", "ended_at"]), models.Index(fields=["grid", "ended_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["person"], condition=models.Q(ended_at__isnull=True), name="one_open_butler_per_person"
            )
        ]

    def __str__(self) -> str:
        return f"{self.person_id}@{self.grid_id}"


class PersonMerge(models.Model):
    """One merge of `absorbed` into `survivor`: who, why, on what evidence; undone by an unmerge.

    The rows it changed are its `moves`, so an unmerge puts back exactly those and nothing else.
    """

    survivor = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="merges_received")
    absorbed = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="merges_given")
    actor_label = models.CharField(max_length=150)
    reason = models.CharField(max_length=300)
    evidence = models.JSONField(default=dict, blank=True)
    merged_at = models.DateTimeField()
    unmerged_at = models.DateTimeField(null=True, blank=True)
    unmerged_by = models.CharField(max_length=150, blank=True)
    unmerge_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-merged_at", "-id"]
        indexes = [models.Index(fields=["survivor", "unmerged_at"]), models.Index(fields=["absorbed", "unmerged_at"])]
        constraints = [
            # A person is absorbed by at most one live merge at a time.
            models.UniqueConstraint(
                fields=["absorbed"], condition=models.Q(unmerged_at__isnull=True), name="one_live_merge_per_absorbed"
            ),
            models.CheckConstraint(condition=~models.Q(survivor=models.F("absorbed")), name="merge_not_into_self"),
        ]

    def __str__(self) -> str:
        return f"merge {self.pk}: {self.absorbed_id} → {self.survivor_id}"

    @property
    def is_live(self) -> bool:
        return self.unmerged_at is None


class PersonMergeMove(models.Model):
    """One thing a merge changed, with what it was before, so that an unmerge can put it back.

    kind: `reassign` (a row's person field went from→to), `fill` (a blank survivor field took the
    absorbed's value), `end` (a row was ended to keep a one-open-row rule), `detach` (the absorbed's
    link was cleared), or a handler's own kind (`handler` names the app that recorded it).
    """

    merge = models.ForeignKey(PersonMerge, on_delete=models.CASCADE, related_name="moves")
    seq = models.PositiveIntegerField(help_text="Order within the merge; an unmerge walks it backwards")
    handler = models.CharField(max_length=40, default="people")
    kind = models.CharField(max_length=20)
    model_label = models.CharField(max_length=80, help_text="e.g. people.ownership")
    row_id = models.BigIntegerField()
    field = models.CharField(max_length=60, blank=True)
    from_person_id = models.BigIntegerField(null=True, blank=True)
    to_person_id = models.BigIntegerField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    restored_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True, help_text="Why an unmerge left it as it was")

    class Meta:
        ordering = ["merge_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["merge", "seq"], name="uniq_merge_move_seq")]
        indexes = [models.Index(fields=["model_label", "row_id"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.model_label}:{self.row_id}.{self.field}"

"""The brand group's organisation: brands, regions, dealers, staff and their roles, grids, API clients."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from hufen.common.actors import Role


class Brand(models.Model):
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=60)
    name_en = models.CharField(max_length=60, blank=True)
    positioning = models.CharField(max_length=20, choices=[("mass", "Mass market"), ("premium", "Premium")])
    time_zone = models.CharField(max_length=40, default="Asia/Shanghai")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Region(models.Model):
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=60)
    provinces = models.JSONField(default=list, blank=True, help_text="Provinces the region covers")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Dealer(models.Model):
    STATUS_CHOICES = [("active", "Active"), ("suspended", "Suspended"), ("closed", "Closed")]

    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=120)
    brands = models.ManyToManyField(Brand, related_name="dealers")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="dealers")
    province = models.CharField(max_length=20)
    city = models.CharField(max_length=30)
    district = models.CharField(max_length=30, blank=True)
    address = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default="active")
    opened_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["code"]
        indexes = [models.Index(fields=["region", "code"])]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Staff(models.Model):
    """A person working for the group or a dealer; the login is a Django user."""

    ROLE_CHOICES = [
        (Role.HQ_ADMIN.value, "HQ admin"),
        (Role.HQ_OPERATOR.value, "HQ operator"),
        (Role.REGION_MANAGER.value, "Region manager"),
        (Role.DEALER_MANAGER.value, "Dealer manager"),
        (Role.BUTLER.value, "Butler"),
        (Role.MERCHANT_OPERATOR.value, "Merchant operator"),
    ]

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff")
    name = models.CharField(max_length=60)
    phone = models.CharField(max_length=16, blank=True)
    role = models.CharField(max_length=24, choices=ROLE_CHOICES)
    brands = models.ManyToManyField(Brand, blank=True, related_name="staff")
    region = models.ForeignKey(Region, null=True, blank=True, on_delete=models.PROTECT, related_name="staff")
    dealer = models.ForeignKey(Dealer, null=True, blank=True, on_delete=models.PROTECT, related_name="staff")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                name="staff_role_has_its_unit",
                condition=(
                    models.Q(role__in=["hq_admin", "hq_operator", "merchant_operator"])
                    | models.Q(role="region_manager", region__isnull=False)
                    | models.Q(role__in=["dealer_manager", "butler"], dealer__isnull=False)
                ),
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


class Grid(models.Model):
    """网格: a dealer's named area; its owners are served by butlers."""

    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="grids")
    name = models.CharField(max_length=60)
    districts = models.JSONField(default=list, blank=True)
    butler = models.ForeignKey(
        Staff,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="grids",
        help_text="The butler who serves this grid by default",
    )

    class Meta:
        ordering = ["dealer_id", "name"]
        constraints = [models.UniqueConstraint(fields=["dealer", "name"], name="uniq_grid_dealer_name")]

    def __str__(self) -> str:
        return f"{self.dealer.code}/{self.name}"


class ApiClient(models.Model):
    """An integration's credentials: the token is shown once and stored only as a hash."""

    name = models.CharField(max_length=80)
    token_prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    brand = models.ForeignKey(Brand, null=True, blank=True, on_delete=models.PROTECT, related_name="api_clients")
    dealer = models.ForeignKey(Dealer, null=True, blank=True, on_delete=models.PROTECT, related_name="api_clients")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # None: every permission of the API-client role (how clients worked before permission sets);
    # a list: only those permissions, e.g. ["membership.view"] for a read-only CRM sync.
    permissions = models.JSONField(
        null=True,
        blank=True,
        default=None,
        help_text="Permission codes this client holds; null = every permission of its role",
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                name="api_client_scoped_to_brand_or_dealer",
                condition=models.Q(brand__isnull=False) | models.Q(dealer__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…)"

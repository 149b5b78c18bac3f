"""The owner portal's own tables: the SMS outbox, one-time sign-in codes and member sessions.

Portal sessions are not Django sessions: a member is not a `User`, and keeping the two apart means
a portal cookie can never open the console, and a console login never opens the portal.
"""

from __future__ import annotations

from django.db import models

from hufen.membership.models import Member
from hufen.org.models import Brand


class SmsMessage(models.Model):
    """One text message handed to the SMS backend. The outbox backend is the demo's gateway."""

    STATUS_CHOICES = [("queued", "Queued"), ("sent", "Sent"), ("failed", "Failed")]

    phone = models.CharField(max_length=16, help_text="E.164")
    body = models.CharField(max_length=500)
    purpose = models.CharField(max_length=20, default="login_code")
    backend = models.CharField(max_length=120)
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default="queued")
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["phone", "-id"])]

    def __str__(self) -> str:
        return f"sms {self.pk} ({self.status})"


class LoginCode(models.Model):
    """A 6-digit sign-in code: only its keyed hash is stored; it expires and allows few attempts."""

    phone = models.CharField(max_length=16, help_text="E.164")
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["phone", "created_at"])]

    def __str__(self) -> str:
        return f"code {self.pk} for {self.phone[:6]}…"


class PortalSession(models.Model):
    """A member signed in to the portal; the cookie holds a random token, the table only its hash."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="portal_sessions")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"portal session {self.pk} of member {self.member_id}"

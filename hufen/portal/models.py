"""The owner portal's own tables: the SMS outbox, one-time sign-in codes, member sessions and the
consents a person gave when joining a brand's program.

Portal sessions are not Django sessions: a member is not a `User`, and keeping the two apart means
a portal cookie can never open the console, and a console login never opens the portal.
"""

from __future__ import annotations

from django.db import models

from hufen.membership.models import Member
from hufen.org.models import Brand
from hufen.people.models import Person


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
    # The code was right but the person has not joined the brand's program yet: the code waits for
    # the join page (consent), which spends it. Only a code with this set can complete a join.
    verified_at = models.DateTimeField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["phone", "created_at"])]

    def __str__(self) -> str:
        return f"code {self.pk} for {self.phone[:6]}…"


class PortalSession(models.Model):
    """A member signed in: the portal cookie (channel h5) or a member API bearer token (channel api)
    holds a random token, the table only its hash."""

    CHANNEL_CHOICES = [("h5", "Owner H5 portal"), ("api", "Member API (/api/v1/me)")]

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="portal_sessions")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    channel = models.CharField(max_length=4, choices=CHANNEL_CHOICES, default="h5")

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"portal session {self.pk} of member {self.member_id}"


class ProgramConsent(models.Model):
    """A person's agreement to a brand program's terms, given before the portal enrolled them.

    Kept forever (append-only): the version and a digest of the exact text shown prove what was agreed.
    """

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="program_consents")
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    terms_version = models.CharField(max_length=20)
    terms_digest = models.CharField(max_length=64, help_text="sha256 of the terms text as shown")
    language = models.CharField(max_length=10)
    marketing = models.BooleanField(default=False, help_text="Also agreed to receive offers by SMS")
    channel = models.CharField(max_length=4, choices=PortalSession.CHANNEL_CHOICES)
    accepted_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["person", "brand", "-accepted_at"])]

    def __str__(self) -> str:
        return f"consent {self.pk}: person {self.person_id} to {self.terms_version}"

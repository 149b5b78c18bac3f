"""Portal writes: SMS sign-in codes, member sign-in (matching or creating the person, joining the
brand's program) and sign-out.

Sign-in is anonymous until the code is right, so these services take the request's address instead
of an actor, and act as `PORTAL_SYSTEM` (a system actor labelled for the portal) where a person or a
membership has to be created.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hufen.common.actors import Actor, Role
from hufen.common.audit import audit
from hufen.common.errors import FieldError
from hufen.common.events import publish
from hufen.common.pii import mask_phone, normalize_cn_mobile
from hufen.common.sms import Sms, SmsError, sms_send
from hufen.membership.models import Member
from hufen.membership.services import member_join
from hufen.org.models import Brand
from hufen.people.models import ContactPoint, Person
from hufen.people.services import PersonInput, person_create
from hufen.portal.access import member_actor, token_hash
from hufen.portal.models import LoginCode, PortalSession

CODE_TTL = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 5
RESEND_SECONDS = 60
# Codes one address may request in an hour: a mall's Wi-Fi serves many owners, a script far more.
MAX_CODES_PER_IP_HOUR = 20
# Codes one phone may receive in a day: with 5 guesses per code, a stranger gets at most 50 guesses
# at a phone's 1-in-a-million code a day (counted in the database, so a cache flush does not reset it).
MAX_CODES_PER_PHONE_DAY = 10
CHANNEL = "h5"

PORTAL_SYSTEM = Actor(kind="system", role=Role.SYSTEM, label="system:portal")


class Throttled(FieldError):
    """Too many requests for now; `retry_after` seconds until the next is allowed."""

    def __init__(self, field: str, reason: str, retry_after: int) -> None:
        super().__init__(field, reason)
        self.retry_after = retry_after


def code_hash(phone: str, code: str) -> str:
    key = settings.PII_HASH_KEY.encode()
    return hmac.new(key, f"portal-login:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def brand_for_portal(code: str = "") -> Brand:
    """The brand a sign-in is for: the link's `brand`, else HUFEN_PORTAL_DEFAULT_BRAND, else the first."""
    code = (code or settings.HUFEN_PORTAL_DEFAULT_BRAND or "").strip()
    if code:
        brand = Brand.objects.filter(code=code).first()
        if brand is None:
            raise FieldError("brand", _("Unknown brand %(code)s.") % {"code": code[:40]})
        return brand
    brand = Brand.objects.order_by("id").first()
    if brand is None:
        raise FieldError("brand", _("No brand is set up yet."))
    return brand


def _phone(raw: str) -> str:
    try:
        return normalize_cn_mobile(raw)
    except FieldError as exc:
        raise FieldError("phone", _("Enter a valid mainland China mobile number."), raw) from exc


def _throttle_phone(phone: str) -> None:
    key = f"portal:code:phone:{phone}"
    if not cache.add(key, timezone.now().timestamp(), RESEND_SECONDS):
        sent_at = cache.get(key)
        wait = RESEND_SECONDS
        if isinstance(sent_at, float):
            wait = max(1, RESEND_SECONDS - int(timezone.now().timestamp() - sent_at))
        raise Throttled("phone", _("A code was just sent. Try again in %(s)d seconds.") % {"s": wait}, wait)


def _throttle_ip(ip: str | None) -> None:
    if not ip:
        return
    key = f"portal:code:ip:{ip}"
    cache.add(key, 0, 3600)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, 3600)
        count = 1
    if count > MAX_CODES_PER_IP_HOUR:
        raise Throttled("phone", _("Too many codes requested from this network. Try again later."), 3600)


@dataclass(frozen=True)
class CodeSent:
    phone: str  # E.164
    brand: Brand
    expires_at: dt.datetime


def login_code_request(*, phone: str, brand_code: str = "", ip: str | None = None) -> CodeSent:
    """Send a 6-digit sign-in code to `phone`. Throttled per phone (one a minute) and per address."""
    e164 = _phone(phone)
    brand = brand_for_portal(brand_code)
    _throttle_phone(e164)
    try:
        _throttle_ip(ip)
        since = timezone.now() - dt.timedelta(days=1)
        if LoginCode.objects.filter(phone=e164, created_at__gt=since).count() >= MAX_CODES_PER_PHONE_DAY:
            raise Throttled("phone", _("Too many codes for this number today. Try again tomorrow."), 86400)
        return _send_code(e164, brand, ip)
    except (Throttled, SmsError):
        # Nothing was sent: do not make the owner wait a minute for a message that never left.
        cache.delete(f"portal:code:phone:{e164}")
        raise


@transaction.atomic
def _send_code(phone: str, brand: Brand, ip: str | None) -> CodeSent:
    now = timezone.now()
    code = f"{secrets.randbelow(1_000_000):06d}"
    # A new code replaces the older ones: only the latest can sign in.
    LoginCode.objects.filter(phone=phone, used_at__isnull=True).update(used_at=now)
    row = LoginCode.objects.create(
        phone=phone,
        brand=brand,
        code_hash=code_hash(phone, code),
        created_at=now,
        expires_at=now + CODE_TTL,
        ip_address=ip,
    )
    body = _("[%(brand)s] Your sign-in code is %(code)s, valid for 5 minutes. Never share it with anyone.") % {
        "brand": brand.name,
        "code": code,
    }
    sms_send(Sms(phone=phone, body=body, purpose="login_code"))
    return CodeSent(phone=phone, brand=brand, expires_at=row.expires_at)


@dataclass(frozen=True)
class SignIn:
    member: Member
    session: PortalSession
    token: str  # the cookie value; only its hash is stored
    created_person: bool


def _anonymous(phone: str) -> Actor:
    return Actor(kind="member", role=Role.MEMBER, label=f"portal:{mask_phone(phone)}")


def _check_code(phone: str, code: str, ip: str | None) -> LoginCode:
    """The live code row if `code` is right; a wrong guess is counted (and committed) first."""
    now = timezone.now()
    with transaction.atomic():
        row = LoginCode.objects.select_for_update().filter(phone=phone, used_at__isnull=True).order_by("-id").first()
        if row is None or row.expires_at <= now:
            raise FieldError("code", _("The code has expired or was never sent. Request a new one."))
        if row.attempts >= MAX_ATTEMPTS:
            raise FieldError("code", _("Too many wrong codes. Request a new one."))
        if hmac.compare_digest(row.code_hash, code_hash(phone, code)):
            return row
        row.attempts += 1
        row.save(update_fields=["attempts"])
        audit(
            actor=_anonymous(phone),
            action="portal.login_failed",
            obj_type="login_code",
            obj_id=row.pk,
            summary={"phone": mask_phone(phone), "attempts": row.attempts},
            ip=ip,
        )
    left = MAX_ATTEMPTS - row.attempts
    if left <= 0:
        raise FieldError("code", _("Too many wrong codes. Request a new one."))
    raise FieldError("code", _("Wrong code. %(left)d attempts left.") % {"left": left})


def person_for_phone(phone: str) -> Person | None:
    """The active person this phone belongs to: a primary contact first, then the oldest record."""
    contact = (
        ContactPoint.objects.filter(kind="phone", value=phone, person__status="active")
        .select_related("person")
        .order_by("-is_primary", "person_id")
        .first()
    )
    if contact is not None:
        return contact.person
    return Person.objects.filter(phone=phone, status="active").order_by("id").first()


def member_sign_in(
    *, phone: str, code: str, brand_code: str = "", name: str = "", ip: str | None = None, user_agent: str = ""
) -> SignIn:
    """Check the code; find the phone's person (or create a prospect), join the brand; open a session."""
    e164 = _phone(phone)
    code = (code or "").strip()
    if len(code) != 6 or not code.isdigit():
        raise FieldError("code", _("The code is the 6 digits from the text message."))
    brand_for_portal(brand_code)  # an unknown brand in the form is still an error
    name = " ".join((name or "").split())
    row = _check_code(e164, code, ip)
    with transaction.atomic():
        row = LoginCode.objects.select_for_update().select_related("brand").get(pk=row.pk)
        if row.used_at is not None:
            raise FieldError("code", _("This code was already used. Request a new one."))
        person = person_for_phone(e164)
        created = person is None
        if person is None:
            if not name:
                # The code stays valid: the owner only has to add a name. Asked only after the
                # right code, so the form never tells a stranger whether a phone is registered.
                raise FieldError("name", _("New here? Enter your name to create your membership."))
            person = person_create(actor=PORTAL_SYSTEM, data=PersonInput(name=name[:60], phone=e164, source="portal"))
        # The program joined is the one the code was sent for, whatever brand the form now names.
        member = member_join(actor=PORTAL_SYSTEM, person=person, brand=row.brand, channel=CHANNEL)
        if member.status == "closed":
            raise FieldError("phone", _("This membership is closed. Please contact customer service."))
        row.used_at = timezone.now()
        row.save(update_fields=["used_at"])
        session, token = _open_session(member, ip=ip, user_agent=user_agent)
        actor = member_actor(member)
        audit(
            actor=actor,
            action="portal.login",
            obj_type="member",
            obj_id=member.pk,
            summary={"phone": mask_phone(e164), "new_person": created, "session": session.pk},
            ip=ip,
        )
        publish("portal_signed_in", person_id=person.pk, channel=CHANNEL, properties={"member_id": member.pk})
    return SignIn(member=member, session=session, token=token, created_person=created)


def _open_session(member: Member, *, ip: str | None, user_agent: str) -> tuple[PortalSession, str]:
    now = timezone.now()
    token = secrets.token_urlsafe(32)
    session = PortalSession.objects.create(
        member=member,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + dt.timedelta(days=settings.HUFEN_PORTAL_SESSION_DAYS),
        ip_address=ip,
        user_agent=user_agent[:200],
    )
    return session, token


@transaction.atomic
def member_sign_out(*, actor: Actor, session: PortalSession, ip: str | None = None) -> None:
    """End the session (idempotent: signing out twice records one logout)."""
    updated = PortalSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(ended_at=timezone.now())
    if updated:
        audit(actor=actor, action="portal.logout", obj_type="member", obj_id=session.member_id, ip=ip)

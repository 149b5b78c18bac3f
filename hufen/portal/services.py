"""Portal writes: SMS sign-in codes, member sign-in (the phone marked verified), joining the brand's
program only after the person agreed to its terms, and sign-out.

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
from django.core import signing
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
from hufen.membership.models import Member, Program
from hufen.membership.services import member_join
from hufen.org.models import Brand
from hufen.people.models import ContactPoint, Person
from hufen.people.services import PersonInput, person_create
from hufen.portal.access import API_TOKEN_PREFIX, member_actor, token_hash
from hufen.portal.models import LoginCode, PortalSession, ProgramConsent
from hufen.portal.terms import TERMS_VERSION, program_terms

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
    token: str  # the cookie value (or the API bearer token); only its hash is stored
    created_person: bool


@dataclass(frozen=True)
class JoinNeeded:
    """The code was right, but the person is not (yet) a member of the brand: show the terms first.

    `ticket` is signed and short-lived; it names the checked code, which the join spends.
    """

    ticket: str
    brand: Brand
    phone: str  # E.164
    new_person: bool


class JoinRequired(Exception):
    """Raised by `member_sign_in` when the code was right but the person must agree to join first."""

    def __init__(self, pending: JoinNeeded) -> None:
        super().__init__(f"join {pending.brand.code} first")
        self.pending = pending


JOIN_TICKET_SALT = "hufen.portal.join"
# How long the join page may stay open after the code was checked: long enough to read the terms.
JOIN_TICKET_MAX_AGE = 15 * 60


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


def phone_mark_verified(*, person: Person, phone: str, at: dt.datetime, ip: str | None = None) -> ContactPoint:
    """Record that `person` proved `phone` by an SMS code at `at` (audited; the newest proof wins)."""
    contact, created = ContactPoint.objects.get_or_create(
        person=person, kind="phone", value=phone, defaults={"last4": phone[-4:], "verified_at": at}
    )
    if not created and contact.verified_at is not None and contact.verified_at >= at:
        return contact
    if not created:
        contact.verified_at = at
        contact.save(update_fields=["verified_at"])
    audit(
        actor=_anonymous(phone),
        action="contact.phone_verified",
        obj_type="person",
        obj_id=person.pk,
        summary={"phone": mask_phone(phone), "contact": contact.pk, "by": "sms_code"},
        ip=ip,
    )
    return contact


def member_sign_in(
    *,
    phone: str,
    code: str,
    brand_code: str = "",
    name: str = "",
    ip: str | None = None,
    user_agent: str = "",
    channel: str = CHANNEL,
) -> SignIn:
    """Check the code and mark the phone verified; a member of the brand gets a session. Anyone else
    gets `JoinRequired` with a ticket for the terms page: nobody is enrolled without their consent."""
    e164 = _phone(phone)
    code = (code or "").strip()
    if len(code) != 6 or not code.isdigit():
        raise FieldError("code", _("The code is the 6 digits from the text message."))
    brand_for_portal(brand_code)  # an unknown brand in the form is still an error
    name = " ".join((name or "").split())[:60]
    row = _check_code(e164, code, ip)
    with transaction.atomic():
        row = LoginCode.objects.select_for_update().select_related("brand").get(pk=row.pk)
        if row.used_at is not None:
            raise FieldError("code", _("This code was already used. Request a new one."))
        now = timezone.now()
        person = person_for_phone(e164)
        if person is None and not name:
            # The code stays valid: the owner only has to add a name. Asked only after the
            # right code, so the form never tells a stranger whether a phone is registered.
            raise FieldError("name", _("New here? Enter your name to create your membership."))
        if person is not None:
            phone_mark_verified(person=person, phone=e164, at=now, ip=ip)
        # The program joined is the one the code was sent for, whatever brand the form now names.
        member = (
            Member.objects.filter(person=person, program__brand=row.brand).select_related("person").first()
            if person is not None
            else None
        )
        if member is None:
            row.verified_at = now
            row.save(update_fields=["verified_at"])
            ticket = signing.dumps({"code": row.pk, "phone": e164, "name": name}, salt=JOIN_TICKET_SALT)
            pending = JoinNeeded(ticket=ticket, brand=row.brand, phone=e164, new_person=person is None)
        else:
            if member.status == "closed":
                raise FieldError("phone", _("This membership is closed. Please contact customer service."))
            row.used_at = now
            row.save(update_fields=["used_at"])
            return _signed_in(member, e164, created=False, ip=ip, user_agent=user_agent, channel=channel)
    # Outside the transaction: the code's verification and the phone's must stay committed.
    raise JoinRequired(pending)


def _signed_in(member: Member, phone: str, *, created: bool, ip: str | None, user_agent: str, channel: str) -> SignIn:
    session, token = _open_session(member, ip=ip, user_agent=user_agent, channel=channel)
    audit(
        actor=member_actor(member),
        action="portal.login",
        obj_type="member",
        obj_id=member.pk,
        summary={"phone": mask_phone(phone), "new_person": created, "session": session.pk, "channel": channel},
        ip=ip,
    )
    publish("portal_signed_in", person_id=member.person_id, channel=CHANNEL, properties={"member_id": member.pk})
    return SignIn(member=member, session=session, token=token, created_person=created)


def join_ticket_open(ticket: str) -> JoinNeeded:
    """The join a ticket stands for; a forged, stale or spent ticket is an error saying to sign in again."""
    try:
        data = signing.loads(ticket or "", salt=JOIN_TICKET_SALT, max_age=JOIN_TICKET_MAX_AGE)
    except signing.BadSignature as exc:  # includes SignatureExpired
        raise FieldError("ticket", _("This sign-in has expired. Please sign in again.")) from exc
    row = LoginCode.objects.select_related("brand").filter(pk=data.get("code")).first()
    if row is None or row.verified_at is None or row.used_at is not None or row.phone != data.get("phone"):
        raise FieldError("ticket", _("This sign-in has expired. Please sign in again."))
    return JoinNeeded(ticket=ticket, brand=row.brand, phone=row.phone, new_person=person_for_phone(row.phone) is None)


def _ticket_name(ticket: str) -> str:
    data = signing.loads(ticket, salt=JOIN_TICKET_SALT, max_age=JOIN_TICKET_MAX_AGE)
    return str(data.get("name") or "")[:60]


def member_join_with_consent(
    *,
    ticket: str,
    accept_terms: bool,
    terms_version: str,
    marketing: bool = False,
    ip: str | None = None,
    user_agent: str = "",
    channel: str = CHANNEL,
) -> SignIn:
    """Enrol the ticket's person in the brand's program after they agreed to the current terms.

    Records the consent (version and digest of the text in the active language), creates the person
    for a new phone (its phone verified by the code), joins, spends the code and opens a session.
    """
    pending = join_ticket_open(ticket)
    if not accept_terms:
        raise FieldError("accept_terms", _("Please read and agree to the membership terms to join."))
    if terms_version != TERMS_VERSION:
        raise FieldError("terms_version", _("The terms have changed. Please read the new version and agree again."))
    with transaction.atomic():
        row = (
            LoginCode.objects.select_for_update().select_related("brand").get(phone=pending.phone, pk=_code_id(ticket))
        )
        if row.used_at is not None:
            raise FieldError("ticket", _("This sign-in has expired. Please sign in again."))
        now = timezone.now()
        person = person_for_phone(row.phone)
        created = person is None
        if person is None:
            name = _ticket_name(ticket)
            if not name:
                raise FieldError("name", _("New here? Enter your name to create your membership."))
            person = person_create(actor=PORTAL_SYSTEM, data=PersonInput(name=name, phone=row.phone, source="portal"))
        phone_mark_verified(person=person, phone=row.phone, at=row.verified_at or now, ip=ip)
        terms = program_terms(row.brand, program_name(row.brand))
        consent = ProgramConsent.objects.create(
            person=person,
            brand=row.brand,
            terms_version=terms.version,
            terms_digest=terms.digest,
            language=terms.language,
            marketing=bool(marketing),
            channel=channel,
            accepted_at=now,
            ip_address=ip,
            user_agent=user_agent[:200],
        )
        audit(
            actor=_anonymous(row.phone),
            action="portal.consent",
            obj_type="person",
            obj_id=person.pk,
            summary={
                "brand": row.brand.code,
                "terms": terms.version,
                "marketing": bool(marketing),
                "consent": consent.pk,
            },
            ip=ip,
        )
        member = member_join(actor=PORTAL_SYSTEM, person=person, brand=row.brand, channel=channel)
        if member.status == "closed":
            raise FieldError("phone", _("This membership is closed. Please contact customer service."))
        row.used_at = now
        row.save(update_fields=["used_at"])
        return _signed_in(member, row.phone, created=created, ip=ip, user_agent=user_agent, channel=channel)


def _code_id(ticket: str) -> int:
    data = signing.loads(ticket, salt=JOIN_TICKET_SALT, max_age=JOIN_TICKET_MAX_AGE)
    return int(data["code"])


def program_name(brand: Brand) -> str:
    """The brand's program name, as the membership program will be called once someone joins."""
    name = Program.objects.filter(brand=brand).values_list("name", flat=True).first()
    return name or f"{brand.name}会员"


def _open_session(member: Member, *, ip: str | None, user_agent: str, channel: str) -> tuple[PortalSession, str]:
    now = timezone.now()
    # API tokens carry a prefix so a leaked one is recognisable in logs and secret scanners.
    token = (API_TOKEN_PREFIX if channel == "api" else "") + secrets.token_urlsafe(32)
    session = PortalSession.objects.create(
        member=member,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + dt.timedelta(days=settings.HUFEN_PORTAL_SESSION_DAYS),
        ip_address=ip,
        user_agent=user_agent[:200],
        channel=channel,
    )
    return session, token


@transaction.atomic
def member_sign_out(*, actor: Actor, session: PortalSession, ip: str | None = None) -> None:
    """End the session (idempotent: signing out twice records one logout)."""
    updated = PortalSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(ended_at=timezone.now())
    if updated:
        audit(actor=actor, action="portal.logout", obj_type="member", obj_id=session.member_id, ip=ip)

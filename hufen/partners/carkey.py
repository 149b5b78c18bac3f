"""The digital car key: a rotating QR token and a 6-digit fallback code that an owner shows at a
partner merchant, and the merchant operator's verification of it.

- The QR payload is signed (`django.core.signing`, a salt of its own on top of SECRET_KEY) and binds
  the person, the member, one currently owned vehicle, a random nonce and an expiry at most
  `CAR_KEY_TTL_SECONDS` ahead. A screenshot is useless after that, and a nonce is accepted once.
- The 6-digit code is the fallback the owner reads out. It is stored only as a keyed digest with a
  unique index among live codes (an expired code's digest is cleared when its number is reissued),
  and a collision is retried with a fresh number.
- Verification is for a merchant operator acting for one active merchant. Every attempt, accepted or
  not, lands in `CarKeyAttempt`; failures are counted per merchant (cache counter per 10 minutes,
  DB log per day) and verifications per member, so guessing codes fails long before it could hit.
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
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from hufen.common.actors import SYSTEM, Actor, Role
from hufen.common.audit import audit
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.events import publish
from hufen.common.pii import mask_name
from hufen.membership.selectors import members_visible_to
from hufen.partners.models import CarKeyAttempt, CarKeyCode, Merchant
from hufen.people.models import Ownership

CAR_KEY_TTL_SECONDS = 60
_SALT = "hufen.partners.carkey.v1"
_CODE_ATTEMPTS = 20  # fresh numbers tried before giving up on a (practically impossible) full space

# Rate limits. Failures per merchant: a 10-minute window in the cache and a day in the DB log.
MERCHANT_FAILURES_PER_WINDOW = 10
MERCHANT_FAILURES_PER_DAY = 40
WINDOW_SECONDS = 600
# Per member: keys issued and verifications of their keys in the same window.
MEMBER_ISSUES_PER_WINDOW = 40
MEMBER_VERIFICATIONS_PER_WINDOW = 10

_FAILURE_OUTCOMES = ("forged", "expired", "used", "unknown", "malformed", "not_owned", "brand")
REASONS = {
    "forged": gettext_lazy("invalid car key: the signature does not verify (forged or tampered)"),
    "expired": gettext_lazy("the car key has expired: ask the owner to refresh it and show it again"),
    "used": gettext_lazy("the car key was already used and cannot be verified again"),
    "unknown": gettext_lazy("the code does not exist or has expired"),
    "malformed": gettext_lazy("malformed code: enter 6 digits or scan the QR code"),
    "not_owned": gettext_lazy("the vehicle is no longer owned by this owner"),
    "brand": gettext_lazy("the vehicle's brand is not one this merchant serves"),
    "rate_limited": gettext_lazy("too many failed verifications, try again later"),
}


class CarKeyRejected(FieldError):
    """A code that was not accepted; `outcome` is the logged reason code."""

    def __init__(self, outcome: str, value: object = None) -> None:
        self.outcome = outcome
        super().__init__("code", str(REASONS[outcome]), value)


@dataclass(frozen=True)
class CarKey:
    token: str
    short_code: str
    expires_at: dt.datetime
    vehicle_id: int
    ttl_seconds: int = CAR_KEY_TTL_SECONDS


@dataclass(frozen=True)
class CarKeyHolder:
    """What a merchant sees of the owner: masked name, tier, car series. Ids stay internal."""

    masked_name: str
    tier: str
    series: str
    brand_id: int
    brand_name: str
    person_id: int
    member_id: int | None
    vehicle_id: int
    key_id: int
    verified_at: dt.datetime


# --- issuing ------------------------------------------------------------------------------------


def _code_digest(code: str) -> str:
    key = hashlib.sha256(f"{settings.SECRET_KEY}|{_SALT}|code".encode()).digest()
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


def _current_ownership(person_id: int, vehicle_id: int | None) -> Ownership:
    qs = Ownership.objects.filter(person_id=person_id, ended_at__isnull=True).select_related("vehicle__model__brand")
    if vehicle_id is not None:
        found = qs.filter(vehicle_id=vehicle_id).first()
        if found is None:
            raise FieldError(
                "vehicle_id", _("vehicle %(id)s is not currently owned by this member") % {"id": vehicle_id}, vehicle_id
            )
        return found
    found = qs.order_by("-delivered_at", "-id").first()
    if found is None:
        raise FieldError("vehicle_id", _("this member has no currently owned vehicle: a car key needs one"))
    return found


def _member_id_for(actor: Actor, person_id: int, brand_id: int) -> int | None:
    """The member of the vehicle's brand program: the actor's own member if it is that one."""
    members = members_visible_to(SYSTEM).filter(person_id=person_id, program__brand_id=brand_id)
    if actor.member_id is not None and members.filter(pk=actor.member_id).exists():
        return actor.member_id
    member = members.filter(status="active").order_by("id").first()
    return member.pk if member else None


def _bucket(kind: str, ident: object, now: dt.datetime) -> str:
    return f"hufen:carkey:{kind}:{ident}:{int(now.timestamp()) // WINDOW_SECONDS}"


def _count(key: str) -> int:
    return int(cache.get(key, 0))


def _bump(key: str) -> None:
    cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
    try:
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=WINDOW_SECONDS * 2)


def car_key_issue(*, actor: Actor, vehicle_id: int | None = None, now: dt.datetime | None = None) -> CarKey:
    """Issue a fresh car key for the signed-in member (one of their currently owned vehicles)."""
    if actor.role != Role.MEMBER or actor.person_id is None:
        raise PermissionDenied(_("only a member signed in to the owner portal can show a car key"))
    now = now or timezone.now()
    ownership = _current_ownership(actor.person_id, vehicle_id)
    issues_key = _bucket("issue", actor.person_id, now)
    recent = CarKeyCode.objects.filter(
        person_id=actor.person_id, issued_at__gt=now - dt.timedelta(seconds=WINDOW_SECONDS)
    ).count()
    if max(_count(issues_key), recent) >= MEMBER_ISSUES_PER_WINDOW:
        raise FieldError("code", _("the car key was refreshed too often, try again later"))
    member_id = _member_id_for(actor, actor.person_id, ownership.vehicle.model.brand_id)
    expires_at = now + dt.timedelta(seconds=CAR_KEY_TTL_SECONDS)
    nonce = secrets.token_urlsafe(16)
    row, code = _store_code(
        nonce=nonce,
        person_id=actor.person_id,
        member_id=member_id,
        vehicle_id=ownership.vehicle_id,
        now=now,
        expires_at=expires_at,
    )
    _bump(issues_key)
    payload = {
        "p": actor.person_id,
        "m": member_id,
        "v": ownership.vehicle_id,
        "n": nonce,
        "e": int(expires_at.timestamp()),
    }
    token = "HK1." + signing.dumps(payload, salt=_SALT, compress=False)
    return CarKey(token=token, short_code=code, expires_at=row.expires_at, vehicle_id=ownership.vehicle_id)


def _store_code(
    *, nonce: str, person_id: int, member_id: int | None, vehicle_id: int, now: dt.datetime, expires_at: dt.datetime
) -> tuple[CarKeyCode, str]:
    for _attempt in range(_CODE_ATTEMPTS):
        code = f"{secrets.randbelow(1_000_000):06d}"
        digest = _code_digest(code)
        try:
            with transaction.atomic():
                # An expired key gives its number back; the key itself stays for the log and redemptions.
                CarKeyCode.objects.filter(code_digest=digest, expires_at__lte=now).update(code_digest=None)
                row = CarKeyCode.objects.create(
                    nonce=nonce,
                    code_digest=digest,
                    person_id=person_id,
                    member_id=member_id,
                    vehicle_id=vehicle_id,
                    issued_at=now,
                    expires_at=expires_at,
                )
            return row, code
        except IntegrityError:
            continue  # the number is live for someone else: draw another
    raise FieldError("code", _("no free 6-digit code could be drawn; try again"))


# --- verifying ----------------------------------------------------------------------------------


def merchant_for_operator(actor: Actor) -> Merchant:
    if actor.role != Role.MERCHANT_OPERATOR or actor.merchant_id is None:
        raise PermissionDenied(_("only a merchant operator of a partner merchant can verify car keys"))
    merchant = Merchant.objects.filter(pk=actor.merchant_id).prefetch_related("brands").first()
    if merchant is None:
        raise NotFound(_("merchant %(id)s does not exist") % {"id": actor.merchant_id})
    if merchant.status != "active":
        raise PermissionDenied(
            _("merchant %(name)s is not active (%(status)s)") % {"name": merchant.name, "status": merchant.status}
        )
    return merchant


def _log(
    *,
    actor: Actor,
    merchant: Merchant,
    method: str,
    outcome: str,
    now: dt.datetime,
    key: CarKeyCode | None = None,
) -> None:
    CarKeyAttempt.objects.create(
        merchant=merchant,
        staff_id=actor.staff_id,
        method=method,
        outcome=outcome,
        person_id=key.person_id if key else None,
        key=key,
        created_at=now,
    )
    if outcome in _FAILURE_OUTCOMES:
        _bump(_bucket("fail", merchant.pk, now))
    if key is not None:
        _bump(_bucket("member", key.person_id, now))


def _merchant_blocked(merchant: Merchant, now: dt.datetime) -> bool:
    if _count(_bucket("fail", merchant.pk, now)) >= MERCHANT_FAILURES_PER_WINDOW:
        return True
    since = now - dt.timedelta(seconds=WINDOW_SECONDS)
    day = now - dt.timedelta(days=1)
    failures = CarKeyAttempt.objects.filter(merchant=merchant, outcome__in=_FAILURE_OUTCOMES, created_at__gt=day)
    # The DB log is the durable fallback for a cache that was flushed or evicted.
    return (
        failures.count() >= MERCHANT_FAILURES_PER_DAY
        or failures.filter(created_at__gt=since).count() >= MERCHANT_FAILURES_PER_WINDOW
    )


def _member_blocked(person_id: int, now: dt.datetime) -> bool:
    if _count(_bucket("member", person_id, now)) >= MEMBER_VERIFICATIONS_PER_WINDOW:
        return True
    since = now - dt.timedelta(seconds=WINDOW_SECONDS)
    recent = CarKeyAttempt.objects.filter(person_id=person_id, created_at__gt=since).exclude(outcome="rate_limited")
    return recent.count() >= MEMBER_VERIFICATIONS_PER_WINDOW


def _resolve(code: str, now: dt.datetime) -> tuple[str, CarKeyCode | None, str]:
    """(method, key or None, failure outcome or "")."""
    text = (code or "").strip()
    if text.isdigit() and len(text) == 6:
        key = CarKeyCode.objects.filter(code_digest=_code_digest(text)).first()
        if key is None:
            return "code", None, "unknown"
        return "code", key, ""
    if not text.startswith("HK1."):
        return "qr", None, "malformed"
    try:
        payload = signing.loads(text[4:], salt=_SALT)
    except signing.BadSignature:
        return "qr", None, "forged"
    if not isinstance(payload, dict) or not {"p", "v", "n", "e"} <= payload.keys():
        return "qr", None, "forged"
    key = CarKeyCode.objects.filter(nonce=str(payload["n"])).first()
    if key is None or key.person_id != payload["p"] or key.vehicle_id != payload["v"]:
        return "qr", None, "forged"
    if int(payload["e"]) <= int(now.timestamp()):
        return "qr", key, "expired"
    return "qr", key, ""


def car_key_verify(*, actor: Actor, code: str, now: dt.datetime | None = None) -> CarKeyHolder:
    """Verify a scanned QR token or a typed 6-digit code for the operator's merchant, consuming it.

    Rejections raise `CarKeyRejected` (a FieldError on "code") after logging the attempt; the log
    commits even though the caller sees an error.
    """
    merchant = merchant_for_operator(actor)
    now = now or timezone.now()
    method = "qr" if (code or "").strip().startswith("HK1.") else "code"
    if _merchant_blocked(merchant, now):
        _log(actor=actor, merchant=merchant, method=method, outcome="rate_limited", now=now)
        raise CarKeyRejected("rate_limited")
    method, key, failure = _resolve(code, now)
    if key is not None and _member_blocked(key.person_id, now):
        _log(actor=actor, merchant=merchant, method=method, outcome="rate_limited", now=now, key=key)
        raise CarKeyRejected("rate_limited")
    if failure:
        _log(actor=actor, merchant=merchant, method=method, outcome=failure, now=now, key=key)
        raise CarKeyRejected(failure)
    assert key is not None
    holder, failure = _consume(actor=actor, merchant=merchant, key_id=key.pk, method=method, now=now)
    if holder is None:
        _log(actor=actor, merchant=merchant, method=method, outcome=failure, now=now, key=key)
        raise CarKeyRejected(failure)
    return holder


@transaction.atomic
def _consume(
    *, actor: Actor, merchant: Merchant, key_id: int, method: str, now: dt.datetime
) -> tuple[CarKeyHolder | None, str]:
    key = CarKeyCode.objects.select_for_update().get(pk=key_id)
    if key.used_at is not None:
        return None, "used"
    if key.expires_at <= now:
        return None, "expired"
    ownership = (
        Ownership.objects.filter(person_id=key.person_id, vehicle_id=key.vehicle_id, ended_at__isnull=True)
        .select_related("vehicle__model__brand", "person")
        .first()
    )
    if ownership is None:
        return None, "not_owned"
    brand = ownership.vehicle.model.brand
    if brand.pk not in {b.pk for b in merchant.brands.all()}:
        return None, "brand"
    key.used_at = now
    key.used_by = merchant
    key.save(update_fields=["used_at", "used_by"])
    _log(actor=actor, merchant=merchant, method=method, outcome="ok", now=now, key=key)
    audit(
        actor=actor,
        action="car_key.verified",
        obj_type="car_key",
        obj_id=key.pk,
        summary={"merchant_id": merchant.pk, "person_id": key.person_id, "method": method},
    )
    publish(
        "car_key_verified",
        person_id=key.person_id,
        channel="merchant",
        ts=now,
        properties={"merchant_id": merchant.pk, "vehicle_id": key.vehicle_id, "method": method},
    )
    return _holder(key, ownership), ""


def _holder(key: CarKeyCode, ownership: Ownership) -> CarKeyHolder:
    tier = ""
    if key.member_id is not None:
        member = members_visible_to(SYSTEM).filter(pk=key.member_id).select_related("tier").first()
        tier = member.tier.name if member else ""
    brand = ownership.vehicle.model.brand
    assert key.used_at is not None
    return CarKeyHolder(
        masked_name=mask_name(ownership.person.name),
        tier=tier,
        series=ownership.vehicle.model.series,
        brand_id=brand.pk,
        brand_name=brand.name,
        person_id=key.person_id,
        member_id=key.member_id,
        vehicle_id=key.vehicle_id,
        key_id=key.pk,
        verified_at=key.used_at,
    )


def car_key_holder(*, actor: Actor, key_id: int) -> CarKeyHolder:
    """The masked holder of a key this operator's merchant verified (to redraw the perk form)."""
    merchant = merchant_for_operator(actor)
    key = CarKeyCode.objects.filter(pk=key_id, used_by=merchant).first()
    ownership = (
        Ownership.objects.filter(person_id=key.person_id, vehicle_id=key.vehicle_id, ended_at__isnull=True)
        .select_related("vehicle__model__brand", "person")
        .first()
        if key is not None
        else None
    )
    if key is None or ownership is None:
        raise NotFound(_("car key %(id)s was not verified at this merchant") % {"id": key_id})
    return _holder(key, ownership)

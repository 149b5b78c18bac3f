"""Cross-industry coupons: batches imported from CSV (all or nothing) or generated, issued to tiers,
on Member Day or for points through the ledger, redeemed by the partner through the API with its own
key (idempotent), and settled monthly per partner."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import secrets
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from hufen.common.actors import SYSTEM, Actor, Role
from hufen.common.audit import audit
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.common.events import publish
from hufen.membership.ledger import points_spend
from hufen.membership.models import Member
from hufen.membership.selectors import members_visible_to
from hufen.org.models import Brand
from hufen.partners.models import Coupon, CouponBatch, Merchant, PartnerKey, SavedSegment
from hufen.partners.segments import Segment, filters_of, saved_segment_members, segment_get, segment_members

CODE_RE = re.compile(r"[A-Za-z0-9-]{6,32}")
MAX_CODES = 100_000
HQ_ROLES = frozenset({Role.HQ_ADMIN, Role.HQ_OPERATOR, Role.SYSTEM})
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I look-alikes


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    reason: str


class CouponImportError(FieldError):
    """The CSV was rejected as a whole; `rows` says which rows and why. Nothing was imported."""

    def __init__(self, rows: list[RowError]) -> None:
        self.rows = rows
        first = "; ".join(
            _("row %(row)s %(column)s: %(reason)s") % {"row": e.row, "column": e.column, "reason": e.reason}
            for e in rows[:5]
        )
        more = _(" (and %(count)s more)") % {"count": len(rows) - 5} if len(rows) > 5 else ""
        super().__init__(
            "file", _("%(count)s bad row(s), nothing imported: %(rows)s") % {"count": len(rows), "rows": first + more}
        )


def _require_hq(actor: Actor) -> None:
    if actor.role not in HQ_ROLES:
        raise PermissionDenied(_("only HQ manages cross-industry coupons"))


def _batch_fields(merchant: Merchant, brand: Brand, data: dict[str, Any]) -> dict[str, Any]:
    if merchant.status != "active":
        raise FieldError(
            "merchant",
            _("merchant %(name)s is %(status)s, not active") % {"name": merchant.name, "status": merchant.status},
        )
    if not merchant.brands.filter(pk=brand.pk).exists():
        raise FieldError(
            "brand",
            _("merchant %(name)s does not serve brand %(brand)s") % {"name": merchant.name, "brand": brand.name},
        )
    title = str(data.get("title") or "").strip()
    if not title or len(title) > 80:
        raise FieldError("title", _("is required (at most 80 characters)"))
    value = data.get("value_fen")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise FieldError("value_fen", _("%(value)s must be a whole number of fen >= 1") % {"value": repr(value)}, value)
    price = data.get("points_price")
    if price is not None and (not isinstance(price, int) or isinstance(price, bool) or price < 1):
        raise FieldError(
            "points_price", _("%(value)s must be a whole number of points >= 1") % {"value": repr(price)}, price
        )
    valid_from, valid_until = data.get("valid_from"), data.get("valid_until")
    if not isinstance(valid_from, dt.datetime) or not isinstance(valid_until, dt.datetime):
        raise FieldError("valid_until", _("valid_from and valid_until must be date-times"))
    if valid_until <= valid_from:
        raise FieldError("valid_until", _("must be after valid_from"))
    return {
        "title": title,
        "value_fen": value,
        "points_price": price,
        "valid_from": valid_from,
        "valid_until": valid_until,
    }


def parse_codes(csv_text: str) -> list[str]:
    """Codes from a CSV with a `code` column; every bad row is reported, none is skipped."""
    reader = csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff")))
    if reader.fieldnames is None or "code" not in [f.strip().lower() for f in reader.fieldnames]:
        raise CouponImportError([RowError(1, "code", _("the header must have a 'code' column"))])
    column = next(f for f in reader.fieldnames if f.strip().lower() == "code")
    codes: list[str] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        code = (row.get(column) or "").strip()
        if not CODE_RE.fullmatch(code):
            errors.append(
                RowError(line, "code", _("%(code)s is not 6-32 letters, digits or '-'") % {"code": repr(code)})
            )
            continue
        key = code.upper()
        if key in seen:
            errors.append(
                RowError(line, "code", _("%(code)s duplicates row %(row)s") % {"code": repr(code), "row": seen[key]})
            )
            continue
        seen[key] = line
        codes.append(key)
    if not codes and not errors:
        errors.append(RowError(2, "code", _("the file has no codes")))
    if len(codes) > MAX_CODES:
        errors.append(RowError(MAX_CODES + 2, "code", _("at most %(max)s codes per batch") % {"max": MAX_CODES}))
    if errors:
        raise CouponImportError(errors)
    return codes


@transaction.atomic
def coupon_batch_import(
    *, actor: Actor, merchant: Merchant, brand: Brand, data: dict[str, Any], csv_text: str
) -> CouponBatch:
    _require_hq(actor)
    fields = _batch_fields(merchant, brand, data)
    codes = parse_codes(csv_text)
    taken = set(Coupon.objects.filter(merchant=merchant, code__in=codes).values_list("code", flat=True))
    if taken:
        lines = {c: i for i, c in enumerate(codes, start=2)}
        errors = [
            RowError(lines[c], "code", _("%(code)s already exists for this partner") % {"code": repr(c)})
            for c in sorted(taken)
        ]
        raise CouponImportError(sorted(errors, key=lambda e: e.row))
    return _create_batch(actor, merchant, brand, fields, codes, source="imported")


@transaction.atomic
def coupon_batch_generate(
    *, actor: Actor, merchant: Merchant, brand: Brand, data: dict[str, Any], count: int
) -> CouponBatch:
    _require_hq(actor)
    fields = _batch_fields(merchant, brand, data)
    if not isinstance(count, int) or not 1 <= count <= MAX_CODES:
        raise FieldError("count", _("%(value)s must be 1..%(max)s") % {"value": repr(count), "max": MAX_CODES}, count)
    codes: set[str] = set()
    while len(codes) < count:
        codes |= {"".join(secrets.choice(_ALPHABET) for _ in range(12)) for _ in range(count - len(codes))}
        codes -= set(Coupon.objects.filter(merchant=merchant, code__in=codes).values_list("code", flat=True))
    return _create_batch(actor, merchant, brand, fields, sorted(codes), source="generated")


def _create_batch(
    actor: Actor, merchant: Merchant, brand: Brand, fields: dict[str, Any], codes: list[str], *, source: str
) -> CouponBatch:
    batch = CouponBatch.objects.create(merchant=merchant, brand=brand, source=source, **fields)
    Coupon.objects.bulk_create([Coupon(batch=batch, merchant=merchant, code=c) for c in codes], batch_size=2000)
    audit(
        actor=actor,
        action=f"coupon_batch.{source}",
        obj_type="coupon_batch",
        obj_id=batch.pk,
        summary={"merchant_id": merchant.pk, "count": len(codes), "value_fen": batch.value_fen},
    )
    publish(
        "coupon_batch_created",
        properties={"batch_id": batch.pk, "merchant_id": merchant.pk, "count": len(codes), "source": source},
    )
    return batch


# --- issuing ------------------------------------------------------------------------------------


def _issue_one(
    actor: Actor,
    batch: CouponBatch,
    member: Member,
    *,
    via: str,
    key: str,
    now: dt.datetime,
    entry_id: int | None = None,
) -> Coupon:
    coupon = (
        Coupon.objects.select_for_update(skip_locked=True)
        .filter(batch=batch, status="available")
        .order_by("id")
        .first()
    )
    if coupon is None:
        raise FieldError("batch", _("coupon batch %(title)s has no coupons left") % {"title": batch.title})
    coupon.status = "issued"
    coupon.person_id = member.person_id
    coupon.member_id = member.pk
    coupon.issued_via = via
    coupon.issue_key = key
    coupon.issued_at = now
    coupon.points_entry_id = entry_id
    coupon.save()
    publish(
        "coupon_issued",
        person_id=member.person_id,
        ts=now,
        properties={"coupon_id": coupon.pk, "batch_id": batch.pk, "merchant_id": batch.merchant_id, "via": via},
    )
    return coupon


@transaction.atomic
def coupons_issue_to_segment(
    *,
    actor: Actor,
    batch: CouponBatch,
    segment: Segment,
    now: dt.datetime | None = None,
    saved: SavedSegment | None = None,
) -> int:
    """One coupon to every member of the segment, once each per batch (a rerun only tops up members
    who entered the segment since). Stops when the batch runs out. Returns how many were issued now."""
    _require_hq(actor)
    now = now or timezone.now()
    batch = CouponBatch.objects.select_for_update().select_related("brand").get(pk=batch.pk)
    via = "tier" if segment == Segment(min_tier_rank=segment.min_tier_rank) else "segment"
    if saved is not None:
        if saved.brand_id != batch.brand_id:
            raise FieldError("segment_id", _("the segment is of another brand than the batch"))
        members = saved_segment_members(actor=actor, saved=saved, now=now)
    else:
        members = segment_members(actor=actor, brand=batch.brand, segment=segment, now=now)
    members = members.exclude(
        pk__in=Coupon.objects.filter(batch=batch, member_id__isnull=False).values("member_id")
    ).order_by("id")
    issued = 0
    for member in members:
        if not Coupon.objects.filter(batch=batch, status="available").exists():
            break
        _issue_one(actor, batch, member, via=via, key=f"{via}:{member.pk}", now=now)
        issued += 1
    summary = {**segment.describe(), "issued": issued}
    if saved is not None:
        summary.update(segment_id=saved.pk, segment_name=saved.name)
    audit(
        actor=actor, action=f"coupon_batch.issued_to_{via}", obj_type="coupon_batch", obj_id=batch.pk, summary=summary
    )
    return issued


def coupons_issue_to_saved_segment(
    *, actor: Actor, batch: CouponBatch, segment_id: int, now: dt.datetime | None = None
) -> int:
    """Issue to a saved segment the actor can see (its filters, within the scope it was saved in)."""
    _require_hq(actor)
    saved = segment_get(actor=actor, segment_id=segment_id)
    return coupons_issue_to_segment(actor=actor, batch=batch, segment=filters_of(saved), now=now, saved=saved)


def coupons_issue_to_tier(
    *, actor: Actor, batch: CouponBatch, min_tier_rank: int = 0, now: dt.datetime | None = None
) -> int:
    """One coupon to every active member of the batch's brand at or above a tier (see the segment form)."""
    return coupons_issue_to_segment(actor=actor, batch=batch, segment=Segment(min_tier_rank=min_tier_rank), now=now)


@transaction.atomic
def coupon_issue(
    *, actor: Actor, batch: CouponBatch, member: Member, via: str, idempotency_key: str, now: dt.datetime | None = None
) -> Coupon:
    """One coupon to one member (Member Day prizes call this with via="member_day"); a repeated key
    returns the coupon issued the first time."""
    if actor.role not in HQ_ROLES and actor.role != Role.API_CLIENT:
        raise PermissionDenied(_("only HQ or an integration issues coupons to members"))
    if via not in {"tier", "member_day"}:
        raise FieldError(
            "via", _("%(value)s must be tier or member_day (points go through coupon_exchange)") % {"value": repr(via)}
        )
    key = f"{via}:{idempotency_key}"[:120]
    earlier = Coupon.objects.filter(batch=batch, issue_key=key).first()
    if earlier is not None:
        return earlier
    if member.program.brand_id != batch.brand_id or member.status != "active":
        raise FieldError("member", _("the member is not an active member of the batch's brand"))
    return _issue_one(actor, batch, member, via=via, key=key, now=now or timezone.now())


@transaction.atomic
def coupon_exchange(*, actor: Actor, batch_id: int, idempotency_key: str, now: dt.datetime | None = None) -> Coupon:
    """A member exchanges points for a coupon: the ledger spend and the coupon land together."""
    if actor.role != Role.MEMBER or actor.member_id is None:
        raise PermissionDenied(_("only a signed-in member exchanges points for coupons"))
    now = now or timezone.now()
    member = members_visible_to(SYSTEM).select_related("program").get(pk=actor.member_id)
    batch = CouponBatch.objects.filter(pk=batch_id, brand_id=member.program.brand_id).first()
    if batch is None or batch.points_price is None:
        raise NotFound(_("coupon batch %(id)s cannot be exchanged for points") % {"id": batch_id})
    key = f"points:{member.pk}:{idempotency_key}"[:120]
    earlier = Coupon.objects.filter(batch=batch, issue_key=key).first()
    if earlier is not None:
        return earlier
    if not batch.valid_from <= now < batch.valid_until:
        raise FieldError("batch", _("this coupon is not on offer now"))
    if not Coupon.objects.filter(batch=batch, status="available").exists():
        raise FieldError("batch", _("coupon batch %(title)s has no coupons left") % {"title": batch.title})
    entry = points_spend(
        actor=actor,
        member=member,
        amount=batch.points_price,
        reason="coupon",
        idempotency_key=f"coupon:{batch.pk}:{idempotency_key}"[:200],
        ref_type="coupon_batch",
        ref_id=str(batch.pk),
        now=now,
    )
    return _issue_one(actor, batch, member, via="points", key=key, now=now, entry_id=entry.pk)


# --- the partner's side ---------------------------------------------------------------------------


PARTNER_TOKEN_PREFIX = "hp_"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def partner_key_create(*, actor: Actor, merchant: Merchant, name: str) -> tuple[PartnerKey, str]:
    """A partner's own API key: it confirms redemptions and reads its settlement, nothing else.
    The clear token is returned once and never stored."""
    _require_hq(actor)
    name = name.strip()
    if not name or len(name) > 80:
        raise FieldError("name", _("is required (at most 80 characters)"))
    token = PARTNER_TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = PartnerKey.objects.create(
        merchant=merchant, name=name, token_prefix=token[:10], token_hash=_token_hash(token)
    )
    audit(
        actor=actor,
        action="partner_key.create",
        obj_type="partner_key",
        obj_id=key.pk,
        summary={"name": name, "merchant_id": merchant.pk},
    )
    return key, token


def partner_key_authenticate(token: str) -> PartnerKey | None:
    if not token.startswith(PARTNER_TOKEN_PREFIX) or len(token) > 100:
        return None
    key = (
        PartnerKey.objects.select_related("merchant")
        .filter(token_hash=_token_hash(token), revoked_at__isnull=True)
        .first()
    )
    if key is None or key.merchant.status != "active":
        return None
    PartnerKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key


def actor_for_partner_key(key: PartnerKey) -> Actor:
    """A partner integration acts like a merchant operator of its merchant: no person scope at all."""
    return Actor(
        kind="partner_key",
        role=Role.MERCHANT_OPERATOR,
        label=f"partner:{key.name}"[:150],
        merchant_id=key.merchant_id,
        extra_permissions=frozenset({f"partner_key:{key.pk}"}),
    )


def partner_of(actor: Actor) -> Merchant:
    if actor.kind != "partner_key" or actor.merchant_id is None:
        raise PermissionDenied(_("this needs a partner's own API key (hp_...)"))
    merchant = Merchant.objects.filter(pk=actor.merchant_id, status="active").first()
    if merchant is None:
        raise PermissionDenied(_("the partner is not active"))
    return merchant


def _key_id(actor: Actor) -> int | None:
    for perm in actor.extra_permissions:
        if perm.startswith("partner_key:"):
            return int(perm.split(":", 1)[1])
    return None


@transaction.atomic
def coupon_redeem_confirm(*, actor: Actor, code: str, idempotency_key: str, now: dt.datetime | None = None) -> Coupon:
    """The partner confirms an owner used a coupon. The same key again returns the same result; a
    coupon already redeemed under another key, unissued or expired is refused."""
    merchant = partner_of(actor)
    now = now or timezone.now()
    key = (idempotency_key or "").strip()
    if not 8 <= len(key) <= 200:
        raise FieldError("idempotency_key", _("must be 8-200 characters"))
    coupon = (
        Coupon.objects.select_for_update()
        .select_related("batch")
        .filter(merchant=merchant, code=(code or "").strip().upper())
        .first()
    )
    if coupon is None:
        raise NotFound(_("coupon %(code)s does not exist for this partner") % {"code": repr(code)})
    if coupon.status == "redeemed":
        if coupon.redeem_key == key:
            return coupon
        raise FieldError(
            "code",
            _("coupon %(code)s was already redeemed at %(when)s")
            % {"code": coupon.code, "when": f"{coupon.redeemed_at:%Y-%m-%d %H:%M}"},
        )
    if coupon.status != "issued":
        raise FieldError("code", _("coupon %(code)s was never issued to an owner") % {"code": coupon.code})
    if not coupon.batch.valid_from <= now < coupon.batch.valid_until:
        raise FieldError("code", _("coupon %(code)s is not valid now") % {"code": coupon.code})
    coupon.status = "redeemed"
    coupon.redeemed_at = now
    coupon.redeem_key = key
    coupon.redeemed_by_id = _key_id(actor)
    coupon.save(update_fields=["status", "redeemed_at", "redeem_key", "redeemed_by"])
    audit(actor=actor, action="coupon.redeemed", obj_type="coupon", obj_id=coupon.pk, summary={"code": coupon.code})
    publish(
        "coupon_redeemed",
        person_id=coupon.person_id,
        ts=now,
        channel="api",
        properties={
            "coupon_id": coupon.pk,
            "batch_id": coupon.batch_id,
            "merchant_id": merchant.pk,
            "value_fen": coupon.batch.value_fen,
        },
    )
    return coupon


@dataclass(frozen=True)
class SettlementLine:
    batch_id: int
    title: str
    value_fen: int
    redeemed: int
    total_fen: int


@dataclass(frozen=True)
class Settlement:
    merchant_id: int
    month: str
    lines: list[SettlementLine]
    redeemed: int
    total_fen: int


def month_bounds(month: str, time_zone: str) -> tuple[dt.datetime, dt.datetime]:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month or ""):
        raise FieldError("month", _("%(value)s must be YYYY-MM") % {"value": repr(month)})
    year, mon = int(month[:4]), int(month[5:])
    tz = zoneinfo.ZoneInfo(time_zone)
    start = dt.datetime(year, mon, 1, tzinfo=tz)
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
    return start, end


def coupon_settlement(*, actor: Actor, merchant: Merchant, month: str) -> Settlement:
    """Coupons redeemed at a partner in a month (each batch's brand time zone): count and face value."""
    if actor.kind == "partner_key":
        if partner_of(actor).pk != merchant.pk:
            raise PermissionDenied(_("a partner key reads only its own settlement"))
    elif actor.role not in HQ_ROLES:
        raise PermissionDenied(_("only HQ or the partner reads coupon settlements"))
    lines: list[SettlementLine] = []
    for batch in CouponBatch.objects.filter(merchant=merchant).select_related("brand").order_by("id"):
        start, end = month_bounds(month, batch.brand.time_zone)
        row = Coupon.objects.filter(
            batch=batch, status="redeemed", redeemed_at__gte=start, redeemed_at__lt=end
        ).aggregate(n=Count("id"))
        n = int(row["n"] or 0)
        if n:
            lines.append(SettlementLine(batch.pk, batch.title, batch.value_fen, n, n * batch.value_fen))
    return Settlement(
        merchant_id=merchant.pk,
        month=month,
        lines=lines,
        redeemed=sum(line.redeemed for line in lines),
        total_fen=sum(line.total_fen for line in lines),
    )

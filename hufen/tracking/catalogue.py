"""The event catalogue: which names exist and which properties each must carry.

The built-ins are the steps of the double funnel; HQ adds or overrides names through `EventType`.
Unknown names are rejected unless `settings.TRACKING_ALLOW_CUSTOM_EVENTS` is true, in which case
they are accepted with no required properties.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from hufen.tracking.models import EventType

BUILTIN_EVENT_TYPES: dict[str, tuple[str, ...]] = {
    # acquisition funnel (prospect)
    "lead_created": ("source",),
    "store_visited": (),
    "test_drive": ("model_code",),
    "order_placed": ("order_no",),
    "vehicle_delivered": (),
    # retention and value fission (owner)
    "member_joined": (),
    "app_active": (),
    "page_viewed": ("page",),
    "post_created": ("post_id",),
    "referral_made": ("referee",),
    "repurchase": (),
    "member_day_check_in": ("day",),
    # earning rules (membership/rules.py): a daily check-in, an attended experience, a referral
    # that ended in a delivery
    "daily_check_in": (),
    "experience_attended": (),
    "referral_delivered": (),
    # business facts published by the platform's own services (the DomainEvent outbox)
    "ownership_ended": (),
    "service_visited": (),
    "butler_assigned": (),
    "person_created": (),
    "identify": (),
    "person_merged": (),
    "person_unmerged": (),
    "identity_record_linked": (),
    # membership (ledger entries are events too)
    "member_status_changed": (),
    "member_tier_changed": (),
    "points_earned": (),
    "points_spent": (),
    "points_reversed": (),
    "points_expired": (),
    "benefit_redeemed": (),
    "redemption_cancelled": (),
    "redemption_fulfilled": (),
    "portal_signed_in": (),
    # Member Day (the platform's check-in fact; `member_day_check_in` above is the name clients send)
    "memberday_scheduled": (),
    "memberday_checked_in": (),
    "memberday_task_completed": (),
    "memberday_session_created": (),
    "memberday_session_signed_up": (),
    "memberday_session_attended": (),
    # partners
    "merchant_applied": (),
    "merchant_approved": (),
    "merchant_rejected": (),
    "merchant_suspended": (),
    "merchant_reinstated": (),
    "offer_created": (),
    "offer_redeemed": (),
    "offer_disputed": (),
    "offer_dispute_rejected": (),
    "offer_redemption_voided": (),
    "car_key_verified": (),
    "coupon_batch_created": (),
    "coupon_issued": (),
    "coupon_redeemed": (),
    "memberday_coupon_attached": (),
    "memberday_coupon_detached": (),
    "segment_saved": (),
}


@dataclass(frozen=True)
class Catalogue:
    required: dict[str, tuple[str, ...]]
    allow_custom: bool

    def check(self, name: str) -> tuple[str, ...] | None:
        """The required properties of `name`, or None if the name is not accepted."""
        if name in self.required:
            return self.required[name]
        return () if self.allow_custom else None


def catalogue_load() -> Catalogue:
    required = dict(BUILTIN_EVENT_TYPES)
    for row in EventType.objects.only("name", "required_properties", "is_active"):
        if row.is_active:
            required[row.name] = tuple(str(p) for p in row.required_properties or ())
        else:
            required.pop(row.name, None)
    return Catalogue(required=required, allow_custom=bool(getattr(settings, "TRACKING_ALLOW_CUSTOM_EVENTS", False)))

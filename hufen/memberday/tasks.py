"""Background jobs: only call services; safe to run twice."""

from __future__ import annotations

from django_tasks import task

from hufen.common.actors import SYSTEM
from hufen.memberday.awards import memberday_award_pending
from hufen.memberday.services import memberday_schedule
from hufen.org.models import Brand

MONTHS_AHEAD = 3


def memberday_schedule_all(*, months: int = MONTHS_AHEAD) -> dict[str, list[str]]:
    """Every active brand's Member Days for this month and the next ones (idempotent)."""
    out: dict[str, list[str]] = {}
    for brand in Brand.objects.order_by("code"):
        campaign = getattr(brand, "memberday_campaign", None)
        if campaign is not None and not campaign.active:
            continue
        out[brand.code] = [o.day.isoformat() for o in memberday_schedule(actor=SYSTEM, brand=brand, months=months)]
    return out


@task()
def schedule_task() -> dict[str, list[str]]:
    return memberday_schedule_all()


@task()
def award_pending_task() -> dict[str, object]:
    """Pay the pending check-ins (the scheduler starts it every few seconds; safe to run twice)."""
    return memberday_award_pending(actor=SYSTEM).as_dict()

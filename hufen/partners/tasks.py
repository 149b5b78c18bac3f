"""Periodic partners work, for the one scheduler (registered in apps.py): Member Day coupons.

`partners.memberday_coupons` runs every minute: it issues the coupons attached to Member Day to the
members who checked in since the last run (see memberday_coupons.py; safe to run twice).
"""

from __future__ import annotations

from typing import Any

from django_tasks import task

from hufen.partners.memberday_coupons import memberday_coupons_issue


@task()
def memberday_coupons_task() -> dict[str, Any]:
    """The Member Day coupon reaction as a django-tasks task."""
    return memberday_coupons_issue().as_dict()

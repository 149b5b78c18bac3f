"""Console pages for members (/console/membership/): the scoped member list and a member's detail.

A member is visible exactly when its person is; a detail outside the actor's scope is a 404, never
a 403, so that it cannot be told apart from a member that does not exist. Personal data is masked.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404, HttpResponse
from django.shortcuts import render

from hufen.common.errors import NotFound
from hufen.common.pii import mask_name, mask_phone
from hufen.console.access import ConsoleRequest, console_view
from hufen.console.paging import keyset_page, parse_cursor
from hufen.membership import selectors
from hufen.membership.models import EarningDecision, Member, PointsEntry, PointsLot, Redemption, TierHistory
from hufen.membership.reasons import REASONS
from hufen.org.models import Brand
from hufen.portal.selectors import member_consents

PAGE_SIZE = 25
ENTRY_PAGE_SIZE = 20
QUERY_MAX_LENGTH = 32
MASKED_PHONE = re.compile(r"^(\d{3})\*{4}(\d{4})$")


def member_search(qs: QuerySet[Member], query: str) -> QuerySet[Member]:
    """A member number (or its start), a masked phone as shown (138****5678), its last four, a mobile."""
    q = query.replace(" ", "")
    if not q:
        return qs
    masked = MASKED_PHONE.match(q)
    if masked:
        return qs.filter(person__phone__startswith=f"+86{masked[1]}", person__phone__endswith=masked[2])
    if q.isdigit() and len(q) == 4:
        return qs.filter(Q(person__phone__endswith=q) | Q(number__endswith=q))
    if q.isdigit() and len(q) == 11:
        return qs.filter(person__phone=f"+86{q}")
    if q.startswith("+") and q[1:].isdigit():
        return qs.filter(person__phone=q)
    return qs.filter(number__istartswith=q)


@console_view("membership.view")
def member_list(request: ConsoleRequest) -> HttpResponse:
    actor = request.actor
    q = " ".join(request.GET.get("q", "").split())[:QUERY_MAX_LENGTH]
    filters = {k: request.GET.get(k, "")[:32] for k in ("brand", "tier", "status")}
    qs = selectors.member_list(actor=actor, brand_code=filters["brand"], status=filters["status"])
    if filters["tier"]:
        qs = qs.filter(tier__code=filters["tier"])
    qs = member_search(qs, q).order_by("id")
    page = keyset_page(
        qs, size=PAGE_SIZE, after=parse_cursor(request.GET.get("after")), before=parse_cursor(request.GET.get("before"))
    )
    rows = [
        {
            "m": m,
            "name": mask_name(m.person.name),
            "phone": mask_phone(m.person.phone),
        }
        for m in page.items
    ]
    query = "&".join(f"{k}={v}" for k, v in {"q": q, **filters}.items() if v)
    context = {
        "nav": "membership",
        "q": q,
        "filters": filters,
        "query": query,
        "rows": rows,
        "page": page,
        "brands": Brand.objects.filter(membership_program__isnull=False).order_by("code"),
        "tier_codes": _tier_choices(),
        "statuses": Member.STATUS_CHOICES,
    }
    partial = request.htmx and not request.htmx.history_restore_request and not request.htmx.boosted
    template = "membership/_member_results.html" if partial else "membership/member_list.html"
    return render(request, template, context)


def _tier_choices() -> list[tuple[str, str]]:
    from hufen.membership.models import TierDefinition

    seen: dict[str, str] = {}
    for code, name in TierDefinition.objects.order_by("rank", "program_id").values_list("code", "name"):
        seen.setdefault(code, name)
    return list(seen.items())


@console_view("membership.view")
def member_detail(request: ConsoleRequest, member_id: int) -> HttpResponse:
    actor = request.actor
    try:
        member = selectors.member_get(actor=actor, member_id=member_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    entries = PointsEntry.objects.filter(account__member=member).order_by("-id")
    after = parse_cursor(request.GET.get("entries_before"))
    if after is not None:
        entries = entries.filter(pk__lt=after)
    entry_rows = list(entries[: ENTRY_PAGE_SIZE + 1])
    more = len(entry_rows) > ENTRY_PAGE_SIZE
    entry_rows = entry_rows[:ENTRY_PAGE_SIZE]
    context: dict[str, Any] = {
        "nav": "membership",
        "member": member,
        "name": mask_name(member.person.name),
        "phone": mask_phone(member.person.phone),
        "entries": [{"e": e, "label": _reason_label(e.reason)} for e in entry_rows],
        "entries_next": entry_rows[-1].pk if more and entry_rows else None,
        "entries_paged": after is not None,
        # Lots grouped by their expiry instant: a member earning daily has hundreds of lots, few dates.
        "lots": PointsLot.objects.filter(account__member=member, remaining__gt=0)
        .values("expires_at")
        .order_by("expires_at")
        .annotate(remaining=Sum("remaining"), amount=Sum("amount"), n=Count("id")),
        "history": TierHistory.objects.filter(member=member).select_related("from_tier", "to_tier").order_by("-id"),
        "redemptions": Redemption.objects.filter(member=member).select_related("item").order_by("-id")[:50],
        "decisions": EarningDecision.objects.filter(member=member).select_related("rule").order_by("-id")[:20],
        "consents": member_consents(actor=actor, member=member),
    }
    if request.htmx and request.GET.get("entries_before"):
        return render(request, "membership/_entries.html", context)
    return render(request, "membership/member_detail.html", context)


def _reason_label(code: str) -> str:
    reason = REASONS.get(code)
    return reason.label if reason else code

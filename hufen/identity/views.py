"""Console: the review queue of gray-zone pairs (HQ, `identity.review`), and the record lineage
section of the person 360 page (loaded by htmx, so the 360 page itself costs no extra query)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from hufen.common.errors import NotFound, PermissionDenied
from hufen.common.pii import FieldError
from hufen.console.access import ConsoleRequest, console_view
from hufen.identity.selectors import BANDS, person_lineage, review_open_count, review_queue, review_sources
from hufen.identity.services import review_confirm, review_reject

STATUSES = ("open", "confirmed", "rejected")
BAND_LABELS = {
    "high": gettext_lazy("High (≥ 0.90)"),
    "medium": gettext_lazy("Medium (0.70–0.90)"),
    "low": gettext_lazy("Low (< 0.70)"),
}


@console_view("identity.review")
def review_list(request: ConsoleRequest) -> HttpResponse:
    status = request.GET.get("status", "open")
    if status not in STATUSES:
        status = "open"
    source = request.GET.get("source", "").strip()[:40]
    band = request.GET.get("band", "")
    band = band if band in BANDS else ""
    after, before = request.GET.get("after", "")[:80], request.GET.get("before", "")[:80]
    try:
        try:
            page = review_queue(
                actor=request.actor, status=status, source=source, band=band, after=after, before=before
            )
        except FieldError as exc:
            # A damaged page link: say so and show the first page.
            messages.error(request, _("Not done: %(reason)s") % {"reason": f"{exc.field}: {exc.reason}"})
            page = review_queue(actor=request.actor, status=status, source=source, band=band)
        open_count = review_open_count(actor=request.actor)
        sources = review_sources(actor=request.actor, status=status)
    except PermissionDenied:
        return render(request, "console/forbidden.html", {"perm": "identity.review"}, status=403)
    filters = {k: v for k, v in (("status", status), ("source", source), ("band", band)) if v}
    context = {
        "nav": "identity",
        "pairs": page.pairs,
        "status": status,
        "statuses": STATUSES,
        "open_count": open_count,
        "source": source,
        "sources": sources,
        "band": band,
        "bands": [(code, BAND_LABELS[code]) for code in BANDS],
        "filters": urlencode(filters),
        "next_url": "?" + urlencode({**filters, "after": page.next_cursor}) if page.next_cursor else "",
        "previous_url": "?" + urlencode({**filters, "before": page.previous_cursor}) if page.previous_cursor else "",
    }
    return render(request, "identity/review.html", context)


@console_view("identity.review")
@require_POST
def review_decide(request: ConsoleRequest, pair_id: int, action: str) -> HttpResponse:
    reason = request.POST.get("reason", "").strip()[:300]
    try:
        if action == "confirm":
            review_confirm(actor=request.actor, pair_id=pair_id, reason=reason)
            messages.success(request, _("Confirmed: the two records are one customer; the persons were merged."))
        elif action == "reject":
            review_reject(actor=request.actor, pair_id=pair_id, reason=reason)
            messages.success(request, _("Rejected: the two records stay two customers."))
        else:
            raise Http404("no such action")
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except PermissionDenied:
        return render(request, "console/forbidden.html", {"perm": "identity.review"}, status=403)
    except FieldError as exc:
        # Already decided by someone else, or the merge refused (its reason says why).
        if exc.field == "status":
            messages.error(request, _("This pair was already decided."))
        else:
            messages.error(request, _("Not done: %(reason)s") % {"reason": exc.reason})
    return HttpResponseRedirect(reverse("identity:review"))


@console_view("persons.view")
def person_lineage_section(request: ConsoleRequest, person_id: int) -> HttpResponse:
    """Which source records merges moved onto or off the person, and the IDs that redirect here."""
    try:
        lineage = person_lineage(actor=request.actor, person_id=person_id)
    except NotFound as exc:
        # 404, not 403: a person outside the scope must not be told apart from no person.
        raise Http404(exc.message) from exc
    context = {"lineage": lineage, "person_id": person_id, "show_reason": request.actor.has_perm("persons.merge")}
    return render(request, "identity/_lineage.html", context)

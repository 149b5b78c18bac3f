"""The console's dead-letter page: HQ reads, filters, retries and discards rejected events."""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _

from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.console.access import ConsoleRequest, client_ip, console_view
from hufen.tracking.selectors import (
    SOURCES,
    dead_letter_reasons,
    dead_letters_for,
    mask_payload,
    parse_dead_letter_filter,
)
from hufen.tracking.services import dead_letters_discard, dead_letters_retry, require_hq

PAGE_SIZE = 50


@console_view()
def dead_letters_page(request: ConsoleRequest) -> HttpResponse:
    try:
        require_hq(request.actor)
    except PermissionDenied:
        return render(request, "tracking/dead_letters.html", {"nav": "analytics", "forbidden": True}, status=403)
    notice, error, status = "", "", 200
    if request.method == "POST":
        ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()]
        try:
            if request.POST.get("action") == "retry":
                counts = dead_letters_retry(actor=request.actor, ids=ids, ip=client_ip(request))
                notice = (
                    _("Retried: %(accepted)s accepted, %(duplicate)s already stored, %(rejected)s still rejected.")
                    % counts
                )
            elif request.POST.get("action") == "discard":
                n = dead_letters_discard(
                    actor=request.actor, ids=ids, reason=request.POST.get("reason", ""), ip=client_ip(request)
                )
                notice = _("Discarded %(n)s rejected events.") % {"n": n}
            else:
                raise FieldError("action", "use retry or discard")
        except (FieldError, NotFound) as exc:
            error, status = (f"{exc.field}: {exc.reason}" if isinstance(exc, FieldError) else exc.message), 422
        if not error:
            query = request.GET.copy()
            query["notice"] = notice
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
    g = request.GET
    try:
        flt = parse_dead_letter_filter(
            reason=g.get("reason"), source=g.get("source"), date_from=g.get("from"), date_to=g.get("to")
        )
    except FieldError as exc:
        error, status = f"{exc.field}: {exc.reason}", 422
        flt = parse_dead_letter_filter(reason=None, source=None, date_from=None, date_to=None)
    rows = dead_letters_for(request.actor, flt, settings.HUFEN_BRAND_TIME_ZONE)
    page = Paginator(rows, PAGE_SIZE).get_page(g.get("page"))
    items = [
        {"row": r, "payload": mask_payload(r.payload)[:400], "truncated": len(r.payload) > 400}
        for r in page.object_list
    ]
    context = {
        "nav": "analytics",
        "params": g,
        "sources": SOURCES,
        "page": page,
        "items": items,
        "total": page.paginator.count,
        "reasons": dead_letter_reasons(rows),
        "notice": notice or g.get("notice", ""),
        "error": error,
        "query": g.urlencode(),
    }
    return render(request, "tracking/dead_letters.html", context, status=status)

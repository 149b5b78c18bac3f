from __future__ import annotations

import csv
from collections.abc import Iterator

from django.http import Http404, HttpResponse, HttpResponseForbidden, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from hufen.common.errors import NotFound, PermissionDenied
from hufen.common.pii import mask_address, mask_email, mask_name, mask_phone
from hufen.console.access import ConsoleRequest, client_ip, console_view
from hufen.console.labels import PII_FIELD_LABELS
from hufen.console.paging import keyset_page, parse_cursor
from hufen.console.selectors import person_rows, person_rows_for_export, visible_dealer_codes
from hufen.console.services import persons_export_start
from hufen.people.selectors import person_360, person_get, person_search
from hufen.people.services import PII_FIELDS, person_reveal_pii

# The list never counts its search: at a million persons a count per keystroke costs as much as the
# page itself. A page that holds the whole result says how many; otherwise "more than" and "next".
PAGE_SIZE = 25
QUERY_MAX_LENGTH = 64


def _query(request: ConsoleRequest) -> str:
    return " ".join(request.GET.get("q", "").split())[:QUERY_MAX_LENGTH]


@console_view("persons.view")
def person_list(request: ConsoleRequest) -> HttpResponse:
    q = _query(request)
    qs = person_search(actor=request.actor, query=q).only("id", "name", "phone", "city")
    page = keyset_page(
        qs,
        size=PAGE_SIZE,
        after=parse_cursor(request.GET.get("after")),
        before=parse_cursor(request.GET.get("before")),
    )
    context = {
        "nav": "persons",
        "q": q,
        "rows": person_rows(page.items),
        "page": page,
        "can_export": request.actor.has_perm("persons.export"),
    }
    partial = request.htmx and not request.htmx.history_restore_request and not request.htmx.boosted
    template = "console/persons/_results.html" if partial else "console/persons/list.html"
    return render(request, template, context)


@console_view("persons.export")
def person_export(request: ConsoleRequest) -> StreamingHttpResponse:
    q = _query(request)
    export = persons_export_start(actor=request.actor, query=q, ip=client_ip(request))
    rows = person_rows_for_export(actor=request.actor, query=q, limit=export.rows)
    header = [_("ID"), _("Name"), _("Mobile"), _("City"), _("Vehicles"), _("Dealers")]

    def lines() -> Iterator[str]:
        out = _Line()
        writer = csv.writer(out)
        # A byte-order mark, so that Excel opens the Chinese text as UTF-8.
        yield "\ufeff" + writer.writerow(header)
        for r in rows:
            dealers = " / ".join(f"{d.code} {d.name}" for d in r.dealers)
            yield writer.writerow([r.id, r.name, r.phone, r.city, " / ".join(r.vehicles), dealers])

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="persons-{stamp}.csv"'
    response["X-Hufen-Export-Rows"] = str(export.rows)
    if export.truncated:
        response["X-Hufen-Export-Truncated"] = "true"
    return response


class _Line:
    """A file-like object for csv.writer that hands each written row back instead of storing it."""

    def write(self, value: str) -> str:
        return value


@console_view("persons.view")
def person_detail(request: ConsoleRequest, person_id: int) -> HttpResponse:
    actor = request.actor
    try:
        p360 = person_360(actor=actor, person_id=person_id)
    except NotFound as exc:
        # 404, not 403: a person outside the actor's scope must not be told apart from no person.
        raise Http404(exc.message) from exc
    person = p360.person
    dealer_ids = {d.pk for d in p360.dealers} | {a.grid.dealer_id for a in p360.butler_assignments}
    profile = [
        ("name", mask_name(person.name)),
        ("phone", mask_phone(person.phone)),
        ("email", mask_email(person.email)),
        ("address", mask_address(person.address)),
    ]
    context = {
        "nav": "persons",
        "p": p360,
        "person": person,
        "profile": [
            {"field": f, "label": PII_FIELD_LABELS[f], "masked": masked, "has_value": bool(getattr(person, f))}
            for f, masked in profile
        ],
        "can_reveal": actor.has_perm("pii.reveal"),
        "dealer_codes": visible_dealer_codes(actor=actor, dealer_ids=sorted(dealer_ids)),
    }
    return render(request, "console/persons/detail.html", context)


@console_view("pii.reveal")
@require_POST
def person_reveal(request: ConsoleRequest, person_id: int, field: str) -> HttpResponse:
    if field not in PII_FIELDS:
        raise Http404("no such field")
    try:
        person = person_get(actor=request.actor, person_id=person_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    reason = (request.htmx.prompt or request.POST.get("reason", "")).strip()
    try:
        value = person_reveal_pii(actor=request.actor, person=person, field=field, reason=reason, ip=client_ip(request))
    except PermissionDenied as exc:
        return HttpResponseForbidden(exc.message)
    return render(request, "console/persons/_revealed.html", {"field": field, "value": value})

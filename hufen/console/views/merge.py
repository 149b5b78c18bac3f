"""Manual merge and unmerge in the console (HQ only), and where an absorbed person's 360 URL goes.

Flow: person 360 → "merge another customer into this one" (pick by id or search) → a confirmation
page with both persons side by side (masked) and what will move → merge → back on the 360, whose
"merge history" section lists merges with an Unmerge button.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from hufen.common.actors import Scope
from hufen.common.errors import FieldError, NotFound
from hufen.common.pii import mask_address, mask_email, mask_name, mask_phone
from hufen.console.access import ConsoleRequest, console_view
from hufen.console.views import persons
from hufen.people.merge import merge_get, merge_preview, person_merge, person_merges, person_resolve_id, person_unmerge
from hufen.people.models import ContactPoint, Ownership, Person
from hufen.people.selectors import person_get, person_search

MAX_RESULTS = 10


@console_view("persons.view")
def person_detail(request: ConsoleRequest, person_id: int) -> HttpResponseBase:
    """The 360 page (persons.person_detail), unless the id was merged away: then a redirect to the
    live person, with a notice. Staff who see everything could open the absorbed record itself, so
    for them the status is checked first (one query); everyone else cannot see an absorbed person
    (its facts moved), so only their 404 is checked, and an ordinary page costs nothing extra."""
    show: Callable[[ConsoleRequest, int], HttpResponseBase] = persons.person_detail.__wrapped__  # type: ignore[attr-defined]
    if request.actor.scope == Scope.ALL and Person.objects.filter(pk=person_id, status="merged").exists():
        return _absorbed_redirect(request, person_id)
    try:
        return show(request, person_id)
    except Http404:
        if not Person.objects.filter(pk=person_id, status="merged").exists():
            raise
        return _absorbed_redirect(request, person_id)


def _absorbed_redirect(request: ConsoleRequest, person_id: int) -> HttpResponse:
    target = person_resolve_id(person_id)
    try:
        # Only to a person the viewer may see: otherwise the old id is as unknown as any other.
        person_get(actor=request.actor, person_id=target)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    messages.info(request, _("Customer #%(old)d was merged into this customer.") % {"old": person_id})
    return redirect("console:person_detail", person_id=target)


def _survivor(request: ConsoleRequest, person_id: int) -> Person:
    try:
        person = person_get(actor=request.actor, person_id=person_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return person


@console_view("persons.merge")
def merge_start(request: ConsoleRequest, person_id: int) -> HttpResponse:
    """Pick the customer to merge into this one: by id, or by the console's search."""
    survivor = _survivor(request, person_id)
    q = " ".join(request.GET.get("q", "").split())[:64]
    results: list[Person] = []
    if q.isdigit() and len(q) < 10:
        results = list(person_search(actor=request.actor).filter(pk=int(q)).exclude(pk=survivor.pk))
    if q and not results:
        results = list(person_search(actor=request.actor, query=q).exclude(pk=survivor.pk)[:MAX_RESULTS])
    context = {"nav": "persons", "survivor": survivor, "q": q, "results": [_card(p) for p in results]}
    return render(request, "console/merge/start.html", context)


def _card(person: Person) -> dict[str, object]:
    """A masked side-by-side card of one person."""
    ownerships = Ownership.objects.filter(person=person).select_related("vehicle__model", "dealer")
    return {
        "person": person,
        "name": mask_name(person.name),
        "phone": mask_phone(person.phone),
        "email": mask_email(person.email),
        "address": mask_address(person.address),
        "contacts": ContactPoint.objects.filter(person=person).count(),
        "vehicles": [
            f"{o.vehicle.model.series} · {o.dealer.code if o.dealer else '—'}{'' if o.ended_at is None else ' ✕'}"
            for o in ownerships
        ],
    }


@console_view("persons.merge")
def merge_confirm(request: ConsoleRequest, person_id: int, other_id: int) -> HttpResponse:
    """GET: both persons side by side and what will move. POST: merge `other_id` into `person_id`."""
    try:
        preview = merge_preview(actor=request.actor, survivor_id=person_id, absorbed_id=other_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    error = preview.problem
    if request.method == "POST" and error is None:
        try:
            person_merge(
                actor=request.actor,
                survivor=preview.survivor,
                absorbed=preview.absorbed,
                reason=request.POST.get("reason", ""),
                evidence={"via": "console", "picked_by": request.actor.label},
            )
        except FieldError as exc:
            error = exc.reason if exc.field == "reason" else f"{exc.field}: {exc.reason}"
        else:
            messages.success(
                request, _("Customer #%(old)d was merged into this customer.") % {"old": preview.absorbed.pk}
            )
            return redirect("console:person_detail", person_id=preview.survivor.pk)
    context = {
        "nav": "persons",
        "preview": preview,
        "survivor": _card(preview.survivor),
        "absorbed": _card(preview.absorbed),
        "error": error,
        "reason": request.POST.get("reason", ""),
    }
    return render(
        request, "console/merge/confirm.html", context, status=422 if error and request.method == "POST" else 200
    )


@console_view("persons.merge")
def merge_history(request: ConsoleRequest, person_id: int) -> HttpResponse:
    """The "merge history" section of the 360 page (loaded by htmx)."""
    person = _survivor(request, person_id)
    merges = person_merges(actor=request.actor, person_id=person.pk)
    return render(request, "console/merge/_history.html", {"person": person, "merges": merges})


@console_view("persons.merge")
@require_POST
def merge_unmerge(request: ConsoleRequest, merge_id: int) -> HttpResponse:
    try:
        merge = merge_get(actor=request.actor, merge_id=merge_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    try:
        restored = person_unmerge(actor=request.actor, merge=merge, reason=request.POST.get("reason", ""))
    except FieldError as exc:
        messages.error(request, _("The merge cannot be undone: %(why)s") % {"why": exc.reason})
        return redirect("console:person_detail", person_id=merge.survivor_id)
    messages.success(request, _("Merge undone: customer #%(id)d is separate again.") % {"id": restored.pk})
    return redirect(reverse("console:person_detail", args=[restored.pk]))

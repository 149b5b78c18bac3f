"""The SMS outbox for HQ (`/console/sms/`): what the demo's stand-in gateway would have sent."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from hufen.common.errors import PermissionDenied
from hufen.common.pii import mask_phone
from hufen.console.access import ConsoleRequest, console_view
from hufen.portal.selectors import sms_outbox_page

PAGE_SIZE = 50


@require_GET
@console_view()
def sms_outbox(request: ConsoleRequest) -> HttpResponse:
    raw = request.GET.get("before", "")
    before = int(raw) if raw.isdigit() and len(raw) < 19 else None
    try:
        messages = sms_outbox_page(actor=request.actor, before=before, size=PAGE_SIZE + 1)
    except PermissionDenied:
        return render(request, "console/forbidden.html", {"perm": "sms.view"}, status=403)
    more = len(messages) > PAGE_SIZE
    messages = messages[:PAGE_SIZE]
    rows = [{"m": m, "phone": mask_phone(m.phone)} for m in messages]
    context = {
        "nav": "sms",
        "rows": rows,
        "next_before": messages[-1].pk if more and messages else None,
        "paged": before is not None,
    }
    return render(request, "portal/console_sms.html", context)

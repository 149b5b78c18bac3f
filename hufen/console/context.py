from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from hufen.common.actors import Actor


def console(request: HttpRequest) -> dict[str, Any]:
    """Expose the request's actor (set by `console_view`) and, lazily, its header and menu.

    Lazy, so that htmx partials and pages outside the console pay no query for them.
    """
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None:
        return {"actor": None}
    from hufen.console.nav import nav_items
    from hufen.console.selectors import StaffHeader, staff_header

    header: StaffHeader = SimpleLazyObject(lambda: staff_header(actor))  # type: ignore[assignment]
    return {
        "actor": actor,
        "console_header": header,
        "console_nav": SimpleLazyObject(lambda: nav_items(actor, header.dealer_code)),
    }

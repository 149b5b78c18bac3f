from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def console(request: HttpRequest) -> dict[str, Any]:
    """Expose the request's actor (set by the console's login check) to every template."""
    return {"actor": getattr(request, "actor", None)}

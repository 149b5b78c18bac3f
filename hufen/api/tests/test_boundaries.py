"""Endpoints stay thin: they read through selectors (which scope by actor), never through managers."""

from __future__ import annotations

import re
from pathlib import Path

API_DIR = Path(__file__).resolve().parent.parent
# The idempotency helper owns its table; nothing else in the API layer touches a manager.
ALLOWED = {("idempotency.py", "IdempotencyRecord")}


def test_api_modules_query_no_model_directly() -> None:
    offenders = []
    for path in sorted(API_DIR.glob("*.py")):
        for model in re.findall(r"\b([A-Z]\w+)\.objects\b", path.read_text()):
            if (path.name, model) not in ALLOWED:
                offenders.append(f"{path.name}: {model}.objects")
    assert offenders == [], "use a selector or service (scoped by actor) instead"

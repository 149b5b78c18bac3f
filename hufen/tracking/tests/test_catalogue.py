"""Every business fact the platform publishes is a catalogued event name: earning rules, analytics
and integrators can only use names the catalogue knows, so a new `publish("...")` must add its name."""

from __future__ import annotations

import ast
from pathlib import Path

import hufen
from hufen.tracking.catalogue import BUILTIN_EVENT_TYPES

PACKAGE = Path(hufen.__file__).resolve().parent


def _published_names() -> dict[str, str]:
    """Names passed as a literal to `publish(...)` or the ledger's `_event(...)`, with where."""
    found: dict[str, str] = {}
    for path in PACKAGE.rglob("*.py"):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name not in ("publish", "_event"):
                continue
            first = node.args[0]
            # a literal, or `"a" if cond else "b"`
            options = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
            for option in options:
                if isinstance(option, ast.Constant) and isinstance(option.value, str):
                    found.setdefault(option.value, str(path.relative_to(PACKAGE)))
    return found


def test_the_scan_finds_the_platforms_facts() -> None:
    names = _published_names()
    # a scan that found nothing would make the next test pass for the wrong reason
    assert {"person_created", "points_earned", "memberday_checked_in", "offer_redeemed", "person_merged"} <= set(names)


def test_every_published_name_is_in_the_catalogue() -> None:
    missing = {name: where for name, where in _published_names().items() if name not in BUILTIN_EVENT_TYPES}
    assert missing == {}, "add these names to hufen/tracking/catalogue.py BUILTIN_EVENT_TYPES"

"""Benchmark the scoped reads behind the console and the API on the current database.

    .venv/bin/python benchmarks/scope_queries.py [--repeat 5]

Run it after `hufen demo --persons N` (it reads the demo logins). For each role it times the first
page of a person search for several query kinds, the person 360 of the first hit, and the home
figures (uncached), and prints one JSON object with the median milliseconds of each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hufen.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402

from hufen.common.actors import Actor  # noqa: E402
from hufen.demo.logins import demo_logins  # noqa: E402
from hufen.org.selectors import actor_for_user  # noqa: E402
from hufen.people.models import Person  # noqa: E402
from hufen.people.selectors import home_figures, person_360, person_search  # noqa: E402

PAGE = 25
QUERIES = {"name": "王", "pinyin": "wangwei", "initials": "ww", "last4": "5678", "empty": ""}


def _first_page(actor: Actor, query: str) -> list[Person]:
    return list(person_search(actor=actor, query=query)[:PAGE])


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(timings), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    users = get_user_model().objects
    results: dict[str, object] = {
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "persons": Person.objects.count(),
        "machine": {"cores": os.cpu_count()},
        "roles": {},
    }
    for login in demo_logins():
        user = users.filter(username=login.username).first()
        actor = actor_for_user(user) if user else None
        if actor is None or not actor.has_perm("persons.view"):
            continue
        role: dict[str, float] = {}
        for kind, query in QUERIES.items():
            role[f"search_{kind}_ms"] = median_ms(partial(_first_page, actor, query), args.repeat)
        first = person_search(actor=actor).first()
        if first is not None:
            role["person_360_ms"] = median_ms(partial(person_360, actor=actor, person_id=first.pk), args.repeat)
        role["home_figures_ms"] = median_ms(partial(home_figures, actor=actor), max(1, args.repeat // 2))
        results["roles"][login.role.value] = role  # type: ignore[index]
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()

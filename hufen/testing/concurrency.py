"""Helpers for tests that prove invariants under concurrent writers (PostgreSQL only: SQLite
serialises every writer, so there is no race to prove; `make test` runs these in its PostgreSQL pass)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is proven on PostgreSQL; `make test` runs this file there")


def race(jobs: list[Callable[[], object]]) -> list[object]:
    """Start every job at the same instant on its own thread and connection; results or exceptions."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = jobs[i]()
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results

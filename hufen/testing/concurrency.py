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


def race(jobs: list[Callable[[], object]], *, workers: int | None = None, timeout: float = 120) -> list[object]:
    """Run the jobs at the same instant, each thread on its own connection; results or exceptions,
    in the jobs' order.

    With `workers`, at most that many threads (and database connections: the shared server has a
    connection limit) start together and each takes its next job as soon as the previous one is done.
    """
    count = min(workers or len(jobs), len(jobs))
    barrier = threading.Barrier(count)
    results: list[object] = [None] * len(jobs)

    def run(worker: int) -> None:
        try:
            barrier.wait()
            for i in range(worker, len(jobs), count):
                try:
                    results[i] = jobs[i]()
                except Exception as exc:  # collected and asserted on by the test
                    results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(w,)) for w in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return results

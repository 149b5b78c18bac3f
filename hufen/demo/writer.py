"""Bulk inserts of plain tuples: `executemany` on SQLite, `COPY` on PostgreSQL.

`bulk_create` builds a model instance per row and overwrites `auto_now_add` timestamps, which the
demo needs in the past; raw inserts are several times faster and keep the generated times. Columns
the generator does not know about (added to a model later) get the field's default, so a new field
with a default does not break the demo; one without a default fails loudly, naming it.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

from django.core.management.color import no_style
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

Row = tuple[Any, ...]
T = TypeVar("T")


@dataclass(frozen=True)
class Table:
    model: type[models.Model]
    name: str
    columns: tuple[str, ...]
    extra: Row  # constant values for the columns the generator leaves to their defaults


class RowWriter:
    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.postgres = connection.vendor == "postgresql"
        self._tables: dict[tuple[type[models.Model], tuple[str, ...]], Table] = {}

    def table(self, model: type[models.Model], fields: Sequence[str]) -> Table:
        key = (model, tuple(fields))
        if key not in self._tables:
            self._tables[key] = self._describe(model, fields)
        return self._tables[key]

    def _describe(self, model: type[models.Model], fields: Sequence[str]) -> Table:
        opts = model._meta
        given = [_concrete(opts.get_field(f)) for f in fields]
        columns = [f.column for f in given]
        extra: list[object] = []
        for f in opts.concrete_fields:
            if f in given or f.primary_key:
                continue
            if f.has_default():
                extra.append(f.get_db_prep_save(f.get_default(), self.connection))
            elif f.null:
                extra.append(None)
            else:
                raise RuntimeError(
                    f"demo: {opts.label}.{f.name} has no default; teach hufen/demo/population.py to fill it"
                )
            columns.append(f.column)
        return Table(model, opts.db_table, tuple(columns), tuple(extra))

    def write(self, table: Table, rows: list[Row]) -> None:
        """Insert rows through the raw DB-API connection, so that a worker thread may do it (see Pipeline)."""
        if not rows:
            return
        if table.extra:
            rows = [r + table.extra for r in rows]
        qn = self.connection.ops.quote_name
        cols = ", ".join(qn(c) for c in table.columns)
        raw: Any = self.connection.connection
        if self.postgres:
            with raw.cursor() as cursor, cursor.copy(f"COPY {qn(table.name)} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(table.columns))
            raw.executemany(f"INSERT INTO {qn(table.name)} ({cols}) VALUES ({marks})", rows)

    def lock(self, tables: Sequence[type[models.Model]]) -> None:
        """Keep other writers out until commit, so the ids taken from max(id) stay free.

        SQLite needs nothing: the project opens transactions with BEGIN IMMEDIATE, which already
        holds the database's single write lock. PostgreSQL still lets readers in.
        """
        if self.postgres:
            names = ", ".join(self.connection.ops.quote_name(m._meta.db_table) for m in tables)
            with self.connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {names} IN SHARE ROW EXCLUSIVE MODE")

    def next_id(self, model: type[models.Model]) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {self.connection.ops.quote_name(model._meta.db_table)}")
            row = cursor.fetchone()
        return int(row[0]) + 1 if row else 1

    def reset_sequences(self, tables: Sequence[type[models.Model]]) -> None:
        """PostgreSQL sequences do not see explicit ids; SQLite's AUTOINCREMENT table does."""
        statements = self.connection.ops.sequence_reset_sql(no_style(), list(tables))
        if statements:
            with self.connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)

    @contextlib.contextmanager
    def tuned(self) -> Iterator[None]:
        """A bigger SQLite page cache while loading: index inserts stop spilling to disk."""
        if self.postgres:
            yield
            return
        with self.connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            row = cursor.fetchone()
            before = int(row[0]) if row else -2000
            cursor.execute("PRAGMA cache_size = -1000000")  # KiB: about 1 GB, well inside the memory budget
        try:
            yield
        finally:
            with self.connection.cursor() as cursor:
                cursor.execute(f"PRAGMA cache_size = {before}")


def _concrete(f: object) -> models.Field[Any, Any]:
    if not isinstance(f, models.Field) or not f.concrete:
        raise TypeError(f"demo: {f!r} is not a concrete column")
    return f


class Pipeline(Generic[T]):
    """Runs `write(item)` on one worker thread, at most `depth` items behind the producer.

    Generating rows is pure Python and holds the GIL; inserting them is mostly C code in the driver
    (sqlite3) or work in the PostgreSQL server, both of which release it. So on two cores the next
    chunk is generated while the last one is written. The worker uses the producer's DB-API
    connection, inside the producer's transaction: the producer must not touch the database until
    the `with` block has ended (which waits for the worker and re-raises its error).
    """

    def __init__(self, write: Callable[[T], None], depth: int = 2) -> None:
        self._write = write
        self._queue: queue.Queue[T | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="demo-writer", daemon=True)

    def __enter__(self) -> Pipeline[T]:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc is None:
            raise self._error

    def put(self, item: T) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:  # after a failure keep draining, so the producer never blocks
                try:
                    self._write(item)
                except BaseException as exc:  # handed to the producer thread
                    self._error = exc

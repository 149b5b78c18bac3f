"""Set-based updates of many rows, each to its own values.

Django's `bulk_update` writes `SET f = CASE WHEN id = 1 THEN ... WHEN id = 2 THEN ... END` for every
field: PostgreSQL then tests each updated row against every WHEN, so a batch of n rows costs n² and
the statement's text grows with n. On PostgreSQL `update_rows` sends one array per column instead and
joins them to the table by primary key (`UPDATE ... FROM unnest(...)`): one short statement, linear in
the rows. Other databases keep `bulk_update`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router


def update_rows(objs: Sequence[models.Model], fields: Sequence[str]) -> int:
    """Write `fields` of each instance (all of one model, saved before) to its row; the rows updated."""
    if not objs:
        return 0
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return int(model._default_manager.db_manager(alias).bulk_update(objs, list(fields)))
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    columns: list[Any] = [pk, *(meta.get_field(name) for name in fields)]  # concrete fields
    arrays = [[c.get_db_prep_save(getattr(obj, c.attname), connection) for obj in objs] for c in columns]
    q = connection.ops.quote_name
    names = [f"c{i}" for i in range(len(columns))]
    inputs = ", ".join(f"%s::{c.db_type(connection)}[]" for c in columns)
    sets = ", ".join(f"{q(c.column)} = v.{n}" for c, n in zip(columns[1:], names[1:], strict=True))
    sql = (
        f"UPDATE {q(meta.db_table)} AS t SET {sets} FROM unnest({inputs}) AS v({', '.join(names)}) "
        f"WHERE t.{q(pk.column)} = v.c0"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return int(cursor.rowcount)


def insert_rows(objs: Sequence[models.Model]) -> None:
    """`bulk_create` for new instances of one model (primary keys set on them, in order), without
    its per-value SQL: on PostgreSQL one `INSERT ... SELECT FROM unnest(one array per column)
    RETURNING id`, whose text is the same for any number of rows. Other databases use `bulk_create`.
    Not for models with multi-table inheritance."""
    if not objs:
        return
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        model._default_manager.db_manager(alias).bulk_create(list(objs))
        return
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    columns = [f for f in meta.concrete_fields if not (f.primary_key and getattr(objs[0], f.attname) is None)]
    # As Django's insert compiler does: each field's `pre_save` (auto_now_add ...), then its database value.
    arrays = [[f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs] for f in columns]
    q = connection.ops.quote_name
    inputs = ", ".join(f"%s::{f.db_type(connection)}[]" for f in columns)
    sql = (
        f"INSERT INTO {q(meta.db_table)} ({', '.join(q(f.column) for f in columns)}) "
        f"SELECT * FROM unnest({inputs}) RETURNING {q(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        ids = [row[0] for row in cursor.fetchall()]
    for obj, value in zip(objs, ids, strict=True):
        setattr(obj, pk.attname, value)
        obj._state.adding = False
        obj._state.db = alias

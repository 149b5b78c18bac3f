"""Query engines over the ONE DATA lake: DuckDB (embedded default) and ClickHouse (chdb in-process).

An engine knows how to read the lake and owns the few SQL fragments whose spelling differs between
dialects: reading Parquet, time-zone arithmetic (where sqlglot mistranslates) and JSON access.
Everything else is written once in `queries.py`.

Pointing at a ClickHouse cluster: subclass `ClickHouseEngine`, make `source()` name the cluster's
events table (or `s3('https://.../events/date=*/*.parquet', Parquet)`) and make `rows()` send the SQL
with `clickhouse_connect.get_client(host=..., port=8443, secure=True).query(sql).result_rows`; the
queries themselves do not change.
"""

from __future__ import annotations

import datetime as dt
import glob
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

Row = tuple[Any, ...]

EVENT_COLUMNS = "event_id, event, ts, person_id, anonymous_id, dealer_id, channel, properties"


class LakeError(Exception):
    """The lake is missing or unreadable."""


def _py(value: Any) -> Any:
    """Engine values as plain JSON-able Python (numpy scalars, dates, NaN)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


class Engine(ABC):
    name = "abstract"

    def __init__(self, lake: str, tz: str = "Asia/Shanghai") -> None:
        self.lake = lake.rstrip("/")
        self.tz = tz
        if not os.path.isdir(os.path.join(self.lake, "events")):
            raise LakeError(f"no events in the lake at {self.lake!r} (HUFEN_LAKE_URL)")

    def files(self, subdir: str = "events", span: tuple[int, int] | None = None) -> list[str]:
        """The Parquet files, pruned to the partitions (UTC dates) that [lo_us, hi_us) touches."""
        found = sorted(glob.glob(os.path.join(self.lake, subdir, "date=*", "*.parquet")))
        if span is None:
            return found
        first = dt.datetime.fromtimestamp(span[0] / 1e6, dt.UTC).date().isoformat()
        last = dt.datetime.fromtimestamp(span[1] / 1e6, dt.UTC).date().isoformat()
        return [f for f in found if first <= os.path.basename(os.path.dirname(f))[5:] <= last]

    # -- fragments every engine spells its own way
    @abstractmethod
    def source(self, subdir: str = "events", span: tuple[int, int] | None = None) -> str:
        """Spelled by each engine."""

    @abstractmethod
    def epoch_us(self, col: str) -> str:
        """Spelled by each engine."""

    @abstractmethod
    def local_period(self, col: str, period: str) -> str:
        """The local (brand time zone) day, ISO week start or month start of a timestamp, as DATE."""

    @abstractmethod
    def period_diff(self, period: str, a: str, b: str) -> str:
        """Spelled by each engine."""

    def date_literal(self, day: dt.date) -> str:
        return f"DATE '{day.isoformat()}'"

    @abstractmethod
    def json_text(self, col: str, key: str) -> str:
        """Spelled by each engine."""

    def to_text(self, expr: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    @abstractmethod
    def lower_median(self, expr: str) -> str:
        """Spelled by each engine."""

    @abstractmethod
    def mapping_table(self, name: str, pairs: Sequence[tuple[int, str]]) -> str:
        """Spelled by each engine."""

    @abstractmethod
    def rows(self, sql: str) -> list[Row]:
        """Spelled by each engine."""

    def query(self, sql: str) -> list[Row]:
        return [tuple(_py(v) for v in row) for row in self.rows(sql)]


class DuckDBEngine(Engine):
    name = "duckdb"

    def __init__(self, lake: str, tz: str = "Asia/Shanghai", threads: int | None = None) -> None:
        super().__init__(lake, tz)
        self.threads = threads
        self._con: Any = None
        self._tables: dict[str, pa.Table] = {}

    @property
    def con(self) -> Any:
        """The DuckDB connection, opened on first use: a chart served from the cache never pays for it."""
        if self._con is None:
            import duckdb

            self._con = duckdb.connect()
            if self.threads:
                self._con.execute(f"SET threads = {int(self.threads)}")
        return self._con

    def source(self, subdir: str = "events", span: tuple[int, int] | None = None) -> str:
        files = self.files(subdir, span)
        if not files:
            if subdir != "events":
                raise LakeError(f"no {subdir} in the lake at {self.lake!r}")
            return (
                "(SELECT NULL::VARCHAR AS event_id, NULL::VARCHAR AS event, NULL::TIMESTAMPTZ AS ts, "
                "NULL::BIGINT AS person_id, NULL::VARCHAR AS anonymous_id, NULL::BIGINT AS dealer_id, "
                "NULL::VARCHAR AS channel, NULL::VARCHAR AS properties WHERE false)"
            )
        listed = ", ".join(_quote(f) for f in files)
        return f"read_parquet([{listed}], hive_partitioning = false)"

    def epoch_us(self, col: str) -> str:
        return f"epoch_us({col})"

    def local_period(self, col: str, period: str) -> str:
        local = f"timezone('{self.tz}', {col})"
        if period == "day":
            return f"CAST({local} AS DATE)"
        return f"CAST(date_trunc('{period}', {local}) AS DATE)"

    def period_diff(self, period: str, a: str, b: str) -> str:
        if period == "week":
            return f"(date_diff('day', {a}, {b}) // 7)"
        return f"date_diff('{period}', {a}, {b})"

    def json_text(self, col: str, key: str) -> str:
        return f"nullif(json_extract_string({col}, {_quote('$.' + key)}), '')"

    def lower_median(self, expr: str) -> str:
        return f"quantile_disc({expr}, 0.5)"

    def mapping_table(self, name: str, pairs: Sequence[tuple[int, str]]) -> str:
        table = pa.table({"dealer_id": pa.array([p[0] for p in pairs], pa.int64()), "label": [p[1] for p in pairs]})
        self._tables[name] = table
        self.con.register(name, table)
        return name

    def rows(self, sql: str) -> list[Row]:
        return self.con.execute(sql).fetchall()


class ClickHouseEngine(Engine):
    """ClickHouse's engine in-process (chdb), reading the same Parquet files."""

    name = "clickhouse"

    def __init__(self, lake: str, tz: str = "Asia/Shanghai") -> None:
        super().__init__(lake, tz)
        import chdb  # noqa: F401  (fail early when missing)

    def source(self, subdir: str = "events", span: tuple[int, int] | None = None) -> str:
        files = self.files(subdir, span)
        if not files:
            if subdir != "events":
                raise LakeError(f"no {subdir} in the lake at {self.lake!r}")
            return (
                "(SELECT * FROM values('event_id String, event String, ts DateTime64(6, ''UTC''), "
                "person_id Nullable(Int64), anonymous_id Nullable(String), dealer_id Nullable(Int64), "
                "channel Nullable(String), properties Nullable(String)', ('', '', 0, NULL, NULL, NULL, NULL, NULL)) "
                "WHERE 0)"
            )
        if span is not None and len(files) < len(self.files(subdir)):
            dates = sorted({os.path.basename(os.path.dirname(f)) for f in files})
            return f"file({_quote(os.path.join(self.lake, subdir, '{' + ','.join(dates) + '}', '*.parquet'))}, Parquet)"
        return f"file({_quote(os.path.join(self.lake, subdir, 'date=*', '*.parquet'))}, Parquet)"

    def epoch_us(self, col: str) -> str:
        return f"toUnixTimestamp64Micro({col})"

    def local_period(self, col: str, period: str) -> str:
        fn = {"day": "toDate", "week": "toMonday", "month": "toStartOfMonth"}[period]
        return f"{fn}({col}, '{self.tz}')"

    def period_diff(self, period: str, a: str, b: str) -> str:
        if period == "week":
            return f"intDiv(dateDiff('day', {a}, {b}), 7)"
        return f"dateDiff('{period}', {a}, {b})"

    def json_text(self, col: str, key: str) -> str:
        k = _quote(key)
        return (
            f"nullIf(if(JSONType({col}, {k}) = 'String', JSONExtractString({col}, {k}), "
            f"JSONExtractRaw({col}, {k})), '')"
        )

    def to_text(self, expr: str) -> str:
        return f"toString({expr})"

    def lower_median(self, expr: str) -> str:
        return f"quantileExactLow(0.5)({expr})"

    def mapping_table(self, name: str, pairs: Sequence[tuple[int, str]]) -> str:
        if not pairs:
            return "(SELECT toInt64(0) AS dealer_id, '' AS label WHERE 0)"
        values = ", ".join(f"({int(d)}, {_quote(label)})" for d, label in pairs)
        return f"(SELECT * FROM values('dealer_id Int64, label String', {values}))"

    def rows(self, sql: str) -> list[Row]:
        import chdb

        result = chdb.query(sql, "ArrowTable")
        table: pa.Table = result
        columns = [c.to_pylist() for c in table.columns]
        return list(zip(*columns, strict=True)) if columns else []


ENGINES: dict[str, type[Engine]] = {"duckdb": DuckDBEngine, "clickhouse": ClickHouseEngine}


def get_engine(name: str, lake: str, tz: str = "Asia/Shanghai") -> Engine:
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r} (use {' or '.join(ENGINES)})")
    return ENGINES[name](lake, tz)

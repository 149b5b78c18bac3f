"""Query engines over the ONE DATA lake: DuckDB (embedded default) and ClickHouse (chdb in-process).

An engine knows how to read the lake and owns the few SQL fragments whose spelling differs between
dialects: reading Parquet, time-zone arithmetic (where sqlglot mistranslates) and JSON access.
Everything else is written once in `queries.py`.

Pointing at a ClickHouse cluster: subclass `ClickHouseEngine`, make `source()` name the cluster's
events table (or `s3('https://.../events/date=*/*.parquet', Parquet)`) and make `rows()` send the SQL
with `clickhouse_connect.get_client(host=..., port=8443, secure=True).query(sql).result_rows` (and
`arrays()` with `.query_arrow(sql)`); the queries themselves do not change.

DuckDB reads the daily summaries (`summaries.py`) for the local days where they are fresh and the raw
events for the others (`event_source`); ClickHouse, the reference, reads the raw events (and the
per-day person summary only where a query asks for summaries: `summary=True`, `daily_active`).
"""

from __future__ import annotations

import datetime as dt
import glob
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
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

    def event_source(self, span: tuple[int, int], properties: bool = False) -> str:
        """The events in [lo_us, hi_us) as a FROM item with at least person_id, ts, event, dealer_id and
        channel (and properties when asked). Engines may answer from the daily summaries."""
        return self.source(span=span)

    @abstractmethod
    def day_files_source(self, kind: str, days: Sequence[dt.date]) -> str:
        """The summary files of `kind` (a folder under the lake) for these local days, as a FROM item."""

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

    @abstractmethod
    def arrays(self, sql: str) -> dict[str, np.ndarray]:
        """The result's columns as numpy arrays (numbers only)."""


class DuckDBEngine(Engine):
    name = "duckdb"

    def __init__(
        self, lake: str, tz: str = "Asia/Shanghai", threads: int | None = None, use_summaries: bool = True
    ) -> None:
        super().__init__(lake, tz)
        self.threads = threads
        self.use_summaries = use_summaries
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

    def event_source(self, span: tuple[int, int], properties: bool = False) -> str:
        """The compact daily summary for the local days that have a fresh one, the raw events (cut to
        those days' local spans) for the others: late events and new days are never missed."""
        if properties or not self.use_summaries:
            return self.source(span=span)
        from hufen.analytics import summaries

        zone = ZoneInfo(self.tz)
        present = sorted(glob.glob(os.path.join(self.lake, "events", "date=*")))
        if not present:
            return self._empty()
        # Only the local days that can hold events: the UTC partitions present, one day either side.
        lo_day = dt.date.fromisoformat(os.path.basename(present[0])[5:]) - dt.timedelta(days=1)
        hi_day = dt.date.fromisoformat(os.path.basename(present[-1])[5:]) + dt.timedelta(days=1)
        first = max(dt.datetime.fromtimestamp(max(span[0], 0) / 1e6, zone).date(), lo_day)
        last = min(dt.datetime.fromtimestamp(max(span[1] - 1, 0) / 1e6, zone).date(), hi_day)
        days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        fresh = summaries.fresh_days(self.lake, self.tz, days)
        compact = [summaries.summary_file(self.lake, summaries.COMPACT, d) for d in days if d in fresh]
        compact = [f for f in compact if os.path.exists(f)]
        stale = [d for d in days if d not in fresh]
        cols = "person_id, ts, event, dealer_id, channel"
        parts = []
        if compact:
            parts.append(f"SELECT {cols} FROM read_parquet([{', '.join(_quote(f) for f in compact)}])")
        if stale:
            spans: list[list[int]] = []
            for d in stale:
                lo = int(dt.datetime(d.year, d.month, d.day, tzinfo=zone).timestamp()) * 1_000_000
                nxt = d + dt.timedelta(days=1)
                hi = int(dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).timestamp()) * 1_000_000
                if spans and spans[-1][1] == lo:
                    spans[-1][1] = hi
                else:
                    spans.append([lo, hi])
            wanted = {f"date={u.isoformat()}" for d in stale for u in summaries.utc_dates(d, self.tz)}
            raw_files = [f for f in self.files("events") if os.path.basename(os.path.dirname(f)) in wanted]
            if raw_files:
                cond = " OR ".join(f"(epoch_us(ts) >= {a} AND epoch_us(ts) < {b})" for a, b in spans)
                listed = ", ".join(_quote(f) for f in raw_files)
                parts.append(f"SELECT {cols} FROM read_parquet([{listed}], hive_partitioning = false) WHERE {cond}")
        if not parts:
            return self._empty()
        return "(" + " UNION ALL ".join(parts) + ")"

    def day_files_source(self, kind: str, days: Sequence[dt.date]) -> str:
        paths = [os.path.join(self.lake, kind, f"date={d.isoformat()}", "part.parquet") for d in days]
        return f"read_parquet([{', '.join(_quote(p) for p in paths)}])"

    def _empty(self) -> str:
        return (
            "(SELECT NULL::BIGINT AS person_id, NULL::TIMESTAMPTZ AS ts, NULL::VARCHAR AS event, "
            "NULL::BIGINT AS dealer_id, NULL::VARCHAR AS channel WHERE false)"
        )

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

    def arrays(self, sql: str) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = self.con.execute(sql).fetchnumpy()
        return {k: np.asarray(v) for k, v in found.items()}


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

    def day_files_source(self, kind: str, days: Sequence[dt.date]) -> str:
        dates = ",".join(f"date={d.isoformat()}" for d in days)
        return f"file({_quote(os.path.join(self.lake, kind, '{' + dates + '}', 'part.parquet'))}, Parquet)"

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

    def arrays(self, sql: str) -> dict[str, np.ndarray]:
        import chdb

        table: pa.Table = chdb.query(sql, "ArrowTable")
        return {name: table.column(name).to_numpy() for name in table.column_names}


ENGINES: dict[str, type[Engine]] = {"duckdb": DuckDBEngine, "clickhouse": ClickHouseEngine}


def get_engine(name: str, lake: str, tz: str = "Asia/Shanghai") -> Engine:
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r} (use {' or '.join(ENGINES)})")
    return ENGINES[name](lake, tz)

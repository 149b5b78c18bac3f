"""The ONE DATA lake: Parquet files under `{LAKE_URL}/events/date=YYYY-MM-DD/<name>.parquet`.

This module is the contract the analytics read: `EVENT_SCHEMA` and `events_glob(lake_url)`. It is
also the only code that writes the lake, and it writes so that a process killed at any instant
leaves no torn file and, after the next run, no duplicate:

- every file is written under a `.tmp` name that no reader's glob matches, fsync'ed, then renamed
  into place (rename is atomic on POSIX) and the directory fsync'ed;
- every writer holds one exclusive lock file, so two jobs never interleave;
- compacting a partition first writes a journal naming the files the new file replaces; if the job
  dies after the rename, the next run finds the journal and finishes removing them. Between those
  two moments a reader may see an event twice — the one window where the lake is not exact.

Persons in the lake are the *live* persons, as of the last flush or compaction. Each file written
here also keeps `source_person_id`: the person the event named or was resolved to when received
(null for an event that only carried a device id). `person_id` is derived from it by the identity
map (`IdentityMap`: devices identified since, and merges): `person_id = redirect(source_person_id or
device_person(anonymous_id))`. So a device's anonymous events count for its person once it is
identified, a merged human counts once, and an undone merge gives the absorbed person its events
back — readers only ever read `person_id`. Files written without the column (older lakes, the demo)
read as `source_person_id = person_id`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import itertools
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

EVENT_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("event", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("person_id", pa.int64()),
        pa.field("anonymous_id", pa.string()),
        pa.field("dealer_id", pa.int64()),
        pa.field("channel", pa.string()),
        pa.field("properties", pa.string()),
        pa.field("received_at", pa.timestamp("us", tz="UTC")),
    ]
)
COLUMNS = EVENT_SCHEMA.names
# What tracking writes: the readers' contract plus the person as received (see the module's note).
STORED_SCHEMA = EVENT_SCHEMA.append(pa.field("source_person_id", pa.int64()))
IDENTITY_DIR = "identity"  # the identity map last applied to the whole lake, as Parquet
JOURNAL = "_compaction.json"
# A partition with at most this many files is left alone by compaction.
COMPACT_MIN_FILES = 2


def events_root(lake_url: str | os.PathLike[str]) -> Path:
    return Path(lake_url) / "events"


def events_glob(lake_url: str | os.PathLike[str]) -> str:
    """The glob every reader uses (DuckDB: `read_parquet(glob, hive_partitioning = true)`)."""
    return str(events_root(lake_url) / "date=*" / "*.parquet")


def partition_dir(lake_url: str | os.PathLike[str], day: dt.date) -> Path:
    return events_root(lake_url) / f"date={day.isoformat()}"


def partition_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.parquet") if p.is_file())


def partitions(lake_url: str | os.PathLike[str]) -> list[Path]:
    root = events_root(lake_url)
    return sorted(p for p in root.glob("date=*") if p.is_dir()) if root.exists() else []


@contextlib.contextmanager
def lake_lock(lake_url: str | os.PathLike[str]) -> Iterator[None]:
    """One writer at a time (an advisory lock the kernel drops when the holder dies)."""
    root = events_root(lake_url)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _crash_point(name: str) -> None:
    """Test hook: `HUFEN_TRACKING_CRASH_AT=<name>` kills this process with SIGKILL at that point."""
    if os.environ.get("HUFEN_TRACKING_CRASH_AT") == name:
        os.kill(os.getpid(), 9)


def write_atomic(directory: Path, table: pa.Table, prefix: str = "part") -> Path:
    """Write `table` as a new file of `directory`: complete and durable, or not there at all."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{prefix}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}.parquet"
    temp = final.with_name(final.name + ".tmp")
    pq.write_table(conform(table), temp, compression="zstd")
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())
    _crash_point("before_rename")
    os.replace(temp, final)
    _fsync_dir(directory)
    return final


def read_event_ids(directory: Path) -> set[str]:
    """The event ids already in a partition (the lake's side of the dedupe)."""
    ids: set[str] = set()
    for path in partition_files(directory):
        ids.update(pq.ParquetFile(path).read(columns=["event_id"]).column("event_id").to_pylist())
    return ids


def read_event_id_array(directory: Path) -> pa.Array:
    """The event ids already in a partition, as one Arrow array (no Python objects)."""
    parts = [pq.ParquetFile(p).read(columns=["event_id"]).column("event_id") for p in partition_files(directory)]
    if not parts:
        return pa.array([], pa.string())
    return pa.chunked_array([c for col in parts for c in col.chunks], pa.string()).combine_chunks()


def append(lake_url: str | os.PathLike[str], table: pa.Table, *, unique: bool = False) -> dict[str, int]:
    """Append events, one new file per date, skipping event ids the lake already holds.

    The caller holds `lake_lock`. Returns how many rows were written and skipped as duplicates.
    Duplicates inside `table` itself are dropped too (first occurrence wins), unless the caller
    says there are none (`unique`).
    """
    written = 0
    if table.num_rows == 0:
        return {"written": 0, "duplicates": 0}
    before = table.num_rows
    if not unique:
        table = _dedupe(table)
    skipped = before - table.num_rows
    # Sorted by ts, each UTC date is one contiguous slice: no per-date filter over the whole table.
    table = table.sort_by("ts")
    micros = table.column("ts").cast(pa.int64()).to_numpy()
    days = micros // 86_400_000_000
    bounds = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), table.num_rows]
    for start, stop in itertools.pairwise(bounds):
        part = table.slice(start, stop - start)
        day = dt.date(1970, 1, 1) + dt.timedelta(days=int(days[start]))
        directory = partition_dir(lake_url, day)
        existing = read_event_id_array(directory) if directory.exists() else pa.array([], pa.string())
        if len(existing):
            keep = pc.invert(pc.is_in(part.column("event_id"), value_set=existing))
            new = part.filter(keep)
            skipped += part.num_rows - new.num_rows
            part = new
        if part.num_rows:
            write_atomic(directory, part)
            written += part.num_rows
    return {"written": written, "duplicates": skipped}


def _dedupe(table: pa.Table) -> pa.Table:
    """Keep the first row of each event_id."""
    ids = table.column("event_id")
    if pc.count_distinct(ids).as_py() == table.num_rows:
        return table
    indexed = table.append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    first = indexed.group_by("event_id").aggregate([("__row", "min")]).column("__row_min")
    return table.take(pc.sort_indices(first))


def recover(lake_url: str | os.PathLike[str]) -> int:
    """Finish what a killed job left: stray temp files and half-done compactions. Holds the lock."""
    fixed = 0
    for directory in partitions(lake_url):
        for temp in directory.glob("*.tmp"):
            temp.unlink()
            fixed += 1
        journal = directory / JOURNAL
        if journal.exists():
            plan = json.loads(journal.read_text())
            if (directory / plan["output"]).exists():
                for name in plan["replaces"]:
                    (directory / name).unlink(missing_ok=True)
            journal.unlink()
            _fsync_dir(directory)
            fixed += 1
    return fixed


def compact_partition(directory: Path, identity: IdentityMap | None = None, *, force: bool = False) -> dict[str, int]:
    """Rewrite a partition's files as one file, deduplicated on event_id, sorted by ts and (given an
    identity map) with its persons resolved; `force` rewrites even a partition of one file."""
    files = partition_files(directory)
    if len(files) < (1 if force else COMPACT_MIN_FILES):
        return {"files_in": len(files), "rows": 0, "duplicates": 0}
    table = pa.concat_tables([conform(pq.ParquetFile(p).read()) for p in files])
    deduped = _dedupe(table).sort_by("ts")
    if identity is not None:
        deduped = identity.apply(deduped)
    output = f"compact-{uuid.uuid4().hex[:12]}.parquet"
    journal = directory / JOURNAL
    journal_temp = directory / (JOURNAL + ".tmp")
    journal_temp.write_text(json.dumps({"output": output, "replaces": [p.name for p in files]}))
    with open(journal_temp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(journal_temp, journal)
    _fsync_dir(directory)
    _crash_point("compact_after_journal")
    temp = directory / (output + ".tmp")
    pq.write_table(conform(deduped), temp, compression="zstd")
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, directory / output)
    _fsync_dir(directory)
    _crash_point("compact_after_rename")
    for path in files:
        path.unlink()
    journal.unlink()
    _fsync_dir(directory)
    return {"files_in": len(files), "rows": deduped.num_rows, "duplicates": table.num_rows - deduped.num_rows}


def conform(table: pa.Table) -> pa.Table:
    """`table` in the stored schema; a table without `source_person_id` takes it from `person_id`,
    other missing optional columns are null."""
    if "source_person_id" not in table.column_names and "person_id" in table.column_names:
        table = table.append_column("source_person_id", table.column("person_id").cast(pa.int64()))
    for f in STORED_SCHEMA:  # an optional column a writer left out (e.g. received_at) reads as null
        if f.name not in table.column_names and f.nullable:
            table = table.append_column(f.name, pa.nulls(table.num_rows, f.type))
    return table.select(STORED_SCHEMA.names).cast(STORED_SCHEMA)


class IdentityMap:
    """Devices -> the person they were identified as, and merged-away persons -> the live survivor."""

    def __init__(self, devices: dict[str, int], redirects: dict[int, int]) -> None:
        self.devices = devices
        self.redirects = redirects
        self._device_ids = pa.array(list(devices), pa.string())
        self._device_persons = pa.array(list(devices.values()), pa.int64())
        self._from = pa.array(list(redirects), pa.int64())
        self._to = pa.array(list(redirects.values()), pa.int64())

    def persons(self, source: pa.Array | pa.ChunkedArray, anonymous: pa.Array | pa.ChunkedArray) -> pa.Array:
        """The live person of each row: redirect(source, else the device's person)."""
        via_device = self._device_persons.take(pc.index_in(anonymous, value_set=self._device_ids))
        base = pc.coalesce(source, via_device)
        redirected = self._to.take(pc.index_in(base, value_set=self._from))
        result: pa.Array = pc.coalesce(redirected, base)
        return result

    def apply(self, table: pa.Table) -> pa.Table:
        table = conform(table)
        person = self.persons(table.column("source_person_id"), table.column("anonymous_id"))
        return table.set_column(table.schema.get_field_index("person_id"), "person_id", person)

    def changes_from(self, before: IdentityMap) -> IdentityMap:
        """The entries that differ from `before` (added, changed or gone), as a map to test rows against.

        A gone redirect maps the person to itself; a device whose person's redirect changed is listed too.
        """
        persons = {p: t for p, t in self.redirects.items() if before.redirects.get(p) != t}
        persons.update({p: p for p in before.redirects.keys() - self.redirects.keys()})
        devices = {d: p for d, p in self.devices.items() if before.devices.get(d) != p or p in persons}
        return IdentityMap(devices, persons)

    def touches(self, source: pa.ChunkedArray, anonymous: pa.ChunkedArray) -> bool:
        """Whether any row's person depends on an entry of this (changes) map."""
        if self.redirects and pc.any(pc.is_in(source, value_set=self._from)).as_py():
            return True
        if self.devices:
            no_source = pc.is_null(source)
            hit = pc.and_(no_source, pc.is_in(anonymous, value_set=self._device_ids))
            if pc.any(hit).as_py():
                return True
        return False

    def save(self, lake_url: str | os.PathLike[str]) -> None:
        """Publish the map in the lake (`identity/device_persons.parquet`, `identity/person_redirects.parquet`)."""
        directory = Path(lake_url) / IDENTITY_DIR
        directory.mkdir(parents=True, exist_ok=True)
        tables = {
            "device_persons": pa.table({"anonymous_id": self._device_ids, "person_id": self._device_persons}),
            "person_redirects": pa.table({"person_id": self._from, "live_person_id": self._to}),
        }
        for name, table in tables.items():
            temp = directory / f"{name}.parquet.tmp"
            pq.write_table(table, temp, compression="zstd")
            with open(temp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(temp, directory / f"{name}.parquet")
        _fsync_dir(directory)

    @classmethod
    def load(cls, lake_url: str | os.PathLike[str]) -> IdentityMap:
        """The map last applied to the whole lake (empty when none was)."""
        directory = Path(lake_url) / IDENTITY_DIR
        devices: dict[str, int] = {}
        redirects: dict[int, int] = {}
        if (directory / "device_persons.parquet").exists():
            table = pq.read_table(directory / "device_persons.parquet")
            devices = dict(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))
        if (directory / "person_redirects.parquet").exists():
            table = pq.read_table(directory / "person_redirects.parquet")
            redirects = dict(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))
        return cls(devices, redirects)


def partition_needs_identity(directory: Path, changes: IdentityMap) -> bool:
    """Whether some row of the partition gets another person under the changed entries."""
    for path in partition_files(directory):
        names = pq.ParquetFile(path).schema_arrow.names
        source = "source_person_id" if "source_person_id" in names else "person_id"
        table = pq.ParquetFile(path).read(columns=[source, "anonymous_id"])
        if changes.touches(table.column(source), table.column("anonymous_id")):
            return True
    return False

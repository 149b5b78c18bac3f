"""Benchmark ONE ID in the database: online linking against N resolved records, and a rebuild.

    .venv/bin/python benchmarks/identity_online.py [RECORDS] [--online 300] [--postgres]
        [--setup resolve|truth] [--rebuild both|after|none] [--db-prefix hufen_bench] [--show-queries]
        [--explain N]

RECORDS (default 20,000) noisy multi-source records from the synthetic generator are stored as
SourceRecords with their identifier and blocking-key index rows and one Person per cluster (setup,
timed separately). The clusters come from the batch engine (`--setup resolve`, whose trained model is
stored as online linking's model, as a rebuild would) or, to set up a million records quickly, from
the generator's ground truth (`--setup truth`: the bundled default model scores). Then:
1. (`--rebuild both`) `identity_rebuild` over all of them (no new evidence: IDs must stay put);
2. `--online` held-out records of the same population linked one by one through `identity_link_one`
   (latency p50 / p99 per record with every write: record, index rows, name counts, audit, event,
   person; and the SQL statements each link sends);
3. (`--rebuild both|after`) a rebuild that now has the new evidence: how many online records it put
   on another person than online linking did (the online-vs-rebuild agreement). A link may join
   two persons (a record linking to both); the person an earlier answer named then redirects, and
   the online answer is where it leads after online linking (before the rebuild's own merges).
   `--explain N` describes up to N differing records: both decisions and the records behind them,
   scored with the online model and with the rebuild's newly trained one.
The database is a temporary SQLite file or, with --postgres, a scratch PostgreSQL database named
`<db-prefix>_<random>`, created and dropped here. Prints one JSON object and keeps a copy in
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIELDS = (
    "name",
    "phone",
    "email",
    "id_number",
    "birth_date",
    "gender",
    "province",
    "city",
    "district",
    "address",
    "wechat_unionid",
    "vin",
)


def _store(base: list[dict[str, str]], labels: list[str]) -> int:
    """Persons, source records, their index rows and the name counts, in bulk (COPY on
    PostgreSQL); returns the number of persons."""
    from django.db import connection
    from django.utils import timezone

    from hufen.identity.linking import ONLINE_SCHEMA
    from hufen.identity.prepare import prepare_rows
    from hufen.identity.services import identity_name_counts_rebuild
    from hufen.people.models import Person

    clusters = sorted(set(labels))
    persons = Person.objects.bulk_create([Person(name="待定", source="bench") for _ in clusters], batch_size=5000)
    person_of = {label: p.pk for label, p in zip(clusters, persons, strict=True)}
    now = timezone.now()
    chunk = 50_000
    next_id = 1
    for start in range(0, len(base), chunk):
        part = base[start : start + chunk]
        fields = [{k: r[k] for k in FIELDS if r.get(k)} for r in part]
        rows = prepare_rows(
            [{"record_id": r["record_id"], **f} for r, f in zip(part, fields, strict=True)], ONLINE_SCHEMA
        )
        records = []
        for r, f, row, label in zip(part, fields, rows, labels[start : start + chunk], strict=True):
            normalized = {k: v for k, v in row.items() if k not in {"uid", "rid"}}
            records.append((next_id, r["source"], r["record_id"], f, normalized, person_of[label]))
            next_id += 1
        if connection.vendor == "postgresql":
            _copy(records, now)
        else:
            _orm(records, now)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval(pg_get_serial_sequence('identity_sourcerecord', 'id'), %s)", [next_id])
    identity_name_counts_rebuild()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return len(clusters)


Loaded = list[tuple[int, str, str, dict[str, str], dict[str, Any], int]]


def _copy(records: Loaded, now: Any) -> None:
    from django.db import connection

    from hufen.identity.linking import block_keys_of, identifiers_of

    with connection.cursor() as cursor:
        raw = cursor.cursor
        columns = "id, source, source_key, raw, normalized, fingerprint, received_at, updated_at, person_id, decision,"
        with raw.copy(f"COPY identity_sourcerecord ({columns} explanation) FROM STDIN") as copy:
            for pk, source, key, fields, normalized, person in records:
                copy.write_row(
                    (
                        pk,
                        source,
                        key,
                        json.dumps(fields),
                        json.dumps(normalized),
                        "bench",
                        now,
                        now,
                        person,
                        "new",
                        "{}",
                    )
                )
        with raw.copy("COPY identity_identifier (kind, value, record_id, person_id) FROM STDIN") as copy:
            for pk, _, _, _, normalized, person in records:
                for kind, value in identifiers_of(normalized):
                    copy.write_row((kind, value, pk, person))
        with raw.copy("COPY identity_blockkey (key, record_id, person_id) FROM STDIN") as copy:
            for pk, _, _, _, normalized, person in records:
                for key in block_keys_of(normalized):
                    copy.write_row((key, pk, person))


def _orm(records: Loaded, now: Any) -> None:
    from hufen.identity.linking import block_keys_of, identifiers_of
    from hufen.identity.models import BlockKey, Identifier, SourceRecord

    SourceRecord.objects.bulk_create(
        [
            SourceRecord(
                pk=pk,
                source=source,
                source_key=key,
                raw=fields,
                normalized=normalized,
                fingerprint="bench",
                received_at=now,
                person_id=person,
                decision="new",
            )
            for pk, source, key, fields, normalized, person in records
        ],
        batch_size=5000,
    )
    Identifier.objects.bulk_create(
        [
            Identifier(kind=kind, value=value, record_id=pk, person_id=person)
            for pk, _, _, _, normalized, person in records
            for kind, value in identifiers_of(normalized)
        ],
        batch_size=10000,
    )
    BlockKey.objects.bulk_create(
        [
            BlockKey(key=key, record_id=pk, person_id=person)
            for pk, _, _, _, normalized, person in records
            for key in block_keys_of(normalized)
        ],
        batch_size=10000,
    )


def _differences(
    pks: list[int], online: dict[int, int], before: dict[int, int], online_model: int | None
) -> list[dict[str, Any]]:
    """For each record the rebuild put elsewhere: the online decision with its explanation, and the
    records of the online person and of the rebuild's person, each scored against the record with
    the model online linking used and with the rebuild's newly trained one (`p_online`,
    `p_rebuild`; the name-frequency adjustment as online linking applies it)."""
    from django.db.models import Q

    from hufen.identity.linking import NameCounts, active_model, adjust_for_name_frequency, identifiers_of
    from hufen.identity.models import ModelParameters, NameFrequency, SourceRecord

    newest = ModelParameters.objects.order_by("-id").values_list("id", flat=True).first()
    models = {"p_online": active_model(online_model), "p_rebuild": active_model(newest)}
    total = sum(NameFrequency.objects.filter(name="").values_list("records", flat=True))
    described = []
    for pk in pks:
        record = SourceRecord.objects.get(pk=pk)
        name = record.normalized.get("n_full")
        counts = None
        if name:
            counts = NameCounts(sum(NameFrequency.objects.filter(name=name).values_list("records", flat=True)), total)

        def members(person: int, record: SourceRecord = record, counts: NameCounts | None = counts) -> list[Any]:
            holders = [k for k, p in before.items() if p == person]
            rows = []
            for other in SourceRecord.objects.filter(Q(person_id=person) | Q(pk__in=holders)).exclude(pk=record.pk):
                scores = {
                    label: adjust_for_name_frequency(
                        model.scorer.score(record.normalized, other.normalized),
                        record.normalized.get("n_full"),
                        counts,
                        model,
                    ).probability
                    for label, model in models.items()
                }
                shared = set(identifiers_of(record.normalized)) & set(identifiers_of(other.normalized))
                rows.append(
                    {
                        **_brief(other),
                        "before": before.get(other.pk),
                        "now": other.person_id,
                        **{label: round(p, 5) for label, p in scores.items()},
                        "shared": sorted(kind for kind, _ in shared),
                    }
                )
            return rows

        described.append(
            {
                "record": _brief(record),
                "online": {
                    "person": online[pk],
                    "decision": record.decision,
                    **{k: record.explanation.get(k) for k in ("rule", "candidate", "probability", "joined")},
                    "members": members(online[pk]),
                },
                "rebuild": {"person": record.person_id, "members": members(record.person_id)},
            }
        )
    return described


def _brief(record: Any) -> dict[str, Any]:
    from hufen.identity.linking import identifiers_of

    row = record.normalized
    keep = ("n_full", "d_birth_date", "gender", "c_province", "c_city", "c_district", "a_address")
    return {
        "id": record.pk,
        "key": f"{record.source}:{record.source_key}",
        **{k.partition("_")[2] or k: row.get(k) for k in keep if row.get(k)},
        "ids": [f"{k}:{v[-6:]}" for k, v in identifiers_of(row)],
    }


def workload(
    records: int, online: int, setup: str, rebuild: str, show_queries: bool, explain: int = 0
) -> dict[str, Any]:
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from hufen.common.actors import SYSTEM
    from hufen.identity.linking import ONLINE_SCHEMA
    from hufen.identity.matching import resolve
    from hufen.identity.models import ModelParameters, SourceRecord
    from hufen.identity.rebuild import identity_rebuild
    from hufen.identity.services import RecordInput, identity_link_one, identity_model_store
    from hufen.identity.synthetic import generate
    from hufen.people.merge import person_redirects

    call_command("migrate", verbosity=0)
    out: dict[str, Any] = {"records": records, "online_records": online, "setup": setup}
    began = time.monotonic()
    generated = list(generate(records + online, seed=7))
    base, held_out = [r for r, _ in generated[:records]], [r for r, _ in generated[records:]]
    if setup == "resolve":
        resolution = resolve(
            [{"record_id": r["record_id"], **{k: r[k] for k in FIELDS if r.get(k)}} for r in base], ONLINE_SCHEMA
        )
        labels = resolution.person_ids
        # What a rebuild stores: online linking scores with the model trained on these records.
        identity_model_store(
            actor=SYSTEM, parameters=resolution.parameters, trained_on=f"bench setup of {records}", records=records
        )
    else:
        labels = [f"T{truth}" for _, truth in generated[:records]]
    out["persons"] = _store(base, labels)
    out["setup_seconds"] = round(time.monotonic() - began, 1)
    del generated

    if rebuild == "both":
        before = dict(SourceRecord.objects.values_list("pk", "person_id"))
        first = identity_rebuild(actor=SYSTEM)
        after = dict(SourceRecord.objects.values_list("pk", "person_id"))
        out["rebuild"] = first.as_dict()
        out["rebuild_records_per_s"] = round(records / first.seconds["total"], 1)
        out["rebuild_stable_share"] = round(sum(before[k] == after[k] for k in before) / len(before), 5)
        del before, after

    statements: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql)
        return execute(sql, params, many, context)

    latencies: list[float] = []
    joining: list[float] = []  # links that also merged persons (a record linking to two of them)
    per_link: list[int] = []
    decisions: dict[int, int] = {}
    kinds: Counter[str] = Counter()
    example: dict[str, list[str]] = {}
    with connection.execute_wrapper(count):
        for r in held_out:
            record = RecordInput(
                source=r["source"], source_key=r["record_id"], fields={k: r[k] for k in FIELDS if r.get(k)}
            )
            statements.clear()
            t = time.perf_counter()
            result = identity_link_one(actor=SYSTEM, record=record)
            latencies.append((time.perf_counter() - t) * 1000)
            per_link.append(len(statements))
            assert result.record_id is not None and result.person_id is not None
            decisions[result.record_id] = result.person_id
            kinds[result.decision] += 1
            if result.explanation.get("joined"):
                kinds["joined_persons"] += len(result.explanation["joined"])
                joining.append(latencies[-1])
            if show_queries and result.decision not in example:
                example[result.decision] = [s[:160] for s in statements]
    if latencies:
        ordered = sorted(latencies)
        out["online_ms"] = {
            "p50": round(statistics.median(ordered), 2),
            "p90": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.90))], 2),
            "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
            "max": round(ordered[-1], 2),
        }
        out["online_decisions"] = dict(kinds)
        if joining:
            out["online_ms_joining"] = {
                "links": len(joining),
                "p50": round(statistics.median(joining), 2),
                "max": round(max(joining), 2),
            }
        out["statements_per_link"] = {
            "mean": round(statistics.mean(per_link), 2),
            "min": min(per_link),
            "max": max(per_link),
        }
        if example:
            out["statements_example"] = example
        if rebuild != "none":
            before_rebuild = dict(SourceRecord.objects.values_list("pk", "person_id")) if explain else {}
            online_redirects = person_redirects()
            online_model = ModelParameters.objects.order_by("-id").values_list("id", flat=True).first()
            # What the online part measured survives a failing rebuild (stderr, then the error).
            print(json.dumps(out), file=sys.stderr, flush=True)
            try:
                second = identity_rebuild(actor=SYSTEM)
            except Exception as exc:  # reported in the JSON: the online figures stand on their own
                out["rebuild_after_online_error"] = repr(exc)
                return out
            out["rebuild_after_online"] = second.as_dict()
            kept = dict(SourceRecord.objects.filter(pk__in=list(decisions)).values_list("pk", "person_id"))
            # A later link may join the person an earlier answer named into another (the absorbed ID
            # redirects): the online answer is where that ID leads after online linking, before the
            # rebuild's own merges.
            online_now = {pk: online_redirects.get(p, p) for pk, p in decisions.items()}
            differing = sorted(pk for pk, p in kept.items() if online_now[pk] != p)
            if explain:
                out["differences"] = _differences(differing[:explain], online_now, before_rebuild, online_model)
            out["online_vs_rebuild"] = {
                "records": len(decisions),
                "person_differs": len(differing),
                "agreement": round(1 - len(differing) / len(decisions), 5),
                "differs_from_the_id_answered": sum(decisions[pk] != p for pk, p in kept.items()),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("records", nargs="?", type=int, default=20_000)
    parser.add_argument("--online", type=int, default=300)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--setup", choices=["resolve", "truth"], default="resolve")
    parser.add_argument("--rebuild", choices=["both", "after", "none"], default="both")
    parser.add_argument("--db-prefix", default="hufen_bench", help="scratch PostgreSQL database name prefix")
    parser.add_argument("--show-queries", action="store_true", help="print the statements of one link per decision")
    parser.add_argument(
        "--explain", type=int, default=0, help="describe up to N records the rebuild put on another person"
    )
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(
            json.dumps(workload(args.records, args.online, args.setup, args.rebuild, args.show_queries, args.explain))
        )
        return
    scratch = tempfile.mkdtemp(prefix="hufen-bench-")
    if args.postgres:
        name = f"{args.db_prefix}_{uuid.uuid4().hex[:8]}"
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
        url = f"postgres://postgres@127.0.0.1:5432/{name}"
    else:
        url = f"sqlite:///{scratch}/bench.sqlite3"
    env = {**os.environ, "DATABASE_URL": url, "HUFEN_VAR_DIR": scratch, "DJANGO_SETTINGS_MODULE": "hufen.settings"}
    inner = [sys.executable, __file__, str(args.records), "--online", str(args.online), "--inner"]
    inner += ["--setup", args.setup, "--rebuild", args.rebuild] + (["--show-queries"] if args.show_queries else [])
    inner += ["--explain", str(args.explain)]
    try:
        done = subprocess.run(inner, env=env, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if args.postgres:
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", name], check=False)
    result = {
        **json.loads(done.stdout.strip().splitlines()[-1]),
        "database": url.split("://", 1)[0],
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    out = ROOT / "benchmarks" / "results" / f"identity_online_{result['database']}_{args.records}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

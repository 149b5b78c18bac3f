"""Benchmark `hufen identity resolve` on generated noisy Chinese records with known truth.

    .venv/bin/python benchmarks/identity_resolve.py [N] [--seed S]

Prints one JSON object: wall time, peak RSS, candidate pairs (after blocking), pairwise precision
/ recall / F1, and side by side the deterministic baselines a user would otherwise pick (exact
normalised phone; exact name + phone) on the same data.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hufen.settings")
django.setup()

from splink import DuckDBAPI  # noqa: E402
from splink.blocking_analysis import cumulative_comparisons_to_be_scored_from_blocking_rules_data  # noqa: E402

from hufen.identity.batch import resolve_file  # noqa: E402
from hufen.identity.model import build_settings  # noqa: E402
from hufen.identity.normalize import normalize_name, normalize_phone  # noqa: E402
from hufen.identity.prepare import prepare  # noqa: E402
from hufen.identity.schema import DEFAULT_SCHEMA  # noqa: E402
from hufen.identity.synthetic import COLUMNS, generate, pairwise_scores  # noqa: E402


def baseline(records: list[dict[str, str]], truth: list[int], *, with_name: bool) -> dict[str, float]:
    """Exact match on the normalised phone (and the normalised name): what a spreadsheet does."""
    persons = []
    for record in records:
        phone = normalize_phone(record["phone"]).value
        key = phone and (f"{normalize_name(record['name']).key}|{phone}" if with_name else phone)
        persons.append(key or f"own:{record['record_id']}")
    return pairwise_scores(truth, persons)


def candidate_pairs(records: list[dict[str, str]]) -> int:
    _, frame = prepare(records, DEFAULT_SCHEMA)
    settings, _, _ = build_settings(frame)
    rules = settings.blocking_rules_to_generate_predictions
    counts = cumulative_comparisons_to_be_scored_from_blocking_rules_data(
        table_or_tables=frame,
        blocking_rules=rules,
        link_type="dedupe_only",
        db_api=DuckDBAPI(),
        unique_id_column_name="uid",
    )
    return int(counts["row_count"].sum())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    data = list(generate(args.n, seed=args.seed))
    records = [r for r, _ in data]
    truth = [t for _, t in data]
    with tempfile.TemporaryDirectory() as tmp:
        source, output = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        with source.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            writer.writerows(records)
        started = time.perf_counter()
        result = resolve_file(source, output, review_path=Path(tmp) / "review.csv")
        seconds = time.perf_counter() - started
        with output.open(encoding="utf-8") as handle:
            person_of = {row["record_id"]: row["person_id"] for row in csv.DictReader(handle)}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    predicted = [person_of[r["record_id"]] for r in records]
    report = {
        "records": args.n,
        "true_persons": len(set(truth)),
        "persons": result.stats["persons"],
        "seconds_end_to_end": round(seconds, 1),
        "peak_rss_mb": round(peak_mb),
        "candidate_pairs": candidate_pairs(records),
        "candidate_pairs_per_record": None,
        "review_pairs": result.stats["review_pairs"],
        "hufen": pairwise_scores(truth, predicted),
        "baseline_exact_phone": baseline(records, truth, with_name=False),
        "baseline_exact_name_and_phone": baseline(records, truth, with_name=True),
        "cores": os.cpu_count(),
    }
    report["candidate_pairs_per_record"] = round(report["candidate_pairs"] / args.n, 2)
    print(json.dumps(report))


if __name__ == "__main__":
    main()

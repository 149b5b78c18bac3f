"""Benchmark `hufen demo`: wall time and peak memory for N persons in a fresh scratch database.

    .venv/bin/python benchmarks/demo_generate.py [N] [--postgres]

N defaults to 1,000,000. The database is a temporary SQLite file (or, with --postgres, a scratch
database created with `createdb` on 127.0.0.1 and dropped afterwards). Migrations run first and
are not timed. Prints one JSON object and keeps a copy in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HUFEN = [sys.executable, "-m", "hufen.cli"]


def machine() -> dict[str, float]:
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {"cores": os.cpu_count() or 1, "mem_gb": round(pages / 2**30, 1)}


def run(persons: int, database_url: str, var_dir: str) -> dict[str, object]:
    env = {**os.environ, "DATABASE_URL": database_url, "HUFEN_VAR_DIR": var_dir}
    subprocess.run([*HUFEN, "migrate", "-v0"], env=env, cwd=ROOT, check=True)
    began = time.monotonic()
    done = subprocess.run(
        [*HUFEN, "demo", "--persons", str(persons), "--json"],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    seconds = time.monotonic() - began
    # ru_maxrss of children is the largest of any waited-for child, in KiB on Linux: the demo run
    # dwarfs the migration.
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    summary = json.loads(done.stdout)
    return {
        "persons": persons,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(peak_kib / 1024, 1),
        "rows": summary["rows"],
        "database": database_url.split("://", 1)[0],
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("persons", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--postgres", action="store_true", help="use a scratch PostgreSQL database")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="hufen-bench-")
    dbname = f"hufen_bench_{uuid.uuid4().hex[:8]}"
    try:
        if args.postgres:
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", dbname], check=True)
            url = f"postgres://postgres@127.0.0.1:5432/{dbname}"
        else:
            url = f"sqlite:///{scratch}/bench.sqlite3"
        result = run(args.persons, url, scratch)
    finally:
        if args.postgres:
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", dbname], check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    text = json.dumps(result, ensure_ascii=False)
    print(text)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"demo_generate_{result['database']}_{args.persons}.json").write_text(text + "\n")


if __name__ == "__main__":
    main()

"""`hufen identity resolve` end to end in a subprocess, with the database unreachable."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hufen.identity.synthetic import COLUMNS, generate

HUFEN = [sys.executable, "-c", "from hufen.cli import main; main()"]
# Nothing listens on port 1: a command that touched the database would fail.
NO_DB = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere", "COLUMNS": "120"}


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HUFEN, *map(str, args)], capture_output=True, text=True, env=NO_DB, timeout=240)


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_resolve_without_a_database(tmp_path: Path) -> None:
    # given a GB18030 export from a DMS (as Chinese DMS tools write it)
    source = write_csv(tmp_path / "in.csv", [r for r, _ in generate(600, seed=3)], COLUMNS, encoding="gb18030")
    out, review = tmp_path / "out.csv", tmp_path / "review.csv"
    # when resolving with the database down
    done = run("identity", "resolve", source, "--output", out, "--review", review, "--json")
    # then it succeeds, and writes one row per record plus a JSON summary
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["records"] == 600 and 0 < summary["persons"] < 600
    assert {"merged_pairs", "review_pairs", "seconds"} <= set(summary)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 600 and set(rows[0]) == {"record_id", "person_id", "score"}
    assert len({r["person_id"] for r in rows}) == summary["persons"]
    assert next(csv.reader(review.open(encoding="utf-8")))[:3] == ["record_id_l", "record_id_r", "match_probability"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,phone\n王伟,13812345678\n", "record_id: column missing"),
        ("record_id,name\nr1,王伟\nr2,李娜\nr1,张三\n", "row 4, column record_id: duplicate 'r1' (first on row 2)"),
        ("", "the file is empty"),
        ("record_id,name\n", "no records after the header"),
        ("record_id,name\nr1,王伟,extra\n", "row 2: more fields than the header"),
        ("record_id,name\n,王伟\n", "row 2, column record_id: is empty"),
    ],
)
def test_bad_input_names_the_problem_and_writes_nothing(tmp_path: Path, content: str, message: str) -> None:
    source = tmp_path / "in.csv"
    source.write_text(content, encoding="utf-8")
    out = tmp_path / "out.csv"
    done = run("identity", "resolve", source, "--output", out)
    assert done.returncode != 0
    assert message in done.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [source]  # no temporary left behind either


def test_undecodable_input_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(b"record_id,name\nr1,\xff\xfe\xfa\n")
    done = run("identity", "resolve", source, "--output", tmp_path / "out.csv", "--encoding", "utf-8")
    assert done.returncode != 0 and "cannot be decoded as utf-8" in done.stderr


ENGLISH_CONFIG = """\
record_id = "customer_no"

[columns]
first_name = "given_name"
last_name = "family_name"
dob = "date"
phone = "phone"
email = "email"
street = "address"
city = "category"
zip = "category"

[thresholds]
merge = 0.99
review = 0.6
"""
FIRST = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David", "Susan"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor", "Clark"]
CITIES = ["Springfield", "Riverton", "Lakeside", "Fairview"]


def english_customers() -> tuple[list[dict[str, str]], dict[str, int]]:
    """100 customers, 60 of them entered twice with a typo, a changed phone or a missing field."""
    rows, truth = [], {}
    for i in range(100):
        person = {
            "first_name": FIRST[i % 10],
            "last_name": LAST[(i * 7 // 10) % 10],
            "dob": f"19{50 + i % 45}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "phone": f"555-01{i:02d}-{(i * 37) % 10000:04d}",
            "email": f"{FIRST[i % 10].lower()}.{i}@example.com",
            "street": f"{10 + i} {['Oak', 'Elm', 'Pine', 'Main'][i % 4]} Street",
            "city": CITIES[i % 4],
            "zip": f"{90000 + i % 40}",
            "segment": "retail",
        }
        rows.append({"customer_no": f"C{i:03d}", **person})
        truth[f"C{i:03d}"] = i
        if i < 60:
            twin = dict(person, customer_no=f"D{i:03d}")
            if i % 3 == 0:
                twin["first_name"] = twin["first_name"][:-1] + "x"  # a typo
            elif i % 3 == 1:
                twin["phone"], twin["email"] = f"555-99{i:02d}-0000", ""  # a new phone
            else:
                twin["dob"] = ""
            rows.append(twin)
            truth[f"D{i:03d}"] = i
    return rows, truth


def test_config_links_a_non_chinese_file(tmp_path: Path) -> None:
    rows, truth = english_customers()
    source = write_csv(tmp_path / "customers.csv", rows, list(rows[0]))
    config = tmp_path / "customers.toml"
    config.write_text(ENGLISH_CONFIG, encoding="utf-8")
    out = tmp_path / "persons.csv"
    done = run("identity", "resolve", source, "--output", out, "--config", config, "--no-score")
    assert done.returncode == 0, done.stderr
    result = {r["record_id"]: r["person_id"] for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert set(result) == set(truth)
    for i in range(60):
        assert result[f"C{i:03d}"] == result[f"D{i:03d}"], i
    assert len(set(result.values())) == 100


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('[columns]\nname = "nickname"\n', "columns.name: unknown kind 'nickname'"),
        ('[columns]\nsurname = "family_name"\n', "columns.surname: unknown column"),
        ('[columns]\nname = "name"\n[thresholds]\nmerge = 0.5\nreview = 0.9\n', "must not be above merge"),
        ('[columns]\nname = "name"\n[thresholds]\nmerge = 1.5\n', "thresholds.merge: must be a probability"),
        ("[columns\n", "is not valid TOML"),
    ],
)
def test_invalid_config_is_refused(tmp_path: Path, config: str, message: str) -> None:
    source = write_csv(tmp_path / "in.csv", [{"record_id": "r1", "name": "Ann"}], ["record_id", "name"])
    path = tmp_path / "config.toml"
    path.write_text(config, encoding="utf-8")
    done = run("identity", "resolve", source, "--output", tmp_path / "out.csv", "--config", path)
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert not (tmp_path / "out.csv").exists()

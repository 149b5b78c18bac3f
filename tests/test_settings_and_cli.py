"""The settings module and the `hufen` entry point, run as a user would: in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_hufen(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("HUFEN_", "DATABASE_URL"))}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "hufen.cli", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/db", "scheme 'mysql' is not supported"),
        ("postgres://u@h:abc/db", "Port could not be cast"),
        ("nonsense", "is not a URL"),
        ("postgres://u@localhost:5432/", "names no database"),
    ],
)
def test_malformed_database_url_is_named_and_rejected(url: str, message: str, tmp_path: Path) -> None:
    result = run_hufen("check", DATABASE_URL=url, HUFEN_VAR_DIR=str(tmp_path))
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_placeholder_secret_and_debug(tmp_path: Path) -> None:
    result = run_hufen("check", HUFEN_ENV="production", HUFEN_VAR_DIR=str(tmp_path))
    assert result.returncode == 2 and "HUFEN_SECRET_KEY" in result.stderr
    secret = "s" * 40
    result = run_hufen(
        "check", HUFEN_ENV="production", HUFEN_SECRET_KEY=secret, HUFEN_DEBUG="1", HUFEN_VAR_DIR=str(tmp_path)
    )
    assert result.returncode == 2 and "HUFEN_DEBUG" in result.stderr
    result = run_hufen("check", HUFEN_ENV="production", HUFEN_SECRET_KEY=secret, HUFEN_VAR_DIR=str(tmp_path))
    assert result.returncode == 2 and "HUFEN_PII_KEY" in result.stderr
    result = run_hufen(
        "check", HUFEN_ENV="production", HUFEN_SECRET_KEY=secret, HUFEN_PII_KEY="p" * 40, HUFEN_VAR_DIR=str(tmp_path)
    )
    assert result.returncode == 0, result.stderr


def test_unknown_environment_name_is_rejected(tmp_path: Path) -> None:
    result = run_hufen("check", HUFEN_ENV="staging", HUFEN_VAR_DIR=str(tmp_path))
    assert result.returncode == 2 and "HUFEN_ENV" in result.stderr


def test_hufen_wraps_every_management_command(tmp_path: Path) -> None:
    result = run_hufen("help", HUFEN_VAR_DIR=str(tmp_path))
    assert result.returncode == 0
    for command in ("migrate", "serve", "shell", "check"):
        assert command in result.stdout


@pytest.mark.parametrize(("args", "message"), [(["--port", "70000"], "--port"), (["--workers", "0"], "--workers")])
def test_serve_rejects_bad_arguments(args: list[str], message: str, tmp_path: Path) -> None:
    result = run_hufen("serve", *args, HUFEN_VAR_DIR=str(tmp_path))
    assert result.returncode != 0 and message in result.stderr

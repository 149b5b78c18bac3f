"""`hufen serve` starts a real server with either front (gunicorn, granian) that answers the console and
the API; a wrong choice is refused before anything starts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

HUFEN = str(Path(sys.executable).parent / "hufen")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_serve_answers_console_and_api(server: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}", "HUFEN_SERVER": server}
    cmd = [HUFEN, "serve", "--port", str(port), "--workers", "1", "--threads", "2", "--no-access-log"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _get(f"{base}/console/login/")
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "the server did not answer within a minute"
                time.sleep(0.3)
        assert status == 200 and "登录" in body.decode()
        # The check-in endpoint without a token: the fast lane hands it on and the API answers 401.
        status, body = _get(f"{base}/api/v1/memberday/check-ins", json.dumps({"member_id": 1}).encode())
        assert status == 401 and json.loads(body)["error"]["code"] == "unauthenticated"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].decode()
    assert f"Hufen is starting on {base}" in out
    assert ("granian" in out.lower()) == (server == "granian")


def test_serve_refuses_an_unknown_server(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    done = subprocess.run(
        [HUFEN, "serve", "--server", "uwsgi", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "uwsgi" in done.stderr

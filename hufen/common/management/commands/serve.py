"""`hufen serve`: run the platform (gunicorn, or granian) and print where to go."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Serve the console, the H5 portal and the API (gunicorn or granian; http://127.0.0.1:8000 by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HUFEN_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("HUFEN_PORT", "8000")))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("HUFEN_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("HUFEN_THREADS", "4")))
        parser.add_argument(
            "--server",
            choices=["gunicorn", "granian"],
            default=os.environ.get("HUFEN_SERVER", "gunicorn"),
            help="gunicorn (default), or granian: the same WSGI app behind a Rust HTTP server, several "
            "times cheaper per request — for Member Day's check-in load (README, Member Day).",
        )
        parser.add_argument("--no-access-log", action="store_true", help="do not log every request")

    def handle(self, *args: Any, **opts: Any) -> None:
        port, workers, threads = opts["port"], opts["workers"], opts["threads"]
        if not 1 <= port <= 65535:
            raise CommandError(f"--port: {port} is not a TCP port (1-65535)")
        if not 1 <= workers <= 64:
            raise CommandError(f"--workers: {workers} is not between 1 and 64")
        if not 1 <= threads <= 64:
            raise CommandError(f"--threads: {threads} is not between 1 and 64")
        base = f"http://{opts['host']}:{port}"
        self.stdout.write(self.style.SUCCESS(f"Hufen is starting on {base}"))
        self.stdout.write(f"  console   {base}/console/")
        self.stdout.write(f"  REST API  {base}/api/v1/docs  (OpenAPI: {base}/api/v1/openapi.json)")
        self._print_logins()
        sys.stdout.flush()
        if opts["server"] not in ("gunicorn", "granian"):
            raise CommandError(f"--server: {opts['server']!r} is not gunicorn or granian (HUFEN_SERVER)")
        program = shutil.which(opts["server"], path=os.path.dirname(sys.executable)) or shutil.which(opts["server"])
        if program is None:
            raise CommandError(f"{opts['server']} is not installed in this environment (run `make setup`)")
        if opts["server"] == "granian":
            argv = [program, "--interface", "wsgi", "--host", opts["host"], "--port", str(port),
                    "--workers", str(workers), "--blocking-threads", str(threads),
                    "--workers-kill-timeout", "10", "--no-ws"]  # fmt: skip
            argv += [] if opts["no_access_log"] else ["--access-log"]
            argv.append("hufen.wsgi:application")
        else:
            argv = [program, "hufen.wsgi:application", "--bind", f"{opts['host']}:{port}", "--workers", str(workers),
                    "--threads", str(threads), "--graceful-timeout", "10"]  # fmt: skip
            argv += [] if opts["no_access_log"] else ["--access-logfile", "-"]
        os.execv(program, argv)

    def _print_logins(self) -> None:
        """One demo login per role, when the demo brand is loaded in this database."""
        from django.contrib.auth import get_user_model
        from django.db import DatabaseError

        from hufen.demo.logins import demo_logins, render_logins

        try:
            loaded = get_user_model().objects.filter(username=demo_logins()[0].username).exists()
        except DatabaseError:
            loaded = False  # not migrated yet: the server will say so on the first request
        if loaded:
            self.stdout.write(render_logins())

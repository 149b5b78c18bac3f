"""`hufen`: the one command-line entry point.

`hufen demo`, `hufen serve` and every Django management command (`hufen migrate`, `hufen shell` ...).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hufen.settings")
    args = list(sys.argv[1:] if argv is None else argv)
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.core.management import execute_from_command_line

        if not args or args[0] in {"-h", "--help"}:
            print(__doc__.strip() if __doc__ else "hufen")
            args = ["help"]
        execute_from_command_line(["hufen", *args])
    except ImproperlyConfigured as exc:
        print(f"hufen: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()

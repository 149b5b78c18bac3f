"""Input types shared by the API's schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _storable(value: str) -> str:
    # PostgreSQL refuses NUL in text and UTF-8 refuses lone surrogates; reject both as input errors
    # here instead of letting them surface as a 500 from the database driver.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text") from exc
    return value


Text = Annotated[str, AfterValidator(_storable)]
"""A string that the database can store and compare."""


def lookup_key(value: str, *, max_length: int) -> str | None:
    """A path key (dealer code, VIN) worth looking up, or None when it cannot name any row.

    Used for path parameters, where an impossible value is a 404 like any unknown one.
    """
    text = value.strip()
    if not text or len(text) > max_length:
        return None
    try:
        return _storable(text)
    except ValueError:
        return None

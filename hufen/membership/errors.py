"""Membership's own domain errors (mapped to HTTP by the API layer)."""

from __future__ import annotations


class IdempotencyConflict(Exception):
    """The key was already used for a different request: the first result stands."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(message)

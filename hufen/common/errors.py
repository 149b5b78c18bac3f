"""Domain errors that every interface (API, console, CLI) turns into its own clear message."""

from __future__ import annotations

from hufen.common.pii import FieldError

__all__ = ["FieldError", "NotFound", "PermissionDenied"]


class PermissionDenied(Exception):
    """The actor may not do this, or the object is outside its data scope."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class NotFound(Exception):
    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

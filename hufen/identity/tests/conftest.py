"""The API tests' `caller` fixture (any named actor of the test world, by session or token)."""

from hufen.api.tests.conftest import caller

__all__ = ["caller"]

from hufen.api.tests.conftest import caller  # noqa: F401  (the API's per-actor test client)

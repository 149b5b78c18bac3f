"""Helpers for calling the API in tests and checking its answers."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

API = "/api/v1"


class Caller:
    """A test client that always sends one actor's credentials."""

    def __init__(self, client: Client, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.headers = headers or {}

    def get(self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.get(API + path, params or {}, headers={**self.headers, **(headers or {})})

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(
            API + path,
            json.dumps(body, ensure_ascii=False),
            content_type="application/json",
            headers={**self.headers, **(headers or {})},
        )

    def pages(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Follow `next_cursor` to the end, the way an export would; returns every item."""
        items: list[dict[str, Any]] = []
        query = dict(params or {})
        for _ in range(1000):
            response = self.get(path, query)
            assert response.status_code == 200, response.content
            body = response.json()
            items.extend(body["items"])
            if body["next_cursor"] is None:
                return items
            query["cursor"] = body["next_cursor"]
        raise AssertionError("pagination never ended")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(response: Any) -> dict[str, Any]:
    """The error object of a response, checking the one shape every error has."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["message"]
    return dict(body["error"])


def text_of(response: Any) -> str:
    """The response body as text, with JSON unicode escapes decoded, for "never appears" checks."""
    raw = response.content.decode()
    try:
        return raw + json.dumps(json.loads(raw), ensure_ascii=False)
    except ValueError:
        return raw

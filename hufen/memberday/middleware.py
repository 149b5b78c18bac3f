"""The Member Day check-in endpoint's fast lane: `POST /api/v1/memberday/check-ins` with a bearer token.

On Member Day this one endpoint takes most of the platform's traffic within minutes. Through the
whole stack (the rest of the middleware, URL routing, ninja's auth and body parsing, the response
schema) a check-in spent more CPU in Python than in the database. This middleware, early in the
chain, answers the endpoint's common outcomes itself — the same service
(`checkin.memberday_check_in`), the same token check (`org.services.api_client_actor`), the same
Idempotency-Key rules and digest, the same response body and headers — and hands everything else to
the normal stack untouched: another URL or method, a session instead of a token, a body that is not
plain `{"member_id": <int>, "channel": <str>}`, and every error (bad token, unknown member, not a
Member Day, a key conflict...). A request handed on is processed from scratch by the API, so its
answer, error messages included, is the API's own; the service wrote nothing for it here (every
outcome that writes is answered here).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from hufen.api.idempotency import HEADER, MAX_KEY_LENGTH, REPLAYED_HEADER, caller_scope, request_digest
from hufen.common.errors import FieldError, NotFound, PermissionDenied
from hufen.memberday.checkin import CHANNELS, KeyConflict, RequestKey, memberday_check_in
from hufen.org.services import api_client_actor

PATH = "/api/v1/memberday/check-ins"
MAX_ID = 2**63 - 1
MAX_BODY = 1024
logger = logging.getLogger("hufen.memberday")


class CheckInFastLane:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path_info == PATH:
            answer = _answer(request)
            if answer is not None:
                return answer
        return self.get_response(request)


def _payload(request: HttpRequest) -> dict[str, Any] | None:
    """The body when it is exactly what the schema accepts without coercion; else None (hand on)."""
    if request.content_type != "application/json":
        return None
    length = request.META.get("CONTENT_LENGTH") or ""
    if not length.isdigit() or int(length) > MAX_BODY:
        return None
    try:
        body = json.loads(request.body)
    except ValueError:
        return None
    if not isinstance(body, dict) or not set(body) <= {"member_id", "channel"}:
        return None
    member_id, channel = body.get("member_id"), body.get("channel", "app")
    if type(member_id) is not int or not 1 <= member_id <= MAX_ID:
        return None
    if not isinstance(channel, str) or channel not in CHANNELS:  # a list is not hashable: check the type first
        return None
    return {"member_id": member_id, "channel": channel}


def _answer(request: HttpRequest) -> HttpResponse | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    payload = _payload(request)
    if payload is None:
        return None
    raw_key = request.headers.get(HEADER)
    key = raw_key.strip() if raw_key is not None else None
    if key is not None and (not key or len(key) > MAX_KEY_LENGTH or not key.isprintable()):
        return None
    actor = api_client_actor(token.strip())
    if actor is None:
        return None
    request_key = (
        RequestKey(caller_scope(actor), key, request_digest(request.method or "POST", request.path, payload))
        if key is not None
        else None
    )
    try:
        result = memberday_check_in(
            actor=actor, member_id=payload["member_id"], channel=payload["channel"], request_key=request_key
        )
    except (FieldError, NotFound, PermissionDenied, KeyConflict):
        return None  # nothing was written: the API explains it
    except Exception:  # e.g. the database went away: the API answers it in its own format
        logger.warning("check-in fast lane handed a request on after an error", exc_info=True)
        return None
    from hufen.memberday.api import CheckInOut

    checkin = result.checkin
    out = CheckInOut.of(checkin, checkin.occurrence, result.created).model_dump(mode="json")
    response = HttpResponse(
        json.dumps(out, ensure_ascii=False),
        status=201 if result.created else 200,
        content_type="application/json; charset=utf-8",
    )
    if result.replayed:
        response[REPLAYED_HEADER] = "true"
    response["X-Frame-Options"] = getattr(settings, "X_FRAME_OPTIONS", "DENY")
    return response

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

import io
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
            answer = answer_check_in(
                request.path,
                request.content_type or "",
                request.META.get("CONTENT_LENGTH") or "",
                lambda: request.body,
                request.headers.get("Authorization", ""),
                request.headers.get(HEADER),
            )
            if answer is not None:
                status, body, replayed = answer
                response = HttpResponse(body, status=status, content_type=CONTENT_TYPE)
                if replayed:
                    response[REPLAYED_HEADER] = "true"
                response["X-Frame-Options"] = frame_options()
                return response
        return self.get_response(request)


class CheckInWSGILane:
    """The same lane in front of Django's whole WSGI handler (`hufen.wsgi.application`): a check-in it
    answers costs no HttpRequest, no signals and no middleware. Whatever it hands on reaches Django with
    its body intact; Django's request signals then also close a connection a failed statement broke."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != PATH:
            return self.app(environ, start_response)
        secure = _is_secure(environ)
        if settings.SECURE_SSL_REDIRECT and not secure:
            return self.app(environ, start_response)  # Django's SecurityMiddleware redirects it
        read: list[bytes] = []

        def body() -> bytes:
            if not read:
                length = environ.get("CONTENT_LENGTH") or ""
                read.append(environ["wsgi.input"].read(int(length)) if length.isdigit() else b"")
            return read[0]

        content_type = (environ.get("CONTENT_TYPE") or "").partition(";")[0].strip().lower()
        answer = answer_check_in(
            environ.get("SCRIPT_NAME", "") + PATH,
            content_type,
            environ.get("CONTENT_LENGTH") or "",
            body,
            environ.get("HTTP_AUTHORIZATION", ""),
            environ.get("HTTP_IDEMPOTENCY_KEY"),
        )
        if answer is None:
            if read:
                environ["wsgi.input"] = io.BytesIO(read[0])  # the body, again, for Django to read
            return self.app(environ, start_response)
        status, out, replayed = answer
        headers = [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(out))), *_security_headers(secure)]
        if replayed:
            headers.append((REPLAYED_HEADER, "true"))
        start_response(f"{status} {'Created' if status == 201 else 'OK'}", headers)
        return [out]


CONTENT_TYPE = "application/json; charset=utf-8"
_SECURITY: dict[bool, list[tuple[str, str]]] = {}


def _is_secure(environ: dict[str, Any]) -> bool:
    """`HttpRequest.is_secure` from the environ alone (the proxy's header when one is configured)."""
    header = settings.SECURE_PROXY_SSL_HEADER
    if header:
        name, value = header
        return bool(environ.get(name, "").split(",")[0].strip() == value)
    return bool(environ.get("wsgi.url_scheme") == "https")


def _security_headers(secure: bool) -> list[tuple[str, str]]:
    """The headers Django's SecurityMiddleware and XFrameOptionsMiddleware add to an API answer (HSTS,
    nosniff, referrer and opener policies, frame options): asked of them once per process and kept."""
    if secure not in _SECURITY:
        from django.middleware.clickjacking import XFrameOptionsMiddleware
        from django.middleware.security import SecurityMiddleware

        request = HttpRequest()
        request.method, request.path = "POST", PATH
        request.is_secure = lambda: secure  # type: ignore[method-assign]
        response = HttpResponse(b"", content_type=CONTENT_TYPE)
        response = SecurityMiddleware(lambda r: response).process_response(request, response)
        response = XFrameOptionsMiddleware(lambda r: response).process_response(request, response)
        _SECURITY[secure] = [(k, v) for k, v in response.items() if k.lower() not in ("content-type", "content-length")]
    return _SECURITY[secure]


def frame_options() -> str:
    return str(getattr(settings, "X_FRAME_OPTIONS", "DENY"))


def _payload(content_type: str, length: str, body: Callable[[], bytes]) -> dict[str, Any] | None:
    """The body when it is exactly what the schema accepts without coercion; else None (hand on)."""
    if content_type != "application/json":
        return None
    if not length.isdigit() or int(length) > MAX_BODY:
        return None
    try:
        data = json.loads(body())
    except ValueError:
        return None
    if not isinstance(data, dict) or not set(data) <= {"member_id", "channel"}:
        return None
    member_id, channel = data.get("member_id"), data.get("channel", "app")
    if type(member_id) is not int or not 1 <= member_id <= MAX_ID:
        return None
    if not isinstance(channel, str) or channel not in CHANNELS:  # a list is not hashable: check the type first
        return None
    return {"member_id": member_id, "channel": channel}


def answer_check_in(
    path: str,
    content_type: str,
    length: str,
    body: Callable[[], bytes],
    authorization: str,
    raw_key: str | None,
) -> tuple[int, bytes, bool] | None:
    """(status, JSON body, replayed) for a check-in the lane answers; None to hand it on (nothing written)."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    payload = _payload(content_type, length, body)
    if payload is None:
        return None
    key = raw_key.strip() if raw_key is not None else None
    if key is not None and (not key or len(key) > MAX_KEY_LENGTH or not key.isprintable()):
        return None
    actor = api_client_actor(token.strip())
    if actor is None:
        return None
    request_key = (
        RequestKey(caller_scope(actor), key, request_digest("POST", path, payload)) if key is not None else None
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
    return 201 if result.created else 200, json.dumps(out, ensure_ascii=False).encode(), result.replayed

"""Sending text messages through a pluggable gateway.

`HUFEN_SMS_BACKEND` names a class (dotted path) with `send(sms) -> None` that raises `SmsError` when
the gateway refuses. The default, `OutboxBackend`, writes each message to the portal's outbox table
(`portal.SmsMessage`, listed for HQ at /console/sms/): the demo's stand-in for a real gateway such as
Aliyun or Tencent Cloud SMS, which a deployment plugs in with its own class.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Protocol

from django.apps import apps
from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Sms:
    phone: str  # E.164
    body: str
    purpose: str = "login_code"


class SmsError(Exception):
    """The gateway did not accept the message."""


class SmsBackend(Protocol):
    def send(self, sms: Sms) -> None: ...


class OutboxBackend:
    """Delivers into the outbox table, inside the caller's transaction (so a rolled-back sign-in
    request leaves no message behind)."""

    def send(self, sms: Sms) -> None:
        # Looked up by label: core code must not import an interface app's models at import time.
        outbox = apps.get_model("portal", "SmsMessage")
        outbox.objects.create(
            phone=sms.phone, body=sms.body, purpose=sms.purpose, backend=type(self).__name__, status="sent"
        )


@cache
def _backend(path: str) -> SmsBackend:
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        raise SmsError(f"HUFEN_SMS_BACKEND {path!r} cannot be imported: {exc}") from exc
    backend: SmsBackend = backend_class()
    return backend


def sms_backend() -> SmsBackend:
    return _backend(settings.HUFEN_SMS_BACKEND)


def sms_send(sms: Sms) -> None:
    if not sms.phone.startswith("+") or not sms.body:
        raise SmsError("an SMS needs an E.164 phone and a body")
    sms_backend().send(sms)

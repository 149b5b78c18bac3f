"""HQ's view of the SMS outbox, mounted at /console/sms/ (a console page owned by the portal app)."""

from __future__ import annotations

from django.urls import path

from hufen.portal.views import outbox

app_name = "portal_console"

urlpatterns = [
    path("", outbox.sms_outbox, name="sms_outbox"),
]

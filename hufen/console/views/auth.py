from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from hufen.common.models import AuditEvent
from hufen.org.selectors import actor_for_user

# Failed logins per username, and per address (higher: a dealership's staff share one office
# address), before the form refuses for a while, so passwords cannot be guessed at request speed.
MAX_FAILURES = 10
MAX_FAILURES_PER_ADDRESS = 50
LOCKOUT_SECONDS = 15 * 60


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _failure_limits(request: HttpRequest) -> dict[str, int]:
    username = str(request.POST.get("username", "")).strip().lower()[:150]
    return {
        f"console-login-fail:user:{username}": MAX_FAILURES,
        f"console-login-fail:ip:{_client_ip(request)}": MAX_FAILURES_PER_ADDRESS,
    }


def _record(request: HttpRequest, action: str, username: str, user_id: int | None = None, label: str = "") -> None:
    AuditEvent.objects.create(
        actor_kind="staff" if user_id else "anonymous",
        actor_label=(label or username)[:150],
        actor_user_id=user_id,
        action=action,
        object_type="user",
        object_id=str(user_id or username)[:64],
        ip_address=_client_ip(request),
    )


class ConsoleLoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if any((cache.get(key) or 0) >= limit for key, limit in _failure_limits(request).items()):
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, _("Too many failed attempts. Try again in 15 minutes."))
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        user = form.get_user()
        actor = actor_for_user(user)
        _record(self.request, "auth.login", user.get_username(), user.pk, actor.label if actor else "")
        cache.delete_many(list(_failure_limits(self.request)))
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        for key in _failure_limits(self.request):
            cache.add(key, 0, LOCKOUT_SECONDS)
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, LOCKOUT_SECONDS)
        _record(self.request, "auth.login_failed", str(self.request.POST.get("username", ""))[:150])
        return super().form_invalid(form)


class ConsoleLogoutView(auth_views.LogoutView):
    next_page = "console:login"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            _record(request, "auth.logout", user.get_username(), user.pk)
        return super().post(request, *args, **kwargs)

from __future__ import annotations

from django.contrib.auth import views as auth_views


class ConsoleLoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True


class ConsoleLogoutView(auth_views.LogoutView):
    next_page = "console:login"

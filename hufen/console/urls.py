from __future__ import annotations

from django.urls import path

from hufen.console.views import dealers, home, persons
from hufen.console.views.auth import ConsoleLoginView, ConsoleLogoutView

app_name = "console"

urlpatterns = [
    path("", home.home, name="home"),
    path("login/", ConsoleLoginView.as_view(), name="login"),
    path("logout/", ConsoleLogoutView.as_view(), name="logout"),
    path("persons/", persons.person_list, name="person_list"),
    path("persons/export.csv", persons.person_export, name="person_export"),
    path("persons/<int:person_id>/", persons.person_detail, name="person_detail"),
    path("persons/<int:person_id>/reveal/<str:field>/", persons.person_reveal, name="person_reveal"),
    path("dealers/", dealers.dealer_list_view, name="dealer_list"),
    path("dealers/<str:code>/", dealers.dealer_detail, name="dealer_detail"),
]

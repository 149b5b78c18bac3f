from __future__ import annotations

from django.urls import path

from hufen.console.views import api_clients, dealers, home, merge, persons
from hufen.console.views.auth import ConsoleLoginView, ConsoleLogoutView

app_name = "console"

urlpatterns = [
    path("", home.home, name="home"),
    path("login/", ConsoleLoginView.as_view(), name="login"),
    path("logout/", ConsoleLogoutView.as_view(), name="logout"),
    path("persons/", persons.person_list, name="person_list"),
    path("persons/export.csv", persons.person_export, name="person_export"),
    # merge.person_detail redirects an absorbed id to the live person, else shows persons.person_detail
    path("persons/<int:person_id>/", merge.person_detail, name="person_detail"),
    path("persons/<int:person_id>/merge/", merge.merge_start, name="merge_start"),
    path("persons/<int:person_id>/merge/<int:other_id>/", merge.merge_confirm, name="merge_confirm"),
    path("persons/<int:person_id>/merges/", merge.merge_history, name="person_merges"),
    path("merges/<int:merge_id>/unmerge/", merge.merge_unmerge, name="merge_unmerge"),
    path("persons/<int:person_id>/reveal/<str:field>/", persons.person_reveal, name="person_reveal"),
    path("dealers/", dealers.dealer_list_view, name="dealer_list"),
    path("dealers/<str:code>/", dealers.dealer_detail, name="dealer_detail"),
    path("api-clients/", api_clients.api_client_list_view, name="api_client_list"),
    path("api-clients/new/", api_clients.api_client_create_view, name="api_client_create"),
    path(
        "api-clients/<int:client_id>/permissions/",
        api_clients.api_client_permissions_view,
        name="api_client_permissions",
    ),
    path("api-clients/<int:client_id>/revoke/", api_clients.api_client_revoke_view, name="api_client_revoke"),
]

from django.urls import path

from hufen.analytics import views
from hufen.tracking.views import dead_letters_page

app_name = "analytics"

urlpatterns = [
    path("", views.funnel_page, name="funnel"),
    path("double/", views.double_funnel_page, name="double"),
    path("retention/", views.retention_page, name="retention"),
    path("active/", views.active_page, name="active"),
    path("dead-letters/", dead_letters_page, name="dead_letters"),
]

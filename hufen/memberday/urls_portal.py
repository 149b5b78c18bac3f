from django.urls import path

from hufen.memberday import views_portal

app_name = "memberday_portal"

urlpatterns = [
    path("", views_portal.memberday_page, name="page"),
    path("check-in/", views_portal.memberday_check_in_view, name="check_in"),
    path("share/", views_portal.memberday_share_view, name="share"),
    path("sessions/<int:session_id>/sign-up/", views_portal.memberday_sign_up_view, name="sign_up"),
]

from django.urls import path

from hufen.memberday import views

app_name = "memberday"

urlpatterns = [
    path("", views.memberday_list, name="list"),
    path("<int:occurrence_id>/", views.occurrence_detail, name="detail"),
    path("<int:occurrence_id>/sessions/<int:session_id>/", views.session_detail, name="session"),
    path("<int:occurrence_id>/live/", views.live_page, name="live"),
    path("<int:occurrence_id>/report/", views.report_page, name="report"),
]

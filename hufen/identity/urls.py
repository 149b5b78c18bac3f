from django.urls import path

from hufen.identity import views

app_name = "identity"

urlpatterns = [
    path("review/", views.review_list, name="review"),
    path("review/<int:pair_id>/<str:action>/", views.review_decide, name="review_decide"),
    path("persons/<int:person_id>/lineage/", views.person_lineage_section, name="person_lineage"),
]

from django.urls import path

from hufen.partners.views import console, console_coupons

app_name = "partners_console"

urlpatterns = [
    path("", console.value_view, name="value"),
    path("applications/", console.applications_view, name="applications"),
    path("applications/<int:merchant_id>/review/", console.review_view, name="review"),
    path("merchants/<int:merchant_id>/", console.merchant_view, name="merchant"),
    path("disputes/", console.disputes_view, name="disputes"),
    path("segments/", console_coupons.segments_view, name="segments"),
]

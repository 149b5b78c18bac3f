from django.urls import path

from hufen.partners.views import portal

app_name = "perks"

urlpatterns = [
    path("", portal.perks, name="list"),
    path("mine/", portal.my_perks, name="mine"),
    path("mine/<int:redemption_id>/dispute/", portal.dispute, name="dispute"),
    path("apply/", portal.apply, name="apply"),
    path("coupons/<int:batch_id>/exchange/", portal.exchange, name="exchange"),
]

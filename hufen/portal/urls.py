from __future__ import annotations

from django.urls import path

from hufen.portal.views import auth, benefits, card, join, points

app_name = "portal"

urlpatterns = [
    path("", card.card, name="card"),
    path("card/key/", card.card_key, name="card_key"),
    path("login/", auth.login, name="login"),
    path("logout/", auth.logout, name="logout"),
    path("join/", join.join, name="join"),
    path("points/", points.points, name="points"),
    path("benefits/", benefits.benefit_list_view, name="benefits"),
    path("benefits/<int:item_id>/redeem/", benefits.benefit_redeem_view, name="benefit_redeem"),
    path("redemptions/", benefits.redemption_list_view, name="redemptions"),
    path("redemptions/<int:redemption_id>/cancel/", benefits.redemption_cancel_view, name="redemption_cancel"),
]

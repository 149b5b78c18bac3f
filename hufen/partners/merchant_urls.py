from django.urls import path

from hufen.partners.views import merchant

app_name = "merchant"

urlpatterns = [
    path("", merchant.home, name="home"),
    path("login/", merchant.MerchantLoginView.as_view(), name="login"),
    path("logout/", merchant.MerchantLogoutView.as_view(), name="logout"),
    path("verify/", merchant.verify, name="verify"),
    path("redeem/", merchant.redeem, name="redeem"),
    path("redemptions/", merchant.redemptions, name="redemptions"),
    path("redemptions/<int:redemption_id>/", merchant.receipt, name="receipt"),
]

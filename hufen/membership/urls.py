"""Console pages of membership, under /console/membership/."""

from django.urls import path

from hufen.membership import views, views_catalogue

app_name = "membership"

urlpatterns = [
    path("", views.member_list, name="member_list"),
    path("members/<int:member_id>/", views.member_detail, name="member_detail"),
    path("rules/", views_catalogue.rule_list, name="rule_list"),
    path("rules/new/", views_catalogue.rule_edit, name="rule_new"),
    path("rules/<int:rule_id>/", views_catalogue.rule_edit, name="rule_edit"),
    path("tiers/", views_catalogue.tier_list, name="tier_list"),
    path("tiers/<int:tier_id>/", views_catalogue.tier_edit, name="tier_edit"),
    path("benefits/", views_catalogue.benefit_list, name="benefit_list"),
    path("benefits/new/", views_catalogue.benefit_edit, name="benefit_new"),
    path("benefits/<int:item_id>/", views_catalogue.benefit_edit, name="benefit_edit"),
]

from django.apps import AppConfig


class MembershipConfig(AppConfig):
    name = "hufen.membership"
    label = "membership"

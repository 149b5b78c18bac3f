from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "hufen.identity"
    label = "identity"

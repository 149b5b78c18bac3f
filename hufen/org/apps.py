from django.apps import AppConfig


class OrgConfig(AppConfig):
    name = "hufen.org"
    label = "org"
    verbose_name = "Organisation"

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "hufen.portal"
    label = "portal"

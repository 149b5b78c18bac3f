from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "hufen.analytics"
    label = "analytics"

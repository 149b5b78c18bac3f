from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "hufen.tracking"
    label = "tracking"

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "hufen.demo"
    label = "demo"
    verbose_name = "Demo data"

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "hufen.console"
    label = "console"
    verbose_name = "Console"

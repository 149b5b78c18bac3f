from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "hufen.common"
    label = "common"
    verbose_name = "Common"

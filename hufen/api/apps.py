from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "hufen.api"
    label = "api"
    verbose_name = "REST API"

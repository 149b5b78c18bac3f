from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "hufen.partners"
    label = "partners"

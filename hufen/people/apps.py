from django.apps import AppConfig


class PeopleConfig(AppConfig):
    name = "hufen.people"
    label = "people"
    verbose_name = "People and vehicles"

from django.apps import AppConfig


class CitizensConfig(AppConfig):
    name = "tocsin.citizens"
    label = "citizens"
    verbose_name = "Citizens"

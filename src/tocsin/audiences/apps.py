from django.apps import AppConfig


class AudiencesConfig(AppConfig):
    name = "tocsin.audiences"
    label = "audiences"
    verbose_name = "Audiences"

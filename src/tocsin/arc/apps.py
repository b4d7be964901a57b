from django.apps import AppConfig


class ArcConfig(AppConfig):
    name = "tocsin.arc"
    label = "arc"
    verbose_name = "Alarm receiving centre"

from django.apps import AppConfig


class AlarmsConfig(AppConfig):
    name = "tocsin.alarms"
    label = "alarms"
    verbose_name = "Registry of alarm systems"

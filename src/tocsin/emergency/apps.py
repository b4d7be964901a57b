from django.apps import AppConfig


class EmergencyConfig(AppConfig):
    name = "tocsin.emergency"
    label = "emergency"
    verbose_name = "Emergency centre desk (101/112)"

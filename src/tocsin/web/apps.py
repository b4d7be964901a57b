from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "tocsin.web"
    label = "web"
    verbose_name = "Portal"

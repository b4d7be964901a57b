from django.apps import AppConfig


class OrganisationsConfig(AppConfig):
    name = "tocsin.organisations"
    label = "organisations"
    verbose_name = "Organisations"

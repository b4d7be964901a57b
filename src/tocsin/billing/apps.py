from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "tocsin.billing"
    label = "billing"
    verbose_name = "Billing"

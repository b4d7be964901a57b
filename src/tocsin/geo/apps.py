from django.apps import AppConfig


class GeoConfig(AppConfig):
    name = "tocsin.geo"
    label = "geo"
    verbose_name = "Geo"

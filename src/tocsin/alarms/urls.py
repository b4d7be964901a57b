"""The registry's pages for organisations (centrals, registry administration, emergency centre): /registry/…"""

from django.urls import path

app_name = "alarms"

urlpatterns: list = []

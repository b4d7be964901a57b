"""The public portal of alarm-system users (KB-7-USER): /alarm/…"""

from django.urls import path

app_name = "alarm_user"

urlpatterns: list = []

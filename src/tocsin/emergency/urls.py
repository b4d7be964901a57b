"""The emergency centre's desk (101/112, issue 9): /desk/…"""

from django.urls import path

from tocsin.emergency import views

app_name = "emergency"

urlpatterns: list = [
    path("", views.queue, name="queue"),
    path("events", views.events, name="events"),
    path("notifications/<int:notification_id>/", views.notification, name="notification"),
    path("notifications/<int:notification_id>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("notifications/<int:notification_id>/dispatch/", views.dispatch, name="dispatch"),
    path("notifications/<int:notification_id>/outcome/", views.outcome, name="outcome"),
    path("notifications/<int:notification_id>/sketch/", views.sketch, name="sketch"),
    path("statistics/", views.statistics, name="statistics"),
]

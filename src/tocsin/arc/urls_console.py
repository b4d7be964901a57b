"""The alarm central's operator console (issue 9): /arc/console/ and /arc/cases/…"""

from django.urls import path

from tocsin.arc import views_console as views

app_name = "console"

urlpatterns = [
    path("console/", views.queue, name="queue"),
    path("console/events", views.queue_events, name="events"),
    path("cases/<int:case_id>/", views.case, name="case"),
    path("cases/<int:case_id>/preview/", views.case_preview, name="preview"),
    path("cases/<int:case_id>/version", views.case_version, name="version"),
    path("cases/<int:case_id>/claim/", views.case_claim, name="claim"),
    path("cases/<int:case_id>/release/", views.case_release, name="release"),
    path("cases/<int:case_id>/steps/<str:step>/", views.case_step, name="step"),
    path("cases/<int:case_id>/calls/", views.case_call, name="call"),
    path("cases/<int:case_id>/verify/", views.case_verify, name="verify"),
    path("cases/<int:case_id>/remote/", views.case_remote, name="remote"),
    path("cases/<int:case_id>/notify/", views.case_notify, name="notify"),
    path("cases/<int:case_id>/close/", views.case_close, name="close"),
]

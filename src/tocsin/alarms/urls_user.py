"""The public portal of alarm-system users (KB-7-USER): /alarm/…"""

from django.urls import path

from tocsin.alarms import views_user as views

app_name = "alarm_user"

urlpatterns = [
    path("", views.start, name="start"),
    path("sign-in/", views.sign_in, name="sign_in"),
    path("sign-in/link/<str:link>/", views.sign_in_link, name="sign_in_link"),
    path("sign-out/", views.sign_out, name="sign_out"),
    path("systems/", views.systems, name="systems"),
    path("systems/new/", views.system_new, name="system_new"),
    path("systems/<str:reference>/", views.system, name="system"),
    path("systems/<str:reference>/change/", views.system_change, name="system_change"),
    path("systems/<str:reference>/confirm/", views.system_confirm, name="system_confirm"),
    path("systems/<str:reference>/deregister/", views.system_deregister, name="system_deregister"),
    path("systems/<str:reference>/maintenance/", views.maintenance_record, name="maintenance_record"),
    path("systems/<str:reference>/consents/", views.consent_add, name="consent_add"),
    path(
        "systems/<str:reference>/consents/<int:consent_id>/withdraw/",
        views.consent_withdraw,
        name="consent_withdraw",
    ),
    path(
        "systems/<str:reference>/consents/<int:consent_id>/document/",
        views.consent_document,
        name="consent_document",
    ),
]

"""The registry's pages for organisations (centrals, registry administration, emergency centre): /registry/…"""

from django.urls import path

from tocsin.alarms import views

app_name = "alarms"

urlpatterns: list = [
    # alarm centrals and internal alarm services (KB-7-ARC)
    path("systems/", views.systems, name="systems"),
    path("systems/new/", views.system_new, name="system_new"),
    path("systems/<str:reference>/", views.system_detail, name="system"),
    path("systems/<str:reference>/edit/", views.system_edit, name="system_edit"),
    path("systems/<str:reference>/deregister/", views.system_deregister, name="system_deregister"),
    path("systems/<str:reference>/release/", views.system_release, name="system_release"),
    path("systems/<str:reference>/sketch/", views.system_sketch, name="system_sketch"),
    path("systems/<str:reference>/maintenance/", views.system_maintenance, name="system_maintenance"),
    path("systems/<str:reference>/consents/", views.system_consent_add, name="system_consent_add"),
    path(
        "systems/<str:reference>/consents/<int:consent_id>/document/",
        views.system_consent_document,
        name="system_consent_document",
    ),
    path(
        "systems/<str:reference>/consents/<int:consent_id>/withdraw/",
        views.system_consent_withdraw,
        name="system_consent_withdraw",
    ),
    path("systems/<str:reference>/remote/", views.system_remote, name="system_remote"),
    path("import/", views.import_csv, name="import"),
    path("import/template.csv", views.import_template, name="import_template"),
    path("import/report.csv", views.import_report, name="import_report"),
    # the registry administration
    path("admin/", views.admin, name="admin"),
    path("admin/late/", views.admin_late, name="admin_late"),
    path("admin/stats/", views.admin_stats, name="admin_stats"),
    path("admin/numbers/", views.admin_numbers, name="admin_numbers"),
    path("admin/numbers/formats/", views.admin_formats, name="admin_formats"),
    path("admin/numbers/assign/", views.admin_arn_assign, name="admin_arn_assign"),
    # the emergency centre, the police, the registry (KB-21 sketches through an audited lookup)
    path("lookup/", views.lookup, name="lookup"),
    path("lookup/sketch/<str:token>/", views.lookup_sketch, name="lookup_sketch"),
]

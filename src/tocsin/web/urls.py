from django.urls import path, re_path

from tocsin.alerts import views as alert_views
from tocsin.audiences import views as audiences_views
from tocsin.billing import views as billing_views
from tocsin.citizens import views as citizen_views
from tocsin.delivery import views as delivery_views
from tocsin.web import views

app_name = "web"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", views.sign_in, name="login"),
    path("login/verify/", views.sign_in_verify, name="login_verify"),
    path("login/enrol/", views.sign_in_enrol, name="login_enrol"),
    path("logout/", views.sign_out, name="logout"),
    path("invitation/<str:token>/", views.invitation, name="invitation"),
    path("notices/<int:notice_id>/read/", views.notice_read, name="notice_read"),
    path("members/", views.members, name="members"),
    path("members/<int:user_id>/", views.member_detail, name="member_detail"),
    path("account/tokens/", views.tokens, name="tokens"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("agreement/", views.agreement, name="agreement"),
    path("directives/", views.directives, name="directives"),
    path("audit/", views.audit, name="audit"),
    path("sends/", delivery_views.sends, name="sends"),
    path("sends/<int:request_id>/", delivery_views.send_detail, name="send_detail"),
    path("sends/<int:request_id>/events", delivery_views.send_events, name="send_events"),
    path("gateways/", delivery_views.gateways, name="gateways"),
    path("registrations/", citizen_views.coverage_page, name="registrations"),
    path("alerts/", alert_views.alert_list, name="alerts"),
    path("alerts/outlines.geojson", alert_views.outlines, name="alert_outlines"),
    path("alerts/new/", alert_views.alert_compose, name="alert_new"),
    path("alerts/<int:alert_id>/", alert_views.alert_detail, name="alert_detail"),
    path("alerts/<int:alert_id>/events", alert_views.alert_events, name="alert_events"),
    path("alerts/<int:alert_id>/edit/", alert_views.alert_compose, name="alert_edit"),
    path("alerts/<int:alert_id>/follow-up/", alert_views.alert_follow_up, name="alert_follow_up"),
    path("alerts/<int:alert_id>/approve/", alert_views.alert_approve, name="alert_approve"),
    path("alerts/<int:alert_id>/template/", alert_views.alert_save_template, name="alert_save_template"),
    path("alerts/<int:alert_id>/cap.xml", alert_views.alert_cap, name="alert_cap"),
    path("alerts/<int:alert_id>/report.csv", alert_views.alert_report, {"kind": "csv"}, name="alert_report_csv"),
    path("alerts/<int:alert_id>/report.pdf", alert_views.alert_report, {"kind": "pdf"}, name="alert_report_pdf"),
    path("cc/organisations/", views.cc_organisations, name="cc_organisations"),
    path("cc/organisations/<int:organisation_id>/", views.cc_organisation, name="cc_organisation"),
    path("cc/<str:what>/", views.cc_publish, name="cc_publish"),
    # audiences: contact lists (BA-7-LISTS) and BIN groups (BA-7-BIN)
    path("lists/", audiences_views.lists, name="lists"),
    path("lists/<int:list_id>/", audiences_views.list_detail, name="list_detail"),
    path("lists/<int:list_id>/export/", audiences_views.list_export, name="list_export"),
    path("contacts/<int:contact_id>/", audiences_views.contact_detail, name="contact_detail"),
    path("bin-groups/", audiences_views.bin_groups, name="bin_groups"),
    path("bin-groups/<int:group_id>/", audiences_views.bin_group_detail, name="bin_group_detail"),
    # billing (BA-8): an entity's balance, orders and statements; the crisis centre's overview
    path("billing/", billing_views.billing, name="billing"),
    path("billing/threshold/", billing_views.billing_threshold, name="billing_threshold"),
    path("billing/orders/", billing_views.billing_order, name="billing_order"),
    path("billing/orders/<int:order_id>.pdf", billing_views.billing_order_pdf, name="billing_order_pdf"),
    path("billing/orders/<int:order_id>/decide/", billing_views.billing_order_decide, name="billing_order_decide"),
    path("billing/statements/", billing_views.billing_statement_pick, name="billing_statement_pick"),
    re_path(
        r"^billing/statements/(?P<month>\d{4}-\d{2})\.pdf$",
        billing_views.billing_statement,
        {"kind": "pdf"},
        name="billing_statement_pdf",
    ),
    re_path(
        r"^billing/statements/(?P<month>\d{4}-\d{2})\.csv$",
        billing_views.billing_statement,
        {"kind": "csv"},
        name="billing_statement_csv",
    ),
    path("billing/overview/", billing_views.billing_overview, name="billing_overview"),
    path("billing/reverse/", billing_views.billing_reverse, name="billing_reverse"),
]

from django.urls import path

from tocsin.citizens import views

app_name = "citizens"

urlpatterns = [
    path("", views.start, name="start"),
    path("sign-up/", views.sign_up, name="sign_up"),
    path("verify/", views.verify, name="verify"),
    path("sign-in/", views.sign_in, name="sign_in"),
    path("sign-in/link/<str:token>/", views.sign_in_link, name="sign_in_link"),
    path("me/", views.me, name="me"),
    path("me/pause/", views.me_pause, name="me_pause"),
    path("me/points/", views.me_points, name="me_points"),
    path("me/addresses/", views.me_addresses, name="me_addresses"),
    path("me/export.json", views.me_export, name="me_export"),
    path("me/delete/", views.me_delete, name="me_delete"),
    path("addresses", views.addresses, name="addresses"),
    path("join/<str:nis_code>/", views.join, name="join"),
    path("join/<str:nis_code>/qr.svg", views.join_qr, name="join_qr"),
    path("bin/", views.bin_code, name="bin_code"),
    path("bin/<str:code>/", views.bin_join, name="bin_join"),
]

"""The registry administration's pages for the alarm centrals' work (issue 9): /registry/admin/arc/…"""

from django.urls import path
from django.views.generic import RedirectView

from tocsin.arc import views_registry as views

app_name = "arc_registry"

urlpatterns: list = [
    path("", RedirectView.as_view(pattern_name="arc_registry:methods", permanent=False)),
    path("methods/", views.methods, name="methods"),
    path("methods/<str:code>/", views.method, name="method"),
    path("numbers/", views.numbers, name="numbers"),
    path("numbers/<int:central_id>/withdraw/", views.number_withdraw, name="number_withdraw"),
    path("exception/", views.exception, name="exception"),
]

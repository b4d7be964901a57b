"""The receiver's pages for alarm centrals (issue 8): /arc/…"""

from django.urls import path
from django.views.generic import RedirectView

from tocsin.arc import views

app_name = "arc"

urlpatterns: list = [
    path("", RedirectView.as_view(pattern_name="arc:accounts", permanent=False)),
    path("accounts/", views.accounts, name="accounts"),
    path("accounts/new/", views.account_new, name="account_new"),
    path("accounts/<str:account>/", views.account, name="account"),
    path("accounts/<str:account>/zones/", views.account_zone, name="account_zone"),
    path("discovered/", views.discovered, name="discovered"),
]

from django.urls import include, path

from tocsin.api.main import api

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api.urls),
    path("", include("tocsin.web.urls")),
]

handler404 = "tocsin.web.errors.not_found"
handler403 = "tocsin.web.errors.forbidden"
handler500 = "tocsin.web.errors.server_error"

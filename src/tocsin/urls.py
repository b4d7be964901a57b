from django.urls import include, path
from django.views.generic import RedirectView

from tocsin.alerts import feeds
from tocsin.alerts import views as alert_views
from tocsin.api.main import api

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api.urls),
    path("citizen/", include("tocsin.citizens.urls")),
    path("alarm/", include("tocsin.alarms.urls_user")),
    path("registry/admin/arc/", include("tocsin.arc.urls_registry")),
    path("registry/", include("tocsin.alarms.urls")),
    path("arc/", include("tocsin.arc.urls")),
    path("arc/", include("tocsin.arc.urls_console")),
    path("desk/", include("tocsin.emergency.urls")),
    path("ack/<str:token>", alert_views.alert_ack, name="alert_ack"),  # an alert e-mail's link (public)
    path("feeds/cap.atom", feeds.cap_feed, name="alert_feed"),
    path("feeds/cap/<str:identifier>.xml", feeds.cap_document, name="alert_feed_cap"),
    # The BIN invitation link handed out by entities (docs/audiences.md).
    path("bin/join/<str:code>/", RedirectView.as_view(pattern_name="citizens:bin_join", permanent=False)),
    path("", include("tocsin.web.urls")),
]

handler404 = "tocsin.web.errors.not_found"
handler403 = "tocsin.web.errors.forbidden"
handler500 = "tocsin.web.errors.server_error"

"""The public Atom feed of CAP alerts (digital signage, media, apps): launched, actual, public alerts only.

No account needed and nothing personal in it: an alert's CAP document holds its texts and areas, never a
recipient (BA-7.4). Exercises, tests and drafts never appear.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse

from tocsin.alerts.domain import LANGUAGES, State
from tocsin.alerts.models import Alert

ATOM = "http://www.w3.org/2005/Atom"
FEED_SIZE = 50


def _public() -> QuerySet[Alert]:
    return Alert.objects.filter(status="Actual", state__in=[State.LAUNCHED.value, State.CANCELLED.value]).exclude(
        cap_xml=""
    )


def _absolute(path: str) -> str:
    return settings.BASE_URL.rstrip("/") + path


def _when(alert: Alert) -> str:
    return (alert.launched_at or alert.created_at).isoformat()


def cap_feed(request: HttpRequest) -> HttpResponse:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    alerts = list(_public().select_related("organisation").order_by("-launched_at")[:FEED_SIZE])

    def sub(parent: ET.Element, tag: str, text: str = "", **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text:
            element.text = text
        return element

    sub(feed, "id", _absolute(reverse("alert_feed")))
    sub(feed, "title", "Tocsin — CAP alerts")
    sub(feed, "updated", (_when(alerts[0]) if alerts else "1970-01-01T00:00:00+00:00"))
    sub(feed, "link", rel="self", href=_absolute(reverse("alert_feed")))
    for alert in alerts:
        entry = sub(feed, "entry")
        sub(entry, "id", f"urn:tocsin:cap:{alert.identifier}")
        languages = sorted(alert.texts, key=LANGUAGES.index)
        headline = alert.texts[languages[0]].get("headline", alert.event) if languages else alert.event
        sub(entry, "title", f"{alert.msg_type}: {headline}" if alert.msg_type != "Alert" else headline)
        sub(entry, "updated", _when(alert))
        author = sub(entry, "author")
        sub(author, "name", alert.organisation.name)
        sub(entry, "link", rel="alternate", type="application/cap+xml",
            href=_absolute(reverse("alert_feed_cap", args=[alert.identifier])))  # fmt: skip
        sub(entry, "summary", f"{alert.event} — {alert.severity}, {alert.urgency}, {alert.certainty}")
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return HttpResponse(body, content_type="application/atom+xml; charset=utf-8")


def cap_document(request: HttpRequest, identifier: str) -> HttpResponse:
    alert = _public().filter(identifier=identifier).first()
    if alert is None:
        raise Http404
    return HttpResponse(alert.cap_xml, content_type="application/cap+xml; charset=utf-8")

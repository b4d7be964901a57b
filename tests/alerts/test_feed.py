"""The public Atom feed of CAP alerts: launched actual alerts only, each linking to its schema-valid CAP."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.test import Client

from tests.alerts.test_launch import SCHEMA, TEXTS, audience, operator  # noqa: F401 — fixtures
from tocsin.alerts import services
from tocsin.audiences import services as audiences

pytestmark = pytest.mark.django_db(transaction=True)
ATOM = "{http://www.w3.org/2005/Atom}"


def test_feed_lists_launched_actual_alerts_with_their_cap_and_nothing_personal(operator, audience):  # noqa: F811
    actual = services.alert_create(actor=operator, event="Overstroming", channels=["sms"], texts=TEXTS,
                                   targets={"areas": [audience["area"]]})  # fmt: skip
    services.alert_launch(actor=operator, alert_id=actual.pk, confirmation="3")
    services.alert_create(actor=operator, event="Nog een ontwerp", channels=["sms"], texts=TEXTS,
                          targets={"areas": [audience["area"]]})  # fmt: skip
    test_list = audiences.contact_list_create(actor=operator, name="Test", is_test=True)
    audiences.contact_create(actor=operator, list_id=test_list.pk, name="T", mobile="0470100066")
    exercise = services.alert_create(actor=operator, event="Oefening", status="Exercise", channels=["sms"],
                                     texts=TEXTS, targets={"lists": [test_list.pk]})  # fmt: skip
    services.alert_launch(actor=operator, alert_id=exercise.pk, confirmation="1")

    client = Client()  # no account
    feed = client.get("/feeds/cap.atom")
    assert feed.status_code == 200 and feed["Content-Type"].startswith("application/atom+xml")
    entries = ET.fromstring(feed.content).findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}title").text for e in entries] == ["Hoogwater"]  # neither the draft nor the exercise
    href = entries[0].find(f"{ATOM}link").get("href")
    document = client.get(href[href.index("/feeds/") :])
    SCHEMA.validate(document.content.decode())
    assert b"+3247" not in feed.content + document.content  # no recipient anywhere
    assert client.get("/feeds/cap/BE-TOCSIN-0-0.xml").status_code == 404

"""Alerts through the API: the same rules, 422 naming the field, the CAP document (BA-2)."""

from __future__ import annotations

import pytest

from tests.alerts.test_launch import TEXTS, audience, operator  # noqa: F401 — fixtures
from tocsin.alerts.models import Alert
from tocsin.protocols import cap

pytestmark = pytest.mark.django_db(transaction=True)


def test_ba_2_draft_preview_launch_through_the_api(operator, audience, api_client):  # noqa: F811
    client = api_client(operator)
    body = {"event": "Overstroming", "channels": ["sms"], "texts": TEXTS, "targets": {"areas": [audience["area"]]}}
    created = client.post("/api/v1/alerts", body, "application/json")
    assert created.status_code == 201, created.content
    alert_id = created.json()["id"]
    preview = client.get(f"/api/v1/alerts/{alert_id}/preview").json()
    assert preview["total"] == 3
    refused = client.post(f"/api/v1/alerts/{alert_id}/launch", {"confirmation": "2"}, "application/json")
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "confirmation"]
    launched = client.post(f"/api/v1/alerts/{alert_id}/launch", {"confirmation": "3"}, "application/json")
    assert launched.status_code == 200 and launched.json()["state"] == "launched"
    document = client.get(f"/api/v1/alerts/{alert_id}/cap.xml")
    assert document["Content-Type"].startswith("application/cap+xml")
    assert cap.parse(document.content).identifier == launched.json()["identifier"]
    again = client.patch(f"/api/v1/alerts/{alert_id}", {"event": "Brand"}, "application/json")
    assert again.status_code == 422  # launched: only an Update can change it


def test_bad_alert_is_refused_naming_the_field_and_writes_nothing(operator, audience, api_client):  # noqa: F811
    client = api_client(operator)
    body = {"event": "Brand", "severity": "Apocalyptic", "channels": ["sms"], "texts": TEXTS,
            "targets": {"lists": [audience["list"]]}}  # fmt: skip
    response = client.post("/api/v1/alerts", body, "application/json")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "severity"]
    assert not Alert.objects.exists()

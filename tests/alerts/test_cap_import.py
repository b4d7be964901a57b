"""A CAP 1.2 warning from elsewhere becomes a draft: read safely, checked like any other (BA-2)."""

from __future__ import annotations

import pytest

from tests.alerts.test_launch import audience, operator  # noqa: F401 — fixtures
from tests.protocols.test_cap import BILLION_LAUGHS, flood_alert
from tocsin.alerts.models import Alert
from tocsin.protocols import cap

pytestmark = pytest.mark.django_db(transaction=True)


def test_ba_2_cap_warning_imported_as_a_draft_and_previewed(operator, audience, api_client):  # noqa: F811
    warning = flood_alert()
    warning.infos[0].areas[0].geocodes = [("NIS", "41081")]
    warning.infos[1].areas[0].geocodes = [("NIS", "41081")]
    client = api_client(operator)
    response = client.generic("POST", "/api/v1/alert-imports", cap.to_xml(warning), content_type="application/cap+xml")
    assert response.status_code == 201, response.content
    draft = response.json()
    assert draft["state"] == "draft" and draft["event"] == "Overstroming" and set(draft["texts"]) == {"nl", "fr"}
    assert draft["texts"]["nl"]["sms"] == "Hoogwater in de Muide: Blijf binnen & boven."
    kinds = [a["type"] for a in draft["targets"]["areas"]]
    assert kinds == ["polygon", "circle", "municipalities"]
    preview = client.get(f"/api/v1/alerts/{draft['id']}/preview").json()
    assert preview["total"] == 4  # the three registered in Zottegem (41081): three phones and one e-mail address


@pytest.mark.parametrize("document", [BILLION_LAUGHS, b"<not-cap/>", b"\xff\xfe garbage"])
def test_unsafe_or_invalid_cap_is_refused_naming_the_document(operator, api_client, document):  # noqa: F811
    response = api_client(operator).generic("POST", "/api/v1/alert-imports", document,
                                            content_type="application/cap+xml")  # fmt: skip
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "document"]
    assert not Alert.objects.exists()

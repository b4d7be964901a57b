"""The receiver's accounts through the API: a central configures its own, keys go in and never come out,
bad settings are 422 per field, another central's accounts are out of reach."""

from __future__ import annotations

import json

from tocsin.api.main import api
from tocsin.arc.models import ReceiverAccount

KEY = "00112233445566778899aabbccddeeff"


def _put(client, path, body):
    return client.put(path, json.dumps(body), content_type="application/json")


def test_a_central_configures_its_accounts_and_never_reads_a_key_back(api_client, central_op):
    client = api_client(central_op)
    response = _put(client, "/api/v1/arc/accounts/1a2b", {"key": KEY, "encryption_required": True})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["account"] == "1A2B" and body["has_key"] is True
    assert KEY not in response.content.decode() and KEY.upper() not in response.content.decode()
    listed = client.get("/api/v1/arc/accounts").content.decode()
    assert "1A2B" in listed and KEY not in listed
    assert _put(client, "/api/v1/arc/accounts/1A2B/zones/3", {"detection_code": "Z-03"}).json() == {
        "zone": "3",
        "detection_code": "Z-03",
    }


def test_bad_settings_are_422_per_field(api_client, central_op):
    response = _put(api_client(central_op), "/api/v1/arc/accounts/XYZ", {"key": "short", "device_tz": "Nowhere"})
    assert response.status_code == 422
    assert {i["loc"][-1] for i in response.json()["detail"]} == {"account", "key", "device_tz"}
    assert not ReceiverAccount.objects.exists()


def test_every_receiver_route_is_isolated_between_centrals(api_client, central_op, other_op):
    _put(api_client(central_op), "/api/v1/arc/accounts/ABC", {"key": KEY})
    before = list(ReceiverAccount.objects.values_list("pk", "central_id", "key_sealed", "updated_at"))
    other = api_client(other_op)
    assert "ABC" not in other.get("/api/v1/arc/accounts").content.decode()
    # The same number at another central is that central's own account: the first one is untouched.
    assert _put(other, "/api/v1/arc/accounts/ABC", {}).status_code == 200
    assert _put(other, "/api/v1/arc/accounts/DEF/zones/1", {"detection_code": "x"}).status_code == 404
    assert list(ReceiverAccount.objects.filter(central_id=central_op.organisation_id).values_list(
        "pk", "central_id", "key_sealed", "updated_at")) == before  # fmt: skip
    paths = [p for p in api.get_openapi_schema()["paths"] if p.startswith("/api/v1/arc/")]
    assert len(paths) == 4


def test_only_centrals_configure_receivers(api_client, registry_admin):
    assert _put(api_client(registry_admin), "/api/v1/arc/accounts/ABC", {}).status_code == 403
    assert api_client(registry_admin).get("/api/v1/arc/discovered").status_code == 403

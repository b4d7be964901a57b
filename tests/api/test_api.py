"""The API under /api/v1/: token auth, the same rules as the portal, clear errors."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.organisations.factories import UserFactory
from tocsin.organisations import services
from tocsin.organisations.models import Organisation, User


def _json(response) -> dict:
    return json.loads(response.content)


def test_openapi_document_and_docs_page(db):
    client = Client()
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    assert "/api/v1/members" in _json(schema)["paths"]
    assert client.get("/api/v1/docs").status_code == 200


def test_no_or_bad_token_is_401(db):
    assert Client().get("/api/v1/me").status_code == 401
    response = Client(headers={"Authorization": "Bearer tcs_deadbeef_nope"}).get("/api/v1/me")
    assert response.status_code == 401
    assert "token" in _json(response)["detail"]


def test_me(muni_admin, api_client):
    body = _json(api_client(muni_admin).get("/api/v1/me"))
    assert body["email"] == muni_admin.email
    assert body["organisation"]["entity_type"] == 1


def test_invite_via_api_and_field_errors(muni_admin, api_client):
    api = api_client(muni_admin)
    created = api.post(
        "/api/v1/members",
        {"email": "op@zottegem.be", "full_name": "Op", "roles": ["operator"]},
        content_type="application/json",
    )
    assert created.status_code == 201 and _json(created)["has_password"] is False
    bad = api.post(
        "/api/v1/members", {"email": "x", "full_name": "X", "roles": ["viewer"]}, content_type="application/json"
    )
    assert bad.status_code == 422
    assert _json(bad)["detail"][0]["loc"] == ["body", "email"]
    missing = api.post("/api/v1/members", {"email": "x@z.be"}, content_type="application/json")
    assert missing.status_code == 422
    assert {tuple(d["loc"])[-1] for d in _json(missing)["detail"]} >= {"full_name", "roles"}
    garbage = api.post("/api/v1/members", "{not json", content_type="application/json")
    assert garbage.status_code in (400, 422)
    assert User.objects.filter(organisation=muni_admin.organisation).count() == 2


def test_tenant_isolation_api_other_organisation_is_404(muni_admin, police_admin, api_client):
    api = api_client(muni_admin)
    assert api.get(f"/api/v1/members/{police_admin.pk}").status_code == 404
    assert api.post(f"/api/v1/members/{police_admin.pk}/deactivate").status_code == 404
    response = api.put(
        f"/api/v1/members/{police_admin.pk}/roles", {"roles": ["viewer"]}, content_type="application/json"
    )
    assert response.status_code == 404
    assert api.get(f"/api/v1/organisations/{police_admin.organisation_id}").status_code == 404
    assert [o["id"] for o in _json(api.get("/api/v1/organisations"))] == [muni_admin.organisation_id]
    assert [m["email"] for m in _json(api.get("/api/v1/members"))] == [muni_admin.email]


def test_entities_cannot_use_crisis_centre_operations(muni_admin, police_admin, api_client):
    api = api_client(muni_admin)
    response = api.post(
        f"/api/v1/organisations/{police_admin.organisation_id}/suspend",
        {"reason": "x"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert Organisation.objects.get(pk=police_admin.organisation_id).status == "active"
    assert (
        api.post("/api/v1/conditions", {"title": "t", "text": "t"}, content_type="application/json").status_code == 403
    )


def test_ba_7_4_suspended_organisation_tokens_get_403_with_reason(cc_admin, muni_admin, api_client):
    api = api_client(muni_admin)
    assert api.get("/api/v1/me").status_code == 200
    cc = api_client(cc_admin)
    response = cc.post(
        f"/api/v1/organisations/{muni_admin.organisation_id}/suspend",
        {"reason": "Wachtwoord gedeeld"},
        content_type="application/json",
    )
    assert response.status_code == 200 and _json(response)["status"] == "suspended"
    refused = api.get("/api/v1/me")
    assert refused.status_code == 403
    assert "Wachtwoord gedeeld" in _json(refused)["detail"]


def test_crisis_centre_lifecycle_over_api(cc_admin, api_client):
    cc = api_client(cc_admin)
    created = cc.post(
        "/api/v1/organisations",
        {"name": "Gouverneur Oost-Vlaanderen", "kind": "governor", "admin_email": "g@ov.be", "admin_name": "G"},
        content_type="application/json",
    )
    assert created.status_code == 201
    org_id = _json(created)["id"]
    bad = cc.post(f"/api/v1/organisations/{org_id}/activate", {"sms_sender": ""}, content_type="application/json")
    assert bad.status_code == 422
    assert _json(bad)["detail"][0] == {"loc": ["body", "sms_sender"], "msg": bad.json()["detail"][0]["msg"],
                                       "rule": "BA-8-ACTIVATION"}  # fmt: skip
    ok = cc.post(
        f"/api/v1/organisations/{org_id}/activate",
        {"sms_sender": "Gouverneur", "languages": ["nl"]},
        content_type="application/json",
    )
    assert ok.status_code == 200 and _json(ok)["entity_type"] == 1


def test_ba_9_conditions_and_decisions_over_api(cc_admin, muni_admin, api_client):
    cc = api_client(cc_admin)
    assert (
        cc.post("/api/v1/conditions", {"title": "v1", "text": "..."}, content_type="application/json").status_code
        == 201
    )
    api = api_client(muni_admin)
    decided = api.post(
        "/api/v1/agreement/decisions", {"version": 1, "decision": "refuse"}, content_type="application/json"
    )
    assert decided.status_code == 201 and _json(decided)["decision"] == "refuse"
    invalid = api.post(
        "/api/v1/agreement/decisions", {"version": 1, "decision": "maybe"}, content_type="application/json"
    )
    assert invalid.status_code == 422


def test_ba_7_4_directive_acknowledged_over_api(cc_admin, muni_admin, api_client):
    directive = services.directive_publish(actor=cc_admin, title="MFA", text="...")
    api = api_client(muni_admin)
    assert api.post(f"/api/v1/directives/{directive.pk}/acknowledge").status_code == 200
    assert _json(api.get("/api/v1/directives"))[0]["acknowledged"] is True
    assert api.post("/api/v1/directives/999999/acknowledge").status_code == 404


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_non_admins_cannot_list_members(municipality, api_client, role):
    user = UserFactory(organisation=municipality, roles=[role])
    assert api_client(user).get("/api/v1/members").status_code == 403


def test_revoked_token_is_401(muni_admin):
    token, secret = services.api_token_create(actor=muni_admin, name="x")
    services.api_token_revoke(actor=muni_admin, token_id=token.pk)
    assert Client(headers={"Authorization": f"Bearer {secret}"}).get("/api/v1/me").status_code == 401

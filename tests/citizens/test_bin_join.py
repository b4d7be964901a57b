"""A citizen joins and leaves a BIN group with its invitation code, through the API and the portal (BA-7-BIN)."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from tests.audiences.factories import registration
from tests.audiences.test_bin import bin_admin, bin_org, coordinator, group, officer  # noqa: F401 — fixtures
from tocsin.audiences.models import BinMembership
from tocsin.citizens import services

pytestmark = pytest.mark.django_db


def _citizen(reg) -> Client:
    return Client(headers={"Authorization": f"Bearer {services.api_token_for(reg)}"})


def test_ba_7_bin_citizen_joins_and_leaves_with_the_code_through_the_api(group):  # noqa: F811
    reg = registration()
    client = _citizen(reg)
    joined = client.post("/api/v1/citizens/me/bin-groups", {"code": group.code}, "application/json")
    assert joined.status_code == 200 and [g["name"] for g in joined.json()] == ["BIN Bevere"]
    assert client.post("/api/v1/citizens/me/bin-groups", {"code": group.code}, "application/json").status_code == 200
    assert BinMembership.objects.filter(group=group, registration=reg).count() == 1  # joining twice is harmless
    left = client.post("/api/v1/citizens/me/bin-groups/leave", {"group_id": group.pk}, "application/json")
    assert left.status_code == 200 and left.json() == []


def test_ba_7_bin_opted_out_citizen_cannot_join_and_a_wrong_code_is_refused(group):  # noqa: F811
    client = _citizen(registration(opt_out_bin=True))
    refused = client.post("/api/v1/citizens/me/bin-groups", {"code": group.code}, "application/json")
    assert refused.status_code == 422 and refused.json()["detail"][0]["rule"] == "BA-7-BIN"
    wrong = _citizen(registration()).post("/api/v1/citizens/me/bin-groups", {"code": "AAAA-BBBB"}, "application/json")
    assert wrong.status_code == 404
    assert not BinMembership.objects.exists()


def test_ba_7_bin_invitation_link_leads_a_signed_in_citizen_to_the_group(group, client):  # noqa: F811
    reg = registration()
    assert client.get(f"/bin/join/{group.code}/").status_code == 302
    # Not signed in: the join page sends to sign-in first, and remembers where to come back.
    response = client.get(f"/citizen/bin/{group.code}/")
    assert response.status_code == 302 and response["Location"].endswith("/citizen/sign-in/")
    session = client.session
    session["citizen"] = {"id": str(reg.public_id), "at": time.time()}
    session.save()
    assert b"BIN Bevere" in client.get(f"/citizen/bin/{group.code}/").content
    assert client.post(f"/citizen/bin/{group.code}/").status_code == 302
    assert BinMembership.objects.filter(group=group, registration=reg).exists()

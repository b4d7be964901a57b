"""A citizen changes contact points and addresses later (BA-7.3): each new point is verified before use."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from tocsin.citizens import services
from tocsin.citizens.models import CitizenAddress, ContactPoint, Registration

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def citizen(register, peers) -> Registration:
    reg = Registration.objects.create(name="Mia", language="nl", status="active", consent_version="2026-11",
                                      consent_at="2026-11-01T00:00Z")  # fmt: skip
    ContactPoint.objects.create(registration=reg, kind="email", value="mia@example.be", verified_at="2026-11-01T00:00Z")
    a = register["home"]
    CitizenAddress.objects.create(registration=reg, label="home", address_id=a.pk, text=a.label(), postcode=a.postcode,
                                  nis_code=a.municipality_id, lon=a.lon, lat=a.lat, cell=a.cell)  # fmt: skip
    return reg


def _portal(reg) -> Client:
    client = Client()
    session = client.session
    session["citizen"] = {"id": str(reg.public_id), "at": time.time()}
    session.save()
    return client


def test_ba_7_3_new_mobile_gets_a_code_and_counts_only_once_verified_api(citizen, peers):
    api = Client(headers={"Authorization": f"Bearer {services.api_token_for(citizen)}"})
    added = api.post("/api/v1/citizens/me/contact-points", {"kind": "mobile", "value": "0475 11 22 33"},
                     "application/json").json()  # fmt: skip
    new = next(p for p in added["contact_points"] if p["value"] == "+32475112233")
    assert not new["verified"]
    [code] = peers.codes_for("+32475112233")
    url = f"/api/v1/citizens/registrations/{citizen.public_id}/verify"
    assert Client().post(url, {"point_id": new["id"], "code": code}, "application/json").status_code == 200
    assert ContactPoint.objects.get(pk=new["id"]).verified_at is not None
    # The last verified point cannot go; another can.
    removed = api.post("/api/v1/citizens/me/contact-points/remove", {"point_id": new["id"]}, "application/json")
    assert removed.status_code == 200
    last = ContactPoint.objects.get(registration=citizen)
    refused = api.post("/api/v1/citizens/me/contact-points/remove", {"point_id": last.pk}, "application/json")
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == "point_id"


def test_ba_7_3_portal_adds_and_verifies_a_point_and_changes_addresses(citizen, register, peers):
    client = _portal(citizen)
    client.post("/citizen/me/points/", {"action": "add", "kind": "mobile", "value": "0476 00 11 22", "sms": "on"})
    point = ContactPoint.objects.get(value="+32476001122")
    [code] = peers.codes_for("+32476001122")
    client.post("/citizen/me/points/", {"action": "verify", "point_id": point.pk, "code": code})
    point.refresh_from_db()
    assert point.verified_at is not None and point.sms and not point.voice
    client.post("/citizen/me/addresses/", {"action": "add", "label": "work", "address": "Kouter 12, 9000"})
    assert sorted(CitizenAddress.objects.values_list("label", flat=True)) == ["home", "work"]
    client.post("/citizen/me/addresses/", {"action": "remove", "index": "0"})
    assert list(CitizenAddress.objects.values_list("text", flat=True)) == ["Kouter 12, 9000"]
    page = client.get("/citizen/me/").content.decode()
    assert "Kouter 12, 9000" in page and "+32476001122" in page
    # Another citizen's point cannot be touched through one's own session.
    other = Registration.objects.create(name="X", consent_version="1", consent_at="2026-11-01T00:00Z")
    theirs = ContactPoint.objects.create(registration=other, kind="email", value="x@example.be")
    client.post("/citizen/me/points/", {"action": "remove", "point_id": theirs.pk})
    assert ContactPoint.objects.filter(pk=theirs.pk).exists()

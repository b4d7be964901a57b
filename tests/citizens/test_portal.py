"""The registrations page of an entity: counts, the sign-up link and QR code — never a person (BA-7.3, BA-7.4)."""

from __future__ import annotations

import pytest

from tocsin.citizens.models import CitizenAddress, ContactPoint, Registration
from tocsin.geo import domain

pytestmark = pytest.mark.django_db


def _registered(register, name="Jan", status="active"):
    r = Registration.objects.create(name=name, language="nl", status=status, consent_version="2026-11",
                                    consent_at="2026-11-01T00:00Z")  # fmt: skip
    ContactPoint.objects.create(registration=r, kind="mobile", value="+32470000001", sms=True,
                                verified_at="2026-11-01T00:00Z")  # fmt: skip
    a = register["home"]
    CitizenAddress.objects.create(
        registration=r, label="home", address_id=a.pk, text=a.label(), postcode=a.postcode,
        nis_code=a.municipality_id, lon=a.lon, lat=a.lat, cell=domain.cell_of(a.lon, a.lat),
    )  # fmt: skip
    return r


def test_ba_7_4_municipality_sees_counts_link_and_qr_but_no_person(register, municipality, muni_admin, as_user):
    municipality.nis_code = "41081"
    municipality.save()
    _registered(register, "Jan Geheim")
    _registered(register, "Piet Gepauzeerd", status="paused")
    page = as_user(muni_admin).get("/registrations/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="people">' in html and 'id="people">1<' not in html  # one person: "fewer than 5"
    for i in range(4):
        _registered(register, f"Buur {i}")
    assert 'id="people">5<' in as_user(muni_admin).get("/registrations/").content.decode()
    assert "/citizen/join/41081/" in html
    assert "Jan Geheim" not in html and "+32470000001" not in html
    qr = as_user(muni_admin).get("/citizen/join/41081/qr.svg")
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml" and b"<svg" in qr.content


def test_ba_4_t1_police_zone_gets_no_citizen_coverage(register, police_zone, police_admin, as_user):
    police_zone.nis_code = "41081"
    police_zone.save()
    assert as_user(police_admin).get("/registrations/").status_code == 403


def test_ba_7_3_shareable_link_remembers_the_municipality(register, client):
    response = client.get("/citizen/join/41081/")
    assert response.status_code == 302 and response["Location"].startswith("/citizen/sign-up/")
    assert client.session["citizen_referrer"] == "41081"
    assert client.get("/citizen/join/99999/").status_code == 404
    page = client.get("/citizen/sign-up/")
    assert page.status_code == 200 and b"data-pow" in page.content


def test_ba_7_4_map_cells_show_no_count_below_five_people(register):
    from tocsin.citizens.selectors import people_per_cell, people_per_municipality

    for i in range(4):
        _registered(register, f"Buur {i}")
    assert people_per_cell("41081") == []  # four neighbours would be too easy to tell apart
    _registered(register, "Buur 5")
    assert people_per_cell("41081") == [(register["home"].cell, 5)]
    assert people_per_municipality() == {"41081": 5}


def test_ba_7_4_crisis_centre_looks_one_registration_up_only_with_a_reason(register, cc_admin, as_user):
    from tocsin.audit.models import AuditEntry

    _registered(register, "Jan Opgezocht")
    client = as_user(cc_admin)
    refused = client.post("/registrations/", {"contact": "+32470000001", "reason": "kort"}).content.decode()
    assert "Jan Opgezocht" not in refused and not AuditEntry.objects.filter(action="citizen.looked_up").exists()
    found = client.post("/registrations/", {"contact": "0470 00 00 01", "reason": "Klacht nr 2026/118 over sms"})
    assert "Jan Opgezocht" in found.content.decode()
    entry = AuditEntry.objects.get(action="citizen.looked_up")
    assert entry.data["reason"] == "Klacht nr 2026/118 over sms" and entry.actor_id == cc_admin.pk


def test_ba_7_4_entities_cannot_use_the_look_up(register, municipality, muni_admin, as_user):
    _registered(register, "Jan Verborgen")
    page = as_user(muni_admin).post("/registrations/", {"contact": "+32470000001", "reason": "nieuwsgierig naar Jan"})
    assert "Jan Verborgen" not in page.content.decode()

"""The audiences API: the same rules as the services, 422 naming the field, 404 across organisations."""

from __future__ import annotations

import json

import pytest

from tests.audiences.factories import registration
from tests.organisations.factories import UserFactory
from tocsin.audiences import services
from tocsin.audiences.models import BinSender, Contact, ContactList


def _json(response):
    return json.loads(response.content)


def _post(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def _patch(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def api(muni_admin, api_client):
    return api_client(muni_admin)


@pytest.fixture
def school_list(api):
    response = _post(api, "/api/v1/contact-lists", {"name": "Schools", "description": "Primary"})
    assert response.status_code == 201, response.content
    return _json(response)


def test_lists_and_contacts_crud(api, school_list):
    list_url = f"/api/v1/contact-lists/{school_list['id']}"
    created = _post(api, f"{list_url}/contacts", {"name": "De Linde", "mobile": "0470 12 34 56", "language": "fr"})
    assert created.status_code == 201
    contact = _json(created)
    assert (contact["mobile"], contact["language"], contact["list"]) == ("+32470123456", "fr", school_list["id"])
    assert _json(api.get(list_url))["contact_count"] == 1
    assert [c["name"] for c in _json(api.get(f"{list_url}/contacts"))] == ["De Linde"]
    changed = _patch(api, f"/api/v1/contacts/{contact['id']}", {"email": "info@linde.be"})
    assert _json(changed)["email"] == "info@linde.be" and _json(changed)["mobile"] == "+32470123456"
    assert _json(_patch(api, list_url, {"name": "Scholen"}))["name"] == "Scholen"
    assert [x["name"] for x in _json(api.get("/api/v1/contact-lists"))] == ["Scholen"]
    assert api.delete(f"/api/v1/contacts/{contact['id']}").status_code == 204
    assert api.delete(list_url).status_code == 204
    assert not ContactList.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "mobile": "12"}, "mobile"),
        ({"name": "X", "email": "nope"}, "email"),
        ({"name": "X", "landline": "0"}, "landline"),
        ({"name": "X", "email": "a@b.be", "language": "es"}, "language"),
        ({"name": "X"}, "mobile"),
        ({"name": "", "email": "a@b.be"}, "name"),
        ({"name": "X\x00", "email": "a@b.be"}, "name"),
    ],
)
def test_bad_contact_is_422_naming_the_field_and_changes_nothing(api, school_list, body, field):
    response = _post(api, f"/api/v1/contact-lists/{school_list['id']}/contacts", body)
    assert response.status_code == 422
    assert _json(response)["detail"][0]["loc"][-1] == field
    assert not Contact.objects.exists()


def test_csv_import_returns_the_report_and_export_round_trips(api, school_list):
    url = f"/api/v1/contact-lists/{school_list['id']}"
    csv_text = "name,mobile,email\nDe Linde,0470123456,\nBad,123,\n,,x@y.be\n"
    response = api.post(f"{url}/import", csv_text.encode(), content_type="text/csv")
    assert response.status_code == 200, response.content
    report = _json(response)
    assert (report["created"], report["rejected"]) == (1, 2)
    assert [(p["row"], p["field"]) for p in report["problems"]] == [(3, "mobile"), (4, "name")]
    exported = api.get(f"{url}/export")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    assert "De Linde;;+32470123456" in exported.content.decode("utf-8-sig")
    again = api.post(f"{url}/import", exported.content, content_type="text/csv")
    assert (_json(again)["created"], _json(again)["unchanged"]) == (0, 1)


def test_csv_import_bad_file_is_422(api, school_list):
    response = api.post(f"/api/v1/contact-lists/{school_list['id']}/import", b"phone\n1\n", content_type="text/csv")
    assert response.status_code == 422
    assert _json(response)["detail"][0]["loc"] == ["body", "file"]


def test_viewer_reads_but_cannot_write(municipality, school_list, api_client):
    viewer = api_client(UserFactory(organisation=municipality, roles=["viewer"]))
    assert viewer.get(f"/api/v1/contact-lists/{school_list['id']}").status_code == 200
    assert _post(viewer, "/api/v1/contact-lists", {"name": "Mine"}).status_code == 403
    assert viewer.get(f"/api/v1/contact-lists/{school_list['id']}/export").status_code == 403


def test_ba_4_t2_police_zone_manages_lists(police_admin, api_client):
    """BA-4-T2: type-2 entities alert only predefined lists, so they keep lists."""
    assert _post(api_client(police_admin), "/api/v1/contact-lists", {"name": "Banks"}).status_code == 201


def test_tenant_isolation_lists_404(api, police_admin):
    theirs = services.contact_list_create(actor=police_admin, name="Banks")
    contact = services.contact_create(actor=police_admin, list_id=theirs.pk, name="Bank", mobile="0470123456")
    base = f"/api/v1/contact-lists/{theirs.pk}"
    assert api.get(base).status_code == 404
    assert api.get(f"{base}/contacts").status_code == 404
    assert api.get(f"{base}/export").status_code == 404
    assert api.post(f"{base}/import", b"name;mobile\nX;0470000001\n", content_type="text/csv").status_code == 404
    assert _post(api, f"{base}/contacts", {"name": "X", "email": "x@y.be"}).status_code == 404
    assert _patch(api, f"/api/v1/contacts/{contact.pk}", {"name": "Mine"}).status_code == 404
    assert api.delete(base).status_code == 404
    assert list(Contact.objects.values_list("name", flat=True)) == ["Bank"]


# --- BIN groups ------------------------------------------------------------------------


@pytest.fixture
def bin_setup(make_org, police_zone, api_client):
    org = make_org("municipality", name="Gemeente Oudenaarde", nis_code="45035", bin_option=True)
    admin = UserFactory(organisation=org, roles=["admin"])
    coordinator = UserFactory(organisation=org, roles=["viewer"])
    officer = UserFactory(organisation=police_zone, roles=["viewer"])
    sender = UserFactory(organisation=org, roles=["operator"])
    return {"admin": admin, "coordinator": coordinator, "officer": officer, "sender": sender, "api": api_client}


def test_bin_group_flow_via_api(bin_setup):
    """BA-7-BIN through the API: create, nominate, approve by coordinator and police officer; BA-7.4 counts only."""
    s = bin_setup
    admin = s["api"](s["admin"])
    created = _post(admin, "/api/v1/bin-groups", {"name": "BIN Bevere", "coordinator_email": s["coordinator"].email,
                                                   "police_officer_email": s["officer"].email})  # fmt: skip
    assert created.status_code == 201, created.content
    group = _json(created)
    assert group["join_url"].endswith(f"/bin/join/{group['invitation_code'].replace('-', '')}/")
    services.bin_group_join(code=group["invitation_code"], registration_id=registration(name="Jan Janssens").pk)
    shown = admin.get(f"/api/v1/bin-groups/{group['id']}")
    assert _json(shown)["member_count"] == 1
    assert b"Janssens" not in shown.content and b"Janssens" not in admin.get("/api/v1/bin-groups").content
    url = f"/api/v1/bin-groups/{group['id']}/senders/{s['sender'].pk}"
    assert _post(admin, url).status_code == 201
    assert _post(s["api"](s["coordinator"]), f"{url}/approve").status_code == 200
    officer_api = s["api"](s["officer"])
    assert [g["id"] for g in _json(officer_api.get("/api/v1/bin-groups"))] == [group["id"]]
    approved = _json(_post(officer_api, f"{url}/approve"))
    assert approved["approved_by_police"] == s["officer"].pk
    assert approved["approved_by_coordinator"] == s["coordinator"].pk
    assert _post(admin, f"{url}/approve").status_code == 403
    assert _json(_post(officer_api, f"{url}/revoke"))["revoked_at"] is not None
    renewed = _json(_post(admin, f"/api/v1/bin-groups/{group['id']}/renew-code"))
    assert renewed["invitation_code"] != group["invitation_code"]
    assert admin.delete(f"/api/v1/bin-groups/{group['id']}").status_code == 204


def test_bin_group_bad_input_is_422_naming_the_field(bin_setup):
    s = bin_setup
    admin = s["api"](s["admin"])
    response = _post(admin, "/api/v1/bin-groups", {"name": "X", "coordinator_email": s["coordinator"].email,
                                                   "police_officer_email": "nobody@x.be"})  # fmt: skip
    assert response.status_code == 422
    detail = _json(response)["detail"][0]
    assert (detail["loc"], detail["rule"]) == (["body", "police_officer_email"], "BA-7-BIN")
    missing = _post(admin, "/api/v1/bin-groups", {"name": "X"})
    assert missing.status_code == 422
    assert {d["loc"][-1] for d in _json(missing)["detail"]} == {"coordinator_email", "police_officer_email"}


def test_bin_groups_refused_without_the_bin_option(muni_admin, api):
    coordinator = UserFactory(organisation=muni_admin.organisation)
    response = _post(api, "/api/v1/bin-groups", {"name": "X", "coordinator_email": coordinator.email,
                                                 "police_officer_email": muni_admin.email})  # fmt: skip
    assert response.status_code == 403


def test_tenant_isolation_bin_groups_404(bin_setup, api, municipality):
    s = bin_setup
    municipality.bin_option = True  # an entity with BIN groups of its own still cannot touch another's
    municipality.save()
    group = services.bin_group_create(actor=s["admin"], name="BIN", coordinator_email=s["coordinator"].email,
                                      police_officer_email=s["officer"].email)  # fmt: skip
    services.bin_sender_nominate(actor=s["admin"], group_id=group.pk, user_id=s["sender"].pk)
    base = f"/api/v1/bin-groups/{group.pk}"
    assert api.get(base).status_code == 404
    assert api.get(f"{base}/senders").status_code == 404
    assert _patch(api, base, {"name": "Mine"}).status_code == 404
    assert _post(api, f"{base}/senders/{s['sender'].pk}/approve").status_code == 404
    assert _post(api, f"{base}/renew-code").status_code == 404
    assert api.delete(base).status_code == 404
    assert BinSender.objects.get().approved_by_police_at is None

"""The registry through the API: centrals' idempotent upsert and CSV import (KB-7-ARC), per-field 422s,
tenant isolation, the audited lookup for the emergency centre, the administration's endpoints."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tocsin.alarms import domain
from tocsin.alarms.models import AlarmSystem, SystemVersion
from tocsin.audit.models import AuditEntry


def _put(client, number, body):
    return client.put(
        f"/api/v1/alarms/systems/by-user-number/{number}", json.dumps(body), content_type="application/json"
    )


def _csv_row(**values: str) -> str:
    base = {
        "user_number": "C100",
        "alarm_report_number": "N001",
        "site_name": "Bakkerij",
        "site_street": "Markt",
        "site_house_number": "1",
        "site_postcode": "9620",
        "site_phone": "09 360 12 34",
        "user_name": "Piet Bakker",
        "user_address": "Markt 1, 9620 Zottegem",
        "user_email": "piet@example.be",
        "property_nature": "shop",
        "risk_nature": "burglary",
        "system_type": "goods",
        "in_building": "yes",
        "siren": "yes",
        "siren_alarm_s": "180",
        "light": "yes",
        "light_until_switch_off": "yes",
        "first_use": (timezone.localdate() - timedelta(days=9)).isoformat(),
        "components_safe": "yes",
        "client_informed_on": "2024-01-01",
        "contact1_name": "Jan",
        "contact1_phone": "0478 11 12 13",
    }
    base.update(values)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([base.get(c, "") for c in domain.CSV_COLUMNS])
    return out.getvalue()


def test_kb_7_arc_api_upsert_idempotent(api_client, central_op, mvalues):
    client = api_client(central_op)
    body = mvalues()
    first = _put(client, "U1001", body)
    assert first.status_code == 201, first.content
    assert first.json()["result"] == "created"
    reference = first.json()["system"]["reference"]
    again = _put(client, "U1001", body)
    assert (again.status_code, again.json()["result"]) == (200, "unchanged")
    body["site_name"] = "Nieuwe naam"
    changed = _put(client, "U1001", body)
    assert changed.json()["result"] == "updated"
    assert changed.json()["system"]["reference"] == reference
    assert AlarmSystem.objects.count() == 1
    versions = client.get(f"/api/v1/alarms/systems/{reference}/versions").json()
    assert [v["kind"] for v in versions] == ["change", "registration"]
    assert versions[0]["changes"] == {"site_name": ["Woning Peeters", "Nieuwe naam"]}


def test_kb_17_kb_18_api_422_per_field_with_rule(api_client, central_op, mvalues):
    client = api_client(central_op)
    response = _put(client, "U1001", mvalues(siren_alarm_s=300, light=False, user_email="x", first_use="2999-01-01"))
    assert response.status_code == 422
    items = {item["loc"][-1]: item for item in response.json()["detail"]}
    assert items["siren_alarm_s"]["rule"] == "KB-17"
    assert items["light"]["rule"] == "KB-18"
    assert items["first_use"]["rule"] == "KB-7-USER"
    assert "user_email" in items
    assert AlarmSystem.objects.count() == 0


def test_api_schema_errors_are_422_not_500(api_client, central_op):
    client = api_client(central_op)
    response = client.put("/api/v1/alarms/systems/by-user-number/U1", "{not json", content_type="application/json")
    assert response.status_code in (400, 422)
    response = _put(client, "U1", {"contacts": "nope", "siren_alarm_s": {"a": 1}})
    assert response.status_code == 422


def test_kb_7_arc_api_central_isolation(api_client, central_op, other_op, mvalues):
    reference = _put(api_client(central_op), "U1001", mvalues()).json()["system"]["reference"]
    other = api_client(other_op)
    assert other.get(f"/api/v1/alarms/systems/{reference}").status_code == 404
    assert other.post(f"/api/v1/alarms/systems/{reference}/deregister", json.dumps({"date": "2025-01-01"}),
                      content_type="application/json").status_code == 404  # fmt: skip
    assert other.get("/api/v1/alarms/systems").json() == []


def test_kb_7_arc_api_csv_import_per_row_report(api_client, central_op, register):
    client = api_client(central_op)
    body = (
        domain.csv_header()
        + _csv_row()
        + _csv_row(user_number="C101", site_postcode="9999")
        + _csv_row(user_number="C102", siren_alarm_s="400")
        + _csv_row(user_number="C100")
    )
    response = client.post("/api/v1/alarms/import", body, content_type="text/csv")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["counts"] == {"created": 1, "refused": 3}, data["rows"]
    rows = {r["line"]: r for r in data["rows"]}
    assert rows[2]["status"] == "created"
    assert rows[3]["errors"][0]["field"] == "site_postcode"
    assert rows[4]["errors"][0]["rule"] == "KB-17"
    assert rows[5]["errors"][0]["field"] == "user_number"  # given twice in the file
    system = AlarmSystem.objects.get()
    assert system.site_phone == "+3293601234" and system.contacts[0]["phone"] == "+32478111213"
    assert system.site_text.startswith("Markt 1, 9620")
    # Again: idempotent.
    again = client.post("/api/v1/alarms/import", domain.csv_header() + _csv_row(), content_type="text/csv").json()
    assert again["counts"] == {"unchanged": 1}
    changed = client.post(
        "/api/v1/alarms/import",
        domain.csv_header()
        + _csv_row(
            site_name="Bakkerij Piet",
            changed_on=(timezone.localdate() - timedelta(days=15)).isoformat(),
            first_use="2025-01-01",
        ),
        content_type="text/csv",
    ).json()
    assert changed["counts"] == {"updated": 1}
    version = SystemVersion.objects.filter(system=system).order_by("-number").first()
    assert (version.kind, version.late_days) == ("change", 5)
    gone = client.post(
        "/api/v1/alarms/import",
        domain.csv_header() + _csv_row(site_name="Bakkerij Piet", out_of_use=timezone.localdate().isoformat()),
        content_type="text/csv",
    ).json()
    assert gone["counts"] == {"deregistered": 1}
    system.refresh_from_db()
    assert system.status == "deregistered"


def test_kb_7_arc_csv_bad_files_refused(api_client, central_op):
    client = api_client(central_op)
    response = client.post("/api/v1/alarms/import", "name,phone\nx,y\n", content_type="text/csv")
    assert response.status_code == 422
    assert "user_number" in response.json()["detail"][0]["msg"]
    response = client.post("/api/v1/alarms/import", b"\xff\xfe\x00bad", content_type="text/csv")
    assert response.status_code == 422


def test_registry_only_for_centrals_to_write(api_client, dispatcher, mvalues, company_tech):
    assert _put(api_client(dispatcher), "U1", mvalues()).status_code == 403
    assert _put(api_client(company_tech), "U1", mvalues()).status_code == 403


def test_lookup_by_user_number_is_audited(api_client, central_op, dispatcher, mvalues):
    reference = _put(api_client(central_op), "U1001", mvalues()).json()["system"]["reference"]
    client = api_client(dispatcher)
    assert client.get("/api/v1/alarms/lookup?user_number=U1001").status_code == 422  # no reason: refused
    found = client.get("/api/v1/alarms/lookup?user_number=u1001&reason=INC-2026-0042").json()
    assert [f["reference"] for f in found] == [reference]
    assert found[0]["central"] == "Centrale Noord"
    assert found[0]["system"]["contacts"][0]["name"] == "Jan Peeters"
    by_arn = client.get("/api/v1/alarms/lookup?user_number=U1001&alarm_report_number=N001&reason=x").json()
    assert len(by_arn) == 1
    by_address = client.get("/api/v1/alarms/lookup?address=Markt 1, 9620&reason=x").json()
    assert len(by_address) == 1
    assert client.get("/api/v1/alarms/lookup?address=Markt 2, 9620&reason=x").json() == []
    entries = AuditEntry.objects.filter(action="alarms.lookup").order_by("seq")
    assert entries.count() == 4
    assert entries.first().data["reason"] == "INC-2026-0042"
    assert entries.first().actor_id == dispatcher.pk


def test_lookup_not_for_centrals(api_client, central_op):
    assert api_client(central_op).get("/api/v1/alarms/lookup?user_number=U1&reason=x").status_code == 403


def test_kb_21_kb_6_api_sketch_consent_remote_action(api_client, central_op, central, mvalues):
    client = api_client(central_op)
    values = mvalues(system_type="personal_fixed", risk_nature="hold_up", property_nature="bank",
                     publicly_accessible=True, visual_verification=True)  # fmt: skip
    reference = _put(client, "U1001", values).json()["system"]["reference"]
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8).decode()
    response = client.put(f"/api/v1/alarms/systems/{reference}/sketch",
                          json.dumps({"content_type": "image/png", "name": "plan.png", "content_base64": png}),
                          content_type="application/json")  # fmt: skip
    assert response.status_code == 200, response.content
    action = {"action": "arm", "purpose": "manage_alarm"}
    response = client.post(f"/api/v1/alarms/systems/{reference}/remote-actions", json.dumps(action),
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 422 and response.json()["detail"][0]["rule"] == "KB-6"
    pdf = base64.b64encode(b"%PDF-1.7 consent").decode()
    consent = {
        "party_id": central.pk,
        "actions": ["arm", "disarm"],
        "purposes": ["manage_alarm"],
        "given_on": "2025-01-01",
        "content_type": "application/pdf",
        "name": "c.pdf",
        "content_base64": pdf,
    }
    response = client.post(f"/api/v1/alarms/systems/{reference}/consents", json.dumps(consent),
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 201, response.content
    response = client.post(f"/api/v1/alarms/systems/{reference}/remote-actions", json.dumps(action),
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 201 and response.json()["allowed"] is True


def test_registry_endpoints(api_client, registry_admin, central_op, central, mvalues):
    _put(api_client(central_op), "U1001", mvalues(first_use=(timezone.localdate() - timedelta(days=40)).isoformat()))
    client = api_client(registry_admin)
    late = client.get("/api/v1/alarms/late").json()
    assert [(i["what"], i["late_days"]) for i in late] == [("registration", 30)]
    stats = client.get("/api/v1/alarms/statistics").json()
    assert stats["active"] == 1 and stats["by_type"] == {"goods": 1} and stats["registrations_late_year"] == 1
    assert stats["by_province"] == {"Oost-Vlaanderen": 1}
    response = client.put("/api/v1/alarms/config", json.dumps({"user_number_pattern": "(", "arn_pattern": "x+"}),
                          content_type="application/json")  # fmt: skip
    assert response.status_code == 422
    assert {i["loc"][-1] for i in response.json()["detail"]} == {"user_number_pattern"}
    response = client.post("/api/v1/alarms/arns", json.dumps({"organisation_id": central.pk, "number": "N002"}),
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 201
    assert {a["number"] for a in api_client(central_op).get("/api/v1/alarms/arns").json()} == {"N001", "N002"}
    assert api_client(central_op).get("/api/v1/alarms/late").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_kb_7_arc_import_pipelined_outside_a_transaction(central_op, register):
    """Outside a caller's transaction the batches are written by a writer thread while the next is
    checked: the same report, every row written once, versions alongside."""
    from tocsin.alarms import services
    from tocsin.alarms.services import as_member

    rows = [_csv_row(user_number=f"P{i:03d}") for i in range(7)]
    rows[3] = _csv_row(user_number="P003", site_house_number="999")  # not in the register
    report = services.import_csv(actor=as_member(central_op), data=domain.csv_header() + "".join(rows), batch_size=2)
    assert report.counts == {"created": 6, "refused": 1}
    assert [r.line for r in report.rows] == list(range(2, 9))
    assert report.rows[3].errors[0].field == "site_street"
    assert AlarmSystem.objects.count() == 6
    assert SystemVersion.objects.filter(kind="registration").count() == 6
    again = services.import_csv(actor=as_member(central_op), data=domain.csv_header() + "".join(rows), batch_size=2)
    assert again.counts == {"unchanged": 6, "refused": 1}


def test_kb_7_arc_reimporting_a_deregistration_changes_nothing(api_client, central_op, register):
    client = api_client(central_op)
    today = timezone.localdate().isoformat()
    client.post("/api/v1/alarms/import", domain.csv_header() + _csv_row(), content_type="text/csv")
    gone = domain.csv_header() + _csv_row(out_of_use=today)
    assert client.post("/api/v1/alarms/import", gone, content_type="text/csv").json()["counts"] == {"deregistered": 1}
    assert client.post("/api/v1/alarms/import", gone, content_type="text/csv").json()["counts"] == {"unchanged": 1}


def test_kb_7_arc_empty_cells_take_the_fields_default(api_client, central_op, register):
    """An empty ``in_building`` cell is the default (yes), not "no" (which KB-2 would refuse)."""
    body = domain.csv_header() + _csv_row(in_building="")
    counts = api_client(central_op).post("/api/v1/alarms/import", body, content_type="text/csv").json()["counts"]
    assert counts == {"created": 1}
    assert AlarmSystem.objects.get().in_building is True


def test_kb_7_arc_api_import_takes_files_beyond_djangos_form_cap(api_client, central_op, register):
    """Django caps request.body at 2.5 MB for forms; the import reads its stream up to its own 100 MB."""
    row = _csv_row(user_number="X{}", site_postcode="0000", site_name="S" * 150)
    body = domain.csv_header() + "".join(row.replace("X{}", f"X{i:06d}") for i in range(9000))
    assert len(body.encode()) > 2_621_440
    response = api_client(central_op).post("/api/v1/alarms/import", body, content_type="text/csv")
    assert response.status_code == 200, response.content[:200]
    assert response.json()["counts"] == {"refused": 9000}


def test_ba_7_4_lookup_and_registry_reads_need_a_two_factor_role(api_client, emergency, registry, mvalues):
    from tests.organisations.factories import UserFactory

    ec_viewer = UserFactory(organisation=emergency, email="view@101.be", roles=["viewer"])
    assert api_client(ec_viewer).get("/api/v1/alarms/lookup?user_number=U1&reason=x").status_code == 403
    registry_viewer = UserFactory(organisation=registry, email="view@meldpunt.be", roles=["viewer"])
    assert api_client(registry_viewer).get("/api/v1/alarms/statistics").status_code == 403


def test_registry_browsing_is_audited(api_client, registry_admin, central_op, mvalues):
    from tocsin.alarms import selectors
    from tocsin.alarms.services import as_member

    _put(api_client(central_op), "U1001", mvalues())
    items, total = selectors.system_list(actor=as_member(registry_admin))
    assert total == 1
    entry = AuditEntry.objects.filter(action="alarms.listed").get()
    assert entry.actor_id == registry_admin.pk and entry.data["references"] == [items[0].reference]


def test_a_lookup_showing_many_systems_is_audited_whole(api_client, central_op, dispatcher, mvalues):
    client = api_client(central_op)
    for i in range(12):
        assert _put(client, f"U{2000 + i}", mvalues()).status_code == 201
    found = api_client(dispatcher).get("/api/v1/alarms/lookup?alarm_report_number=N001&reason=INC-7").json()
    assert len(found) == 12
    entry = AuditEntry.objects.filter(action="alarms.lookup").get()
    assert sorted(entry.data["references"]) == sorted(f["reference"] for f in found)

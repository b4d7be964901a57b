"""The registry's pages for organisations (Royal Decree of 25 April 2007): alarm centrals register, change and
deregister systems (KB-7-ARC) one by one or by CSV; the registry administration searches, corrects, follows late
declarations and sees statistics with a map; the emergency centre looks a system up (audited)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.alarms.conftest import managed_values
from tests.organisations.factories import UserFactory
from tocsin.alarms import domain, services
from tocsin.alarms.models import AlarmSystem, Sketch, SystemVersion
from tocsin.alarms.services import as_member
from tocsin.audit.models import AuditEntry
from tocsin.geo.models import Municipality

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def english(settings):
    """The pages in English, whatever the catalogues hold (the texts asserted are the source strings)."""
    settings.LANGUAGE_CODE = "en"


def form_data(register: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """What the form posts for a goods alarm at Markt 1, 9620 Zottegem, first used three days ago."""
    today = timezone.localdate()
    data: dict[str, Any] = {
        "contact_rows": "3",
        "user_number": "U1001",
        "alarm_report_number": "N001",
        "client_informed_on": (today - timedelta(days=30)).isoformat(),
        "site_name": "Woning Peeters",
        "site_street": "Markt",
        "site_house_number": "1",
        "site_box": "",
        "site_postcode": "9620",
        "site_phone": "09 360 12 34",
        "user_name": "An Peeters",
        "user_address": "Markt 1, 9620 Zottegem",
        "user_email": "an.peeters@example.be",
        "user_mobile": "0470 12 34 56",
        "system_type": "goods",
        "property_nature": "dwelling",
        "risk_nature": "burglary",
        "first_use": (today - timedelta(days=3)).isoformat(),
        "renewed_on": "",
        "installer": "Beveiliging Janssens",
        "in_building": "1",
        "siren": "1",
        "siren_alarm_s": "180",
        "siren_sabotage_s": "480",
        "light": "1",
        "light_until_switch_off": "1",
        "access_code_handed": "1",
        "components_safe": "1",
        "contact-0-name": "Jan Peeters",
        "contact-0-phone": "0478 11 12 22",
        "contact-0-has_access": "1",
        "contact-0-knows_system": "1",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def register_managed(actor_user, register, **overrides: Any) -> AlarmSystem:
    return services.system_register(actor=as_member(actor_user), values=managed_values(register, **overrides))


def error_of(html: str, field_id: str) -> str:
    """The text of the first error shown beside an input (``<p class="error" id="<field_id>-error1">``)."""
    match = re.search(rf'<p class="error" id="{field_id}-error1"[^>]*>(.*?)</p>', html, re.S)
    assert match, f"no error beside {field_id}"
    return re.sub(r"<[^>]+>", " ", match.group(1))


# --- a central, one system at a time (KB-7-ARC) ------------------------------------------------------------------


def test_kb_7_arc_central_registers_changes_and_deregisters_a_system_through_the_pages(as_user, central_op, register):
    client = as_user(central_op)
    page = client.get("/registry/systems/")
    assert page.status_code == 200
    assert 'href="/registry/systems/new/"' in page.content.decode()
    assert 'href="/registry/import/"' in page.content.decode()

    form = client.get("/registry/systems/new/").content.decode()
    assert '<option value="N001"' in form  # the central's alarm-report numbers, as a select
    for name in ("user_number", "client_informed_on", "site_street", "site_postcode", "contact-2-name", "siren"):
        assert f'name="{name}"' in form
    assert 'name="changed_on"' not in form  # only when changing

    response = client.post("/registry/systems/new/", form_data(register))
    assert response.status_code == 302, response.content.decode()[:3000]
    system = AlarmSystem.objects.get()
    assert response["Location"] == f"/registry/systems/{system.reference}/"
    assert system.central_id == central_op.organisation_id
    assert (system.user_number, system.alarm_report_number) == ("U1001", "N001")
    assert system.site_address_id == register["home"].pk
    assert system.contacts == [
        {"name": "Jan Peeters", "phone": "+32478111222", "has_access": True, "knows_system": True}
    ]
    assert system.client_informed_on is not None and not system.publicly_accessible

    detail = client.get(response["Location"]).content.decode()
    assert system.reference in detail and "Registration" in detail and "Markt 1, 9620" in detail

    # The edit form comes filled in, the site as street, number and postcode.
    edit = client.get(f"/registry/systems/{system.reference}/edit/").content.decode()
    assert 'value="Markt"' in edit and 'value="U1001"' in edit and 'name="changed_on"' in edit
    changed_on = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = client.post(
        f"/registry/systems/{system.reference}/edit/",
        form_data(register, site_name="Huis Peeters", changed_on=changed_on, **{"contact-1-name": "Els Peeters",
                  "contact-1-phone": "0478 33 44 55", "contact-1-has_access": "1"}),
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    version = SystemVersion.objects.get(system=system, number=2)
    assert version.kind == "change" and version.event_on.isoformat() == changed_on and version.late_days == 0
    assert version.changes["site_name"] == ["Woning Peeters", "Huis Peeters"]
    detail = client.get(f"/registry/systems/{system.reference}/").content.decode()
    assert "Woning Peeters → Huis Peeters" in detail
    assert "Els Peeters" in detail

    # Sending the same again writes nothing.
    response = client.post(
        f"/registry/systems/{system.reference}/edit/",
        form_data(register, site_name="Huis Peeters", **{"contact-1-name": "Els Peeters",
                  "contact-1-phone": "0478 33 44 55", "contact-1-has_access": "1"}),
    )  # fmt: skip
    assert response.status_code == 302
    assert SystemVersion.objects.filter(system=system).count() == 2

    response = client.post(
        f"/registry/systems/{system.reference}/deregister/", {"out_of_use": timezone.localdate().isoformat()}
    )
    assert response.status_code == 302
    system.refresh_from_db()
    assert system.status == "deregistered"
    assert SystemVersion.objects.get(system=system, number=3).kind == "deregistration"


def test_kb_7_arc_duplicate_user_number_is_refused_beside_the_field_naming_the_rule(as_user, central_op, register):
    register_managed(central_op, register)
    client = as_user(central_op)
    response = client.post("/registry/systems/new/", form_data(register, site_name="Tweede"))
    assert response.status_code == 422
    html = response.content.decode()
    assert "already registered by your central" in error_of(html, "f-user-number")
    assert "KB-7-ARC" in error_of(html, "f-user-number")
    field = re.search(r'<input type="text" id="f-user-number"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in field and "f-user-number-error1" in field
    assert 'id="error-summary"' in html and 'href="#f-user-number"' in html
    assert 'value="Tweede"' in html  # what was typed stays
    assert AlarmSystem.objects.count() == 1


def test_unknown_postcode_and_kb_17_siren_are_refused_each_beside_its_field_nothing_written(
    as_user, central_op, register
):
    client = as_user(central_op)
    response = client.post(
        "/registry/systems/new/",
        form_data(register, site_postcode="1234", siren_alarm_s="300", light=None, **{"contact-1-phone": "12"}),
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Unknown postcode 1234" in error_of(html, "f-site-postcode")
    assert "KB-17" in error_of(html, "f-siren-alarm-s")
    assert "KB-18" in error_of(html, "f-light")
    assert error_of(html, "f-contacts-1-name")  # a contact row with a phone only needs a name
    assert "5 problems: nothing was saved." in html  # the contact row: a name, and a real phone number
    assert not AlarmSystem.objects.exists()
    assert not SystemVersion.objects.exists()


def test_kb_2_system_without_outdoor_component_is_refused_on_the_components_group(as_user, central_op, register):
    response = as_user(central_op).post(
        "/registry/systems/new/",
        form_data(register, siren=None, light=None, light_until_switch_off=None, siren_alarm_s="", siren_sabotage_s=""),
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="f-components-error1"' in html and "KB-2" in html
    assert 'href="#f-components-group"' in html


def test_kb_7_arc_number_not_assigned_to_the_central_is_refused(as_user, central_op, other_op, register):
    response = as_user(central_op).post("/registry/systems/new/", form_data(register, alarm_report_number="Z001"))
    assert response.status_code == 422
    assert "not one the administration assigned to you" in error_of(response.content.decode(), "f-alarm-report-number")


def test_central_lists_and_searches_its_systems_with_paging(as_user, central_op, register):
    for i in range(3):
        register_managed(central_op, register, user_number=f"U200{i}", site_name=f"Site {i}")
    client = as_user(central_op)
    html = client.get("/registry/systems/").content.decode()
    assert "3 systems" in html and "U2002" in html
    html = client.get("/registry/systems/?q=u2001").content.decode()
    assert "1 system" in html and "U2001" in html and "U2002" not in html
    html = client.get("/registry/systems/?status=deregistered").content.decode()
    assert "0 systems" in html
    assert client.get("/registry/systems/?page=999").status_code == 200


# --- a central: the CSV ------------------------------------------------------------------------------------------

GOOD = "U3001,N001,Shop,Markt,1,,9620,093601234,A B,addr,,a@b.be,shop,burglary,goods,yes,no,yes,120,300,yes,yes,no,{d},,X,yes,no,yes,{d},Jan,0478111222,,,,,,"  # noqa: E501


def _csv(*rows: str) -> bytes:
    return (domain.csv_header() + "\n".join(rows) + "\n").encode()


def test_kb_7_arc_csv_import_with_good_and_bad_rows_shows_the_report_per_row(as_user, central_op, register):
    d = (timezone.localdate() - timedelta(days=2)).isoformat()
    data = _csv(
        GOOD.format(d=d),
        GOOD.format(d=d).replace("U3001", "U3002").replace(",9620,", ",9999,"),  # unknown postcode
        GOOD.replace("U3001", "U3003").replace(",120,300,", ",300,300,").format(d=d),  # KB-17
        GOOD.format(d=d).replace("U3001", "U3004").replace("Markt,1", "Kouter,12").replace("9620", "9000"),
        GOOD.format(d=d).replace("U3001", "U3005").replace(",N001,", ",X99,"),  # not an assigned number
    )
    client = as_user(central_op)
    page = client.get("/registry/import/").content.decode()
    assert 'href="/registry/import/template.csv"' in page and "<code>site_postcode</code>" in page
    template = client.get("/registry/import/template.csv")
    assert template.content.decode() == domain.csv_header()

    upload = io.BytesIO(data)
    upload.name = "systems.csv"
    response = client.post("/registry/import/", {"file": upload})
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'id="count-created">2<', html) and re.search(r'id="count-refused">3<', html)
    assert AlarmSystem.objects.filter(central=central_op.organisation).count() == 2
    rows = re.findall(r'<tr class="row-(\w+)">(.*?)</tr>', html, re.S)
    assert [status for status, _ in rows] == ["created", "refused", "refused", "created", "refused"]
    assert "Unknown postcode 9999" in rows[1][1] and "Postcode" in rows[1][1] and ">3<" in rows[1][1]
    assert "KB-17" in rows[2][1] and "Siren: seconds per alarm" in rows[2][1] and "U3003" in rows[2][1]
    assert "KB-7-ARC" in rows[4][1]
    created = AlarmSystem.objects.get(user_number="U3001")
    assert f'href="/registry/systems/{created.reference}/"' in rows[0][1]

    # The report as CSV, from the page's own form.
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    report = client.post("/registry/import/report.csv", {"token": token})
    assert report["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert {(r["line"], r["status"]) for r in lines} >= {("2", "created"), ("3", "refused"), ("6", "refused")}
    assert any(r["field"] == "site_postcode" and "9999" in r["message"] for r in lines)
    assert any(r["rule"] == "KB-17" and r["user_number"] == "U3003" for r in lines)
    # Someone else cannot replay it; a forged token is not found.
    assert client.post("/registry/import/report.csv", {"token": token + "x"}).status_code == 404

    # The same file again: unchanged, nothing doubled.
    upload = io.BytesIO(data)
    upload.name = "systems.csv"
    html = client.post("/registry/import/", {"file": upload}).content.decode()
    assert re.search(r'id="count-unchanged">2<', html)
    assert AlarmSystem.objects.count() == 2


def test_csv_import_of_a_file_with_a_bad_header_is_refused_on_the_file_field(as_user, central_op, register):
    upload = io.BytesIO(b"name;street\nA;B\n")
    upload.name = "x.csv"
    response = as_user(central_op).post("/registry/import/", {"file": upload})
    assert response.status_code == 422
    assert "lacks the column" in error_of(response.content.decode(), "f-file")
    response = as_user(central_op).post("/registry/import/", {})
    assert response.status_code == 422


# --- tenant isolation and roles ------------------------------------------------------------------------------------


def test_central_b_cannot_open_or_change_central_a_system(as_user, central_op, other_op, register):
    system = register_managed(central_op, register)
    ref = system.reference
    client = as_user(other_op)
    assert client.get(f"/registry/systems/{ref}/").status_code == 404
    assert client.get(f"/registry/systems/{ref}/edit/").status_code == 404
    assert client.post(f"/registry/systems/{ref}/edit/", form_data(register, site_name="X")).status_code == 404
    assert client.get(f"/registry/systems/{ref}/sketch/").status_code == 404
    assert client.get(f"/registry/systems/{ref}/consents/1/document/").status_code == 404
    response = client.post(f"/registry/systems/{ref}/deregister/", {"out_of_use": timezone.localdate().isoformat()})
    assert response.status_code == 404
    assert client.post(f"/registry/systems/{ref}/release/", {}).status_code == 404
    html = client.get(f"/registry/systems/?q={ref}").content.decode()
    assert "0 systems" in html and f'href="/registry/systems/{ref}/"' not in html
    system.refresh_from_db()
    assert system.status == "active" and system.site_name == "Woning Peeters" and system.version == 1


def test_ba_7_4_a_viewer_of_a_central_reads_no_personal_data_and_cannot_write(as_user, central_op, register):
    """A viewer signs in with one factor: the clients' personal data stay out of reach (BA-7.4)."""
    system = register_managed(central_op, register)
    viewer = UserFactory(organisation=central_op.organisation, email="viewer@noord.be", roles=["viewer"])
    client = as_user(viewer)
    assert client.get("/registry/systems/").status_code == 403
    assert client.get(f"/registry/systems/{system.reference}/").status_code in (403, 404)
    assert client.get("/registry/systems/new/").status_code == 403
    assert client.post("/registry/systems/new/", form_data(register, user_number="U9")).status_code == 403
    assert client.get(f"/registry/systems/{system.reference}/edit/").status_code == 403
    response = client.post(
        f"/registry/systems/{system.reference}/deregister/", {"out_of_use": timezone.localdate().isoformat()}
    )
    assert response.status_code == 403
    assert client.get("/registry/import/").status_code == 403
    upload = io.BytesIO(_csv(GOOD.format(d=timezone.localdate().isoformat())))
    upload.name = "x.csv"
    assert client.post("/registry/import/", {"file": upload}).status_code == 403
    assert AlarmSystem.objects.count() == 1
    system.refresh_from_db()
    assert system.status == "active"


def test_other_organisations_get_no_registry_pages(as_user, dispatcher, company_tech, central_op):
    assert as_user(dispatcher).get("/registry/systems/").status_code == 403
    assert as_user(company_tech).get("/registry/admin/").status_code == 403
    assert as_user(central_op).get("/registry/admin/stats/").status_code == 403
    assert as_user(central_op).get("/registry/lookup/").status_code == 403
    assert as_user(company_tech).get("/registry/lookup/").status_code == 403


def test_portal_navigation_links_the_registry_pages_for_the_organisations_concerned(
    as_user, central_op, registry_admin, dispatcher, police_admin
):
    assert 'href="/registry/systems/"' in as_user(central_op).get("/").content.decode()
    html = as_user(registry_admin).get("/").content.decode()
    assert 'href="/registry/admin/"' in html and 'href="/registry/lookup/"' in html
    assert 'href="/registry/lookup/"' in as_user(dispatcher).get("/").content.decode()
    assert 'href="/registry/lookup/"' in as_user(police_admin).get("/").content.decode()


# --- the detail page's forms ---------------------------------------------------------------------------------------


def test_kb_7_release_hands_the_system_over_to_its_user_within_10_days(as_user, central_op, register):
    system = register_managed(central_op, register)
    client = as_user(central_op)
    detail = client.get(f"/registry/systems/{system.reference}/").content.decode()
    assert "must register it within 10 days" in detail
    response = client.post(f"/registry/systems/{system.reference}/release/", {})
    assert response.status_code == 302 and response["Location"] == "/registry/systems/"
    system.refresh_from_db()
    assert system.central_id is None and system.handover_due == timezone.localdate() + timedelta(days=10)
    assert client.get(f"/registry/systems/{system.reference}/").status_code == 404  # no longer ours


def test_kb_7_deregistration_date_before_first_use_is_refused_in_its_form(as_user, central_op, register):
    system = register_managed(central_op, register)
    before = (system.first_use - timedelta(days=1)).isoformat()
    response = as_user(central_op).post(f"/registry/systems/{system.reference}/deregister/", {"out_of_use": before})
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="deregister-errors"' in html and "before its first use" in html and "KB-7-USER" in html
    system.refresh_from_db()
    assert system.status == "active"


def test_kb_21_sketch_of_a_fixed_personal_alarm_is_uploaded_and_downloaded(as_user, central_op, register):
    system = register_managed(central_op, register, system_type="personal_fixed", risk_nature="aggression")
    client = as_user(central_op)
    upload = io.BytesIO(PNG)
    upload.name = "plan.png"
    response = client.post(
        f"/registry/systems/{system.reference}/sketch/", {"sketch": upload, "related_user_numbers": "U1002, U1003"}
    )
    assert response.status_code == 302
    sketch = Sketch.objects.get(system=system)
    assert sketch.content_type == "image/png" and sketch.related_user_numbers == ["U1002", "U1003"]
    download = client.get(f"/registry/systems/{system.reference}/sketch/")
    assert download.content == PNG and "attachment" in download["Content-Disposition"]

    goods = register_managed(central_op, register, user_number="U1009")
    upload = io.BytesIO(PNG)
    upload.name = "plan.png"
    response = client.post(f"/registry/systems/{goods.reference}/sketch/", {"sketch": upload})
    assert response.status_code == 422 and "KB-21" in response.content.decode()


def test_kb_8_kb_6_maintenance_consent_and_remote_action_through_the_detail_page(
    as_user, central_op, register, company
):
    system = register_managed(central_op, register)
    client = as_user(central_op)
    ref = system.reference
    response = client.post(f"/registry/systems/{ref}/maintenance/", {"done_on": timezone.localdate().isoformat(),
                                                                     "company_name": "Janssens"})  # fmt: skip
    assert response.status_code == 302
    system.refresh_from_db()
    assert system.last_maintenance == timezone.localdate()

    # No consent: the remote action is refused, and the refusal is in the log.
    response = client.post(f"/registry/systems/{ref}/remote/", {"action": "arm", "purpose": "manage_alarm"})
    assert response.status_code == 422 and "KB-6" in response.content.decode()
    assert "refused" in client.get(f"/registry/systems/{ref}/").content.decode()

    # A consent that gives a central more than the decree allows is refused.
    doc = io.BytesIO(b"%PDF-1.4 signed")
    doc.name = "consent.pdf"
    response = client.post(f"/registry/systems/{ref}/consents/", {
        "party_id": str(central_op.organisation_id), "actions": ["program"], "purposes": ["repair"],
        "given_on": timezone.localdate().isoformat(), "document": doc})  # fmt: skip
    assert response.status_code == 422 and "KB-6" in response.content.decode()
    doc = io.BytesIO(b"%PDF-1.4 signed")
    doc.name = "consent.pdf"
    response = client.post(f"/registry/systems/{ref}/consents/", {
        "party_id": str(central_op.organisation_id), "actions": ["arm", "disarm"], "purposes": ["manage_alarm"],
        "given_on": timezone.localdate().isoformat(), "document": doc})  # fmt: skip
    assert response.status_code == 302
    consent = system.consents.get()
    assert client.get(f"/registry/systems/{ref}/consents/{consent.pk}/document/").content == b"%PDF-1.4 signed"
    response = client.post(f"/registry/systems/{ref}/remote/", {"action": "arm", "purpose": "manage_alarm"})
    assert response.status_code == 302
    assert system.remote_actions.filter(allowed=True).count() == 1


# --- the registry administration -----------------------------------------------------------------------------------


def test_registry_admin_searches_audited_and_corrects_through_the_same_form(
    as_user, central_op, registry_admin, register
):
    system = register_managed(central_op, register)
    client = as_user(registry_admin)
    assert client.get("/registry/systems/").status_code == 302  # the registry's own search page
    html = client.get("/registry/admin/?q=U1001").content.decode()
    assert system.reference in html and "Centrale Noord" in html
    assert AuditEntry.objects.filter(action="alarms.searched", actor_id=registry_admin.pk).exists()
    assert "Correct the data" in client.get(f"/registry/systems/{system.reference}/").content.decode()
    assert AuditEntry.objects.filter(action="alarms.viewed", object_id=system.reference).exists()

    form = client.get(f"/registry/systems/{system.reference}/edit/").content.decode()
    assert 'name="user_number"' not in form and "U1001" in form  # the central's numbers are shown, not edited
    data = form_data(register, site_name="Woning A. Peeters", user_number="HACK", alarm_report_number="Z001")
    response = client.post(f"/registry/systems/{system.reference}/edit/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    system.refresh_from_db()
    assert system.site_name == "Woning A. Peeters" and system.user_number == "U1001"
    version = system.versions.get(number=2)
    assert version.kind == "correction" and version.due_on is None
    detail = client.get(f"/registry/systems/{system.reference}/").content.decode()
    assert "Correction by the registry" in detail


def test_kb_7_kb_8_registry_admin_sees_the_late_list_and_exports_it(as_user, central_op, registry_admin, register):
    late = register_managed(
        central_op, register, first_use=(timezone.localdate() - timedelta(days=25)).isoformat()
    )  # 15 days late
    client = as_user(registry_admin)
    html = client.get("/registry/admin/late/").content.decode()
    assert late.reference in html and "Registration declared late" in html and ">15<" in html
    export = client.get("/registry/admin/late/?format=csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0]["reference"] == late.reference and rows[0]["late_days"] == "15"
    assert rows[0]["central"] == "Centrale Noord"
    assert as_user(central_op).get("/registry/admin/late/").status_code == 403


def test_registry_admin_stats_page_shows_tables_bar_charts_and_the_map(as_user, central_op, registry_admin, register):
    from tocsin.geo import maps

    Municipality.objects.filter(nis_code="41081").update(boundary={
        "type": "Polygon", "coordinates": [[[3.78, 50.85], [3.85, 50.85], [3.85, 50.89], [3.78, 50.89], [3.78, 50.85]]],
    })  # fmt: skip
    maps._outlines.cache_clear()
    register_managed(central_op, register)
    register_managed(central_op, register, user_number="U1002", system_type="personal_fixed")
    response = as_user(registry_admin).get("/registry/admin/stats/")
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'id="active">2<', html)
    assert html.count('<svg class="chart bars"') == 3
    assert "Goods alarm: 1 systems" in html and "Fixed personal alarm" in html and "Vlaams Gewest" in html
    assert 'class="map"' in html and "Zottegem (41081): 2 systems" in html
    assert re.search(r"<th scope=\"row\">Zottegem</th><td>41081</td><td class=\"num\">2</td>", html)
    maps._outlines.cache_clear()


def test_kb_7_arc_registry_sets_number_formats_and_assigns_alarm_report_numbers(
    as_user, registry_admin, central_op, company
):
    client = as_user(registry_admin)
    html = client.get("/registry/admin/numbers/").content.decode()
    assert "N001" in html and "Centrale Noord" in html
    response = client.post("/registry/admin/numbers/formats/", {"user_number_pattern": "(", "arn_pattern": "N[0-9]{3}"})
    assert response.status_code == 422
    assert "not a valid pattern" in response.content.decode()
    assert services.config().user_number_pattern == domain.DEFAULT_USER_NUMBER_PATTERN
    response = client.post("/registry/admin/numbers/formats/", {"user_number_pattern": "U[0-9]{4}",
                                                                "arn_pattern": "[NZ][0-9]{3}"})  # fmt: skip
    assert response.status_code == 302
    assert services.config().user_number_pattern == "U[0-9]{4}"

    response = client.post("/registry/admin/numbers/assign/", {"organisation_id": str(company.pk), "number": "N002"})
    assert response.status_code == 422 and "KB-7-ARC" in response.content.decode()
    org = str(central_op.organisation_id)
    response = client.post("/registry/admin/numbers/assign/", {"organisation_id": org, "number": "n002"})
    assert response.status_code == 302
    assert "N002" in client.get("/registry/admin/numbers/").content.decode()
    response = client.post("/registry/admin/numbers/assign/", {"organisation_id": org, "number": "N002"})
    assert response.status_code == 422 and "assigned already" in response.content.decode()


# --- the emergency centre and the police ---------------------------------------------------------------------------


def test_lookup_by_user_number_shows_the_system_and_is_audited_with_its_reason(
    as_user, central_op, dispatcher, register
):
    system = register_managed(central_op, register, system_type="personal_fixed", risk_nature="aggression")
    services.sketch_upload(actor=as_member(central_op), reference=system.reference, content=PNG,
                           content_type="image/png", name="plan.png")  # fmt: skip
    client = as_user(dispatcher)
    page = client.get("/registry/lookup/").content.decode()
    assert "Each lookup is recorded." in page

    response = client.post("/registry/lookup/", {"user_number": "u1001", "reason": ""})
    assert response.status_code == 422 and 'id="l-reason-error"' in response.content.decode()
    assert not AuditEntry.objects.filter(action="alarms.lookup").exists()

    response = client.post("/registry/lookup/", {"user_number": "u1001", "alarm_report_number": "N001",
                                                  "reason": "INC-2026-0042"})  # fmt: skip
    assert response.status_code == 200
    html = response.content.decode()
    assert "1 system found" in html
    for text in ("Markt 1, 9620", "+3293601234", "An Peeters", "Jan Peeters", "Fixed personal alarm", "Centrale Noord"):
        assert text in html
    entry = AuditEntry.objects.get(action="alarms.lookup")
    assert entry.actor_id == dispatcher.pk and entry.object_id == system.reference
    assert entry.data["reason"] == "INC-2026-0042" and entry.data["user_number"] == "U1001" and entry.data["found"] == 1

    # The sketch, through the lookup that showed it (KB-21), for this person only.
    link = re.search(r'href="(/registry/lookup/sketch/[^"]+/)"', html).group(1)
    assert client.get(link).content == PNG
    assert as_user(central_op).get(link).status_code == 404

    # By address.
    html = client.post("/registry/lookup/", {"address": "Markt 1, 9620", "reason": "INC-2"}).content.decode()
    assert "1 system found" in html
    assert AuditEntry.objects.filter(action="alarms.lookup").count() == 2

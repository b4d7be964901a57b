"""The public portal of alarm-system users (KB-7-USER): sign in with a code, register, change, deregister,
maintenance (KB-8) and remote-action consents (KB-6), each refusal shown next to its field with its rule."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import dateformat, timezone, translation

from tests.alarms.conftest import USER
from tests.citizens.conftest import solved
from tocsin.alarms import services
from tocsin.alarms.models import AlarmSystem, Maintenance, RemoteConsent, SystemVersion, UserCode
from tocsin.alarms.services import as_member, as_user

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _client() -> Client:
    return Client(headers={"Accept-Language": "en"})


def _form(**overrides: Any) -> dict[str, Any]:
    """The registration form as a person fills it in without JavaScript (the site typed, not chosen)."""
    data: dict[str, Any] = {
        "site_name": "Woning Peeters",
        "site_address": "Markt 1, 9620",
        "site_address_id": "",
        "site_phone": "09 360 12 34",
        "user_name": "An Peeters",
        "user_address": "Markt 1, 9620 Zottegem",
        "user_mobile": "",
        "user_email": USER,
        "property_nature": "dwelling",
        "risk_nature": "burglary",
        "system_type": "goods",
        "in_building": "on",
        "siren": "on",
        "siren_alarm_s": "180",
        "siren_sabotage_s": "480",
        "light": "on",
        "light_until_switch_off": "on",
        "first_use": (timezone.localdate() - timedelta(days=3)).isoformat(),
        "installer": "Beveiliging Janssens",
        "access_code_handed": "on",
        "components_safe": "on",
        "contact_1_name": "Jan Peeters",
        "contact_1_phone": "0478 11 12 22",
        "contact_1_has_access": "on",
        "contact_1_knows_system": "on",
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)  # an unticked box is not sent
        else:
            data[key] = value
    return data


def _registered(values, contact: str = USER, **overrides: Any) -> AlarmSystem:
    return services.system_register(actor=as_user(contact), values=values(**overrides))


def _error(html: str, field: str) -> str:
    """The text of the error shown next to a field (empty when none)."""
    match = re.search(rf'id="id_{field}-error">(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(1)) if match else ""


# --- signing in -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_kb_7_user_signs_in_with_a_code_sent_by_e_mail(register, peers):
    client = _client()
    landing = client.get("/alarm/")
    html = landing.content.decode()
    assert landing.status_code == 200 and "data-pow" in html and "10" in html
    sent = client.post("/alarm/sign-in/", {"contact": " an.peeters@Example.BE ", **solved(client)})
    assert sent.status_code == 200 and 'name="code"' in sent.content.decode()
    [code] = peers.codes_for(USER)
    wrong = "000000" if code != "000000" else "111111"
    refused = client.post("/alarm/sign-in/", {"attempt": "1", "code": wrong})
    assert refused.status_code == 422 and 'aria-describedby="code-error"' in refused.content.decode()
    signed_in = client.post("/alarm/sign-in/", {"attempt": "1", "code": code})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/alarm/systems/"
    assert client.session["alarm_user"]["contact"] == USER
    page = client.get("/alarm/systems/")
    assert page.status_code == 200 and USER in page.content.decode()
    # The code is good once.
    assert client.post("/alarm/sign-in/", {"attempt": "1", "code": code}).status_code == 422


@pytest.mark.django_db(transaction=True)
def test_kb_7_user_signs_in_with_the_link_only_on_a_button_press(register, peers):
    client = _client()
    client.post("/alarm/sign-in/", {"contact": USER, **solved(client)})
    peers.codes_for(USER)  # delivers the e-mail
    [mail] = [m for _f, rcpts, m in peers.smtp.mailbox.messages if USER in rcpts]
    link = re.search(r"(/alarm/sign-in/link/[\w-]+/)", mail.get_body(("plain",)).get_content()).group(1)
    browser = _client()
    shown = browser.get(link)  # what a mail scanner does: nothing is used up
    assert shown.status_code == 200 and "<form" in shown.content.decode()
    assert UserCode.objects.get().used_at is None and "alarm_user" not in browser.session
    pressed = browser.post(link)
    assert pressed.status_code == 302 and pressed["Location"] == "/alarm/systems/"
    assert browser.session["alarm_user"]["contact"] == USER
    again = _client().post(link)
    assert again.status_code == 422 and "used already" in again.content.decode()


def test_sign_in_refuses_a_bad_contact_or_a_missing_proof_of_work_on_the_page(register, crisis_centre):
    client = _client()
    bad = client.post("/alarm/sign-in/", {"contact": "not a number", **solved(client)})
    html = bad.content.decode()
    assert bad.status_code == 422 and 'aria-describedby="contact-error"' in html
    no_pow = client.post("/alarm/sign-in/", {"contact": USER, "challenge": "", "nonce": ""})
    assert no_pow.status_code == 422 and "anti-abuse" in no_pow.content.decode()
    assert not UserCode.objects.exists()


def test_pages_need_a_signed_in_user_and_the_session_lasts_one_hour(register, values, user_portal):
    system = _registered(values)
    anonymous = _client().get(f"/alarm/systems/{system.reference}/")
    assert anonymous.status_code == 302 and anonymous["Location"] == "/alarm/#sign-in"
    client = user_portal()
    assert client.get("/alarm/systems/").status_code == 200
    session = client.session
    session["alarm_user"] = {"contact": USER, "at": time.time() - 3601}
    session.save()
    assert client.get("/alarm/systems/").status_code == 302
    assert _client().post(f"/alarm/systems/{system.reference}/deregister/", {"out_of_use": ""}).status_code == 302
    assert AlarmSystem.objects.get().status == "active"


def test_sign_out_forgets_the_user(register, user_portal):
    client = user_portal()
    assert client.post("/alarm/sign-out/").status_code == 302
    assert "alarm_user" not in client.session
    assert client.get("/alarm/systems/").status_code == 302


# --- registering (KB-7-USER) and the rules on the form ----------------------------------------------


def test_kb_7_user_registers_every_field_with_the_typed_address_resolved(register, user_portal):
    client = user_portal()
    page = client.get("/alarm/systems/new/")
    html = page.content.decode()
    assert page.status_code == 200 and f'value="{USER}"' in html
    for name in ("site_name", "site_address", "site_phone", "siren_alarm_s", "components_safe", "contact_3_phone"):
        assert f'<label for="id_{name}">' in html
    response = client.post("/alarm/systems/new/", _form(contact_2_name="Piet", contact_2_phone="0479 00 00 01"))
    system = AlarmSystem.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/alarm/systems/{system.reference}/"
    assert system.site_address_id == register["home"].pk and system.site_text == "Markt 1, 9620"
    assert system.central_id is None and system.user_email == USER and system.site_phone == "+3293601234"
    assert (system.siren_alarm_s, system.siren_sabotage_s, system.light_until_switch_off) == (180, 480, True)
    assert [c["name"] for c in system.contacts] == ["Jan Peeters", "Piet"] and system.contacts[1]["has_access"] is False
    [version] = SystemVersion.objects.filter(system=system)
    assert version.kind == "registration" and version.by_label == f"user {USER}" and version.late_days == 0
    detail = client.get(response["Location"]).content.decode()
    assert system.reference in detail and "Registered: your alarm system has the reference" in detail


def test_kb_7_user_registering_late_is_recorded_and_shown(register, user_portal):
    client = user_portal()
    first_use = (timezone.localdate() - timedelta(days=14)).isoformat()
    response = client.post("/alarm/systems/new/", _form(first_use=first_use), follow=True)
    system = AlarmSystem.objects.get()
    assert system.registration_late_days == 4
    assert "4 days after the 10-day deadline (KB-7)" in response.content.decode()


def test_kb_17_siren_over_3_minutes_refused_next_to_the_field_and_nothing_written(register, user_portal):
    response = user_portal().post("/alarm/systems/new/", _form(siren_alarm_s="200"))
    html = response.content.decode()
    assert response.status_code == 422
    assert "KB-17" in _error(html, "siren_alarm_s")
    assert 'aria-describedby="id_siren_alarm_s-help id_siren_alarm_s-error"' in html
    assert 'href="#id_siren_alarm_s"' in html and "Nothing was registered" in html  # the summary on top
    assert 'value="200"' in html and 'value="Woning Peeters"' in html  # what was typed stays
    assert AlarmSystem.objects.count() == 0 and SystemVersion.objects.count() == 0


def test_kb_17_sabotage_duration_over_8_minutes_refused(register, user_portal):
    html = user_portal().post("/alarm/systems/new/", _form(siren_sabotage_s="600")).content.decode()
    assert "KB-17" in _error(html, "siren_sabotage_s") and AlarmSystem.objects.count() == 0


def test_kb_18_siren_without_an_outdoor_light_refused(register, user_portal):
    html = user_portal().post("/alarm/systems/new/", _form(light=None, light_until_switch_off=None)).content.decode()
    assert "KB-18" in _error(html, "light") and AlarmSystem.objects.count() == 0


def test_kb_18_light_that_does_not_stay_lit_refused(register, user_portal):
    html = user_portal().post("/alarm/systems/new/", _form(light_until_switch_off=None)).content.decode()
    assert "KB-18" in _error(html, "light_until_switch_off") and AlarmSystem.objects.count() == 0


def test_kb_2_system_without_siren_light_or_notification_is_out_of_scope_and_nothing_registered(register, user_portal):
    before = AlarmSystem.objects.count()
    response = user_portal().post(
        "/alarm/systems/new/",
        _form(siren=None, siren_alarm_s="", siren_sabotage_s="", light=None, light_until_switch_off=None),
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "Nothing was registered: this system falls outside the decree (KB-2)." in html
    assert 'id="components-error"' in html and 'href="#components"' in html
    assert AlarmSystem.objects.count() == before and SystemVersion.objects.count() == 0


def test_kb_2_goods_alarm_not_in_a_building_is_out_of_scope(register, user_portal):
    html = user_portal().post("/alarm/systems/new/", _form(in_building=None)).content.decode()
    assert "KB-2" in _error(html, "in_building") and "Nothing was registered" in html
    assert AlarmSystem.objects.count() == 0


def test_kb_9_components_safe_must_be_declared(register, user_portal):
    html = user_portal().post("/alarm/systems/new/", _form(components_safe=None)).content.decode()
    assert "KB-9" in _error(html, "components_safe") and AlarmSystem.objects.count() == 0


def test_kb_24_public_fixed_personal_alarm_needs_visual_verification(register, user_portal):
    data = _form(system_type="personal_fixed", property_nature="shop", risk_nature="hold_up", publicly_accessible="on")
    html = user_portal().post("/alarm/systems/new/", data).content.decode()
    assert "KB-24" in _error(html, "visual_verification") and AlarmSystem.objects.count() == 0


def test_kb_7_user_every_problem_at_once_with_its_rule_and_the_contact_row(register, user_portal):
    future = (timezone.localdate() + timedelta(days=2)).isoformat()
    data = _form(site_name="", first_use=future, site_address="Nergensstraat 99, 9620", contact_1_phone="12")
    html = user_portal().post("/alarm/systems/new/", data).content.decode()
    assert "This field is required. (KB-7-USER)" in _error(html, "site_name")
    assert "KB-7-USER" in _error(html, "first_use")
    assert "Not found in the address register" in _error(html, "site_address")
    assert "not a valid phone number" in _error(html, "contact_1_phone")
    assert AlarmSystem.objects.count() == 0


def test_kb_7_user_keeps_the_signed_in_contact_as_the_users(register, user_portal):
    html = user_portal().post("/alarm/systems/new/", _form(user_email="iemand@example.be")).content.decode()
    assert "Keep the e-mail address or mobile number you signed in with" in _error(html, "user_email")
    assert AlarmSystem.objects.count() == 0


def test_a_stale_address_id_does_not_win_over_the_retyped_address(register, user_portal):
    data = _form(site_address="Kouter 12, 9000", site_address_id=str(register["home"].pk))
    user_portal().post("/alarm/systems/new/", data)
    assert AlarmSystem.objects.get().site_address_id == register["work"].pk


def test_null_characters_and_nonsense_give_form_errors_never_a_500(register, user_portal):
    client = user_portal()
    response = client.post("/alarm/systems/new/", _form(site_name="a\x00b", siren_alarm_s="abc", first_use="gisteren"))
    assert response.status_code == 422
    response = client.post("/alarm/systems/new/", _form(first_use="gisteren", siren_alarm_s="abc"))
    html = response.content.decode()
    assert response.status_code == 422 and "YYYY-MM-DD" in _error(html, "first_use")
    assert "whole number" in _error(html, "siren_alarm_s")
    assert client.get("/alarm/systems/?page=x").status_code == 200
    assert AlarmSystem.objects.count() == 0


# --- the list, changes (KB-7) and deregistration ----------------------------------------------------


def test_kb_7_user_list_shows_status_and_deadlines(register, values, user_portal):
    system = _registered(values)
    html = user_portal().get("/alarm/systems/").content.decode()
    assert system.reference in html and "Woning Peeters" in html and "Next maintenance due by" in html


def test_kb_7_user_change_is_a_new_version_with_what_changed(register, values, user_portal):
    system = _registered(values)
    client = user_portal()
    page = client.get(f"/alarm/systems/{system.reference}/").content.decode()
    assert 'value="Woning Peeters"' in page and 'value="Markt 1, 9620"' in page  # the change form, prefilled
    changed_on = (timezone.localdate() - timedelta(days=1)).isoformat()
    data = _form(site_name="Huis Peeters", siren_alarm_s="120", changed_on=changed_on, user_mobile="0470 12 34 56")
    data["site_address_id"] = str(register["home"].pk)  # as the prefilled form sends it
    response = client.post(f"/alarm/systems/{system.reference}/change/", data)
    assert response.status_code == 302
    version = SystemVersion.objects.get(system=system, number=2)
    assert version.kind == "change" and version.event_on.isoformat() == changed_on and version.late_days == 0
    assert version.changes == {"site_name": ["Woning Peeters", "Huis Peeters"], "siren_alarm_s": [180, 120]}
    html = client.get(response["Location"]).content.decode()
    assert "Change recorded (version 2)" in html
    assert "<del>Woning Peeters</del> → <ins>Huis Peeters</ins>" in html and "<del>180 s</del>" in html
    # The same data again changes nothing and records nothing.
    client.post(f"/alarm/systems/{system.reference}/change/", data)
    assert SystemVersion.objects.filter(system=system).count() == 2


def test_kb_17_refused_change_writes_nothing(register, values, user_portal):
    system = _registered(values)
    response = user_portal().post(f"/alarm/systems/{system.reference}/change/", _form(siren_alarm_s="240"))
    html = response.content.decode()
    assert response.status_code == 422 and "KB-17" in _error(html, "siren_alarm_s")
    assert "Nothing was changed" in html and "<details open" in html
    system.refresh_from_db()
    assert system.siren_alarm_s == 180 and system.version == 1


def test_kb_7_user_change_cannot_be_dated_in_the_future(register, values, user_portal):
    system = _registered(values)
    future = (timezone.localdate() + timedelta(days=1)).isoformat()
    html = user_portal().post(f"/alarm/systems/{system.reference}/change/", _form(site_name="X", changed_on=future))
    assert html.status_code == 422 and "KB-7-USER" in _error(html.content.decode(), "changed_on")
    assert SystemVersion.objects.count() == 1


def test_kb_7_user_deregisters_within_10_days(register, values, user_portal):
    system = _registered(values)
    client = user_portal()
    future = (timezone.localdate() + timedelta(days=1)).isoformat()
    refused = client.post(f"/alarm/systems/{system.reference}/deregister/", {"out_of_use": future})
    assert refused.status_code == 422 and "KB-7-USER" in _error(refused.content.decode(), "out_of_use")
    out_of_use = timezone.localdate().isoformat()
    response = client.post(f"/alarm/systems/{system.reference}/deregister/", {"out_of_use": out_of_use})
    assert response.status_code == 302
    system.refresh_from_db()
    assert system.status == "deregistered" and system.out_of_use.isoformat() == out_of_use
    assert SystemVersion.objects.get(system=system, number=2).kind == "deregistration"
    html = client.get(response["Location"]).content.decode()
    assert "deregistered" in html and 'id="change-form"' not in html and 'id="deregister"' not in html
    again = client.post(f"/alarm/systems/{system.reference}/deregister/", {"out_of_use": out_of_use})
    assert again.status_code == 422 and "deregistered already" in again.content.decode()


def test_kb_7_user_confirms_a_system_its_central_released(register, mvalues, central_op, user_portal):
    system = services.system_register(actor=as_member(central_op), values=mvalues())
    services.system_release(actor=as_member(central_op), reference=system.reference)
    client = user_portal()
    listing = client.get("/alarm/systems/").content.decode()
    with translation.override("en"):
        due = dateformat.format(timezone.localdate() + timedelta(days=10), "j F Y")
    assert f"Confirm your registration by {due}" in listing and system.reference in listing
    assert 'id="confirm"' in client.get(f"/alarm/systems/{system.reference}/").content.decode()
    response = client.post(f"/alarm/systems/{system.reference}/confirm/")
    assert response.status_code == 302
    system.refresh_from_db()
    assert system.handover_due is None
    version = SystemVersion.objects.filter(system=system).latest("number")
    assert version.kind == "registration" and version.by_label == f"user {USER}"


# --- maintenance (KB-8) and remote-action consents (KB-6) ----------------------------------------


def test_kb_8_user_records_a_maintenance(register, values, user_portal):
    system = _registered(values)
    client = user_portal()
    future = (timezone.localdate() + timedelta(days=1)).isoformat()
    refused = client.post(f"/alarm/systems/{system.reference}/maintenance/", {"done_on": future})
    assert refused.status_code == 422 and "KB-8" in _error(refused.content.decode(), "done_on")
    today = timezone.localdate()
    data = {"done_on": today.isoformat(), "company_name": "Beveiliging Janssens", "notes": "batterij"}
    assert client.post(f"/alarm/systems/{system.reference}/maintenance/", data).status_code == 302
    system.refresh_from_db()
    assert system.last_maintenance == today and Maintenance.objects.get().company_name == "Beveiliging Janssens"
    assert "batterij" in client.get(f"/alarm/systems/{system.reference}/").content.decode()


def test_kb_6_user_uploads_and_withdraws_a_written_consent(register, values, company, user_portal):
    system = _registered(values)
    client = user_portal()
    today = timezone.localdate().isoformat()
    form = client.get(f"/alarm/systems/{system.reference}/").content.decode()
    assert f'<option value="{company.pk}">{company.name}</option>' in form
    too_much = {"party_id": company.pk, "actions": ["arm"], "purposes": ["repair"], "given_on": today,
                "document": SimpleUploadedFile("c.pdf", PDF, "application/pdf")}  # fmt: skip
    refused = client.post(f"/alarm/systems/{system.reference}/consents/", too_much)
    assert refused.status_code == 422 and "KB-6" in _error(refused.content.decode(), "actions")
    not_a_pdf = {
        **too_much,
        "actions": ["read"],
        "document": SimpleUploadedFile("c.pdf", b"MZ\x90\x00", "application/pdf"),
    }
    assert "PDF, PNG or JPEG" in _error(client.post(f"/alarm/systems/{system.reference}/consents/", not_a_pdf)
                                        .content.decode(), "document")  # fmt: skip
    assert not RemoteConsent.objects.exists()
    ok = {**too_much, "actions": ["program", "read"],
          "document": SimpleUploadedFile("toestemming.pdf", PDF, "application/octet-stream")}  # fmt: skip
    assert client.post(f"/alarm/systems/{system.reference}/consents/", ok).status_code == 302
    consent = RemoteConsent.objects.get()
    assert consent.document_type == "application/pdf" and consent.actions == ["program", "read"]
    document = client.get(f"/alarm/systems/{system.reference}/consents/{consent.pk}/document/")
    assert document.status_code == 200 and document.content == PDF and "attachment" in document["Content-Disposition"]
    client.post(f"/alarm/systems/{system.reference}/consents/{consent.pk}/withdraw/")
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None
    twice = client.post(f"/alarm/systems/{system.reference}/consents/{consent.pk}/withdraw/", follow=True)
    assert twice.status_code == 200 and "withdrawn already" in twice.content.decode()


# --- tenant isolation ------------------------------------------------------------------------------


def test_another_users_system_answers_404_everywhere(register, values, central_op, mvalues, user_portal, company):
    theirs = _registered(values, "other@example.be", user_email="other@example.be", user_mobile="")
    managed = services.system_register(actor=as_member(central_op), values=mvalues())  # user_email == USER
    consent = services.consent_add(
        actor=as_user("other@example.be"), reference=theirs.reference, party_id=company.pk, actions=["read"],
        purposes=["repair"], given_on=timezone.localdate(), document=PDF, document_type="application/pdf",
        document_name="c.pdf",
    )  # fmt: skip
    client = user_portal()
    listing = client.get("/alarm/systems/").content.decode()
    assert theirs.reference not in listing and managed.reference not in listing
    today = timezone.localdate().isoformat()
    for system in (theirs, managed):
        base = f"/alarm/systems/{system.reference}"
        assert client.get(f"{base}/").status_code == 404
        assert client.post(f"{base}/change/", _form(site_name="Van mij")).status_code == 404
        assert client.post(f"{base}/deregister/", {"out_of_use": today}).status_code == 404
        assert client.post(f"{base}/maintenance/", {"done_on": today}).status_code == 404
        assert client.post(f"{base}/confirm/").status_code == 404
    assert client.get(f"/alarm/systems/{theirs.reference}/consents/{consent.pk}/document/").status_code == 404
    assert client.post(f"/alarm/systems/{theirs.reference}/consents/{consent.pk}/withdraw/").status_code == 404
    assert client.get("/alarm/systems/NOSUCHREF/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "active" and theirs.site_name == "Woning Peeters" and theirs.version == 1
    assert not Maintenance.objects.exists() and RemoteConsent.objects.get().withdrawn_at is None


@pytest.mark.parametrize("language", ["nl", "fr", "de", "en"])
def test_the_pages_render_in_each_national_language(register, values, user_portal, language):
    system = _registered(values)
    client = user_portal()
    for url in ("/alarm/", "/alarm/systems/", "/alarm/systems/new/", f"/alarm/systems/{system.reference}/"):
        page = client.get(url, headers={"Accept-Language": language})
        assert page.status_code == 200 and f'<html lang="{language}">' in page.content.decode()
    refused = client.post("/alarm/systems/new/", _form(siren_alarm_s="999"), headers={"Accept-Language": language})
    assert refused.status_code == 422 and "KB-17" in _error(refused.content.decode(), "siren_alarm_s")

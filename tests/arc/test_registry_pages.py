"""The registry administration's pages for the alarm centrals' work (issue 9): the approved verification methods
(KB-13, KB-23), the direct emergency numbers (KB-10) and the KB-11 exception (refused for personal alarms, KB-20);
bad input refused beside its field with nothing written; only the registry administration opens them."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.conftest import portal_client
from tests.organisations.factories import UserFactory
from tocsin.alarms import services as registry_services
from tocsin.alarms.models import AlarmSystem
from tocsin.alarms.services import as_member
from tocsin.arc.models import DirectNumber, VerificationMethod
from tocsin.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def error_beside(html: str, field_id: str) -> str:
    match = re.search(rf'<p class="error" id="{field_id}-error1"[^>]*>(.*?)</p>', html, re.S)
    assert match, f"no error beside {field_id}"
    return text(match.group(1))


def test_the_registry_home_page_links_to_the_pages(registry_admin):
    html = portal_client(registry_admin).get("/registry/admin/").content.decode()
    for path in ("/registry/admin/arc/methods/", "/registry/admin/arc/numbers/", "/registry/admin/arc/exception/"):
        assert f'href="{path}"' in html


# --- verification methods ------------------------------------------------------------------------------------------


def test_kb_13_kb_23_the_registry_adds_changes_and_withdraws_an_approved_method(registry_admin):
    client = portal_client(registry_admin)
    page = client.get("/registry/admin/arc/methods/").content.decode()
    assert "SEQ" in page and "Sequential detection" in page and 'href="/registry/admin/arc/methods/VIS/"' in page

    response = client.post("/registry/admin/arc/methods/", {"code": "thr", "name": "Thermal camera", "goods": "1",
                                                            "active": "1", "decision": "MB 2024-03-01"})  # fmt: skip
    assert response.status_code == 302
    row = VerificationMethod.objects.get(code="THR")
    assert (row.name, row.goods, row.personal, row.active, row.decision) == (
        "Thermal camera", True, False, True, "MB 2024-03-01")  # fmt: skip

    form = client.get("/registry/admin/arc/methods/THR/").content.decode()
    assert 'value="Thermal camera"' in form and 'id="m-goods" name="goods" value="1" checked' in form
    response = client.post("/registry/admin/arc/methods/THR/", {"name": "Thermal camera", "goods": "1",
                                                                "personal": "1"})  # fmt: skip
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.personal, row.active) == (True, False)  # withdrawn: inactive, never deleted
    assert "Withdrawn" in text(client.get("/registry/admin/arc/methods/").content.decode())
    assert AuditEntry.objects.filter(action="arc.method_set", object_id="THR").count() == 2


def test_a_method_refused_beside_its_fields_and_nothing_written(registry_admin):
    client = portal_client(registry_admin)
    before = list(VerificationMethod.objects.order_by("code").values_list("code", "name", "goods", "active"))
    response = client.post("/registry/admin/arc/methods/", {"code": "x!", "name": "", "active": "1"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "2 to 8 letters or digits" in error_beside(html, "m-code")
    assert "Give the method's name" in error_beside(html, "m-name")
    assert "goods alarms, personal alarms or both" in error_beside(html, "m-goods")
    assert "The method was not added." in html and 'href="#m-code"' in html
    # Adding never overwrites an existing method.
    response = client.post("/registry/admin/arc/methods/", {"code": "seq", "name": "Other", "goods": "1",
                                                            "active": "1"})  # fmt: skip
    assert response.status_code == 422
    assert "This code exists" in error_beside(response.content.decode(), "m-code")
    response = client.post("/registry/admin/arc/methods/AUD/", {"name": "", "goods": "1", "active": "1"})
    assert response.status_code == 422
    assert "Give the method's name" in error_beside(response.content.decode(), "m-name")
    assert list(VerificationMethod.objects.order_by("code").values_list("code", "name", "goods", "active")) == before
    assert client.get("/registry/admin/arc/methods/NOPE/").status_code == 404


# --- direct emergency numbers ----------------------------------------------------------------------------------------


def test_kb_10_the_registry_assigns_changes_and_withdraws_a_direct_emergency_number(
    registry_admin, central, other_central, emergency
):
    client = portal_client(registry_admin)
    page = client.get("/registry/admin/arc/numbers/").content.decode()
    assert "Centrale Noord" in page and "Centrale Zuid" in page and emergency.name in page
    response = client.post("/registry/admin/arc/numbers/", {"central": str(central.pk), "number": "0800 11 223",
                                                            "emergency_centre": str(emergency.pk),
                                                            "decision": "MB 2024-05-02"})  # fmt: skip
    assert response.status_code == 302
    row = DirectNumber.objects.get(central=central)
    assert (row.number, row.emergency_centre_id, row.decision) == ("+3280011223", emergency.pk, "MB 2024-05-02")
    listing = text(client.get("/registry/admin/arc/numbers/").content.decode())
    assert f"Centrale Noord +3280011223 {emergency.name}" in listing

    form = client.get(f"/registry/admin/arc/numbers/?central={central.pk}").content.decode()
    assert "Change a direct emergency number" in form and 'value="+3280011223"' in form
    client.post("/registry/admin/arc/numbers/", {"central": str(central.pk), "number": "0800 99 999",
                                                 "emergency_centre": str(emergency.pk)})  # fmt: skip
    assert DirectNumber.objects.get(central=central).number == "+3280099999"

    assert client.post(f"/registry/admin/arc/numbers/{central.pk}/withdraw/").status_code == 302
    assert not DirectNumber.objects.exists()
    assert client.post(f"/registry/admin/arc/numbers/{central.pk}/withdraw/").status_code == 404
    assert client.get(f"/registry/admin/arc/numbers/{central.pk}/withdraw/").status_code == 405


def test_kb_10_a_number_refused_beside_its_fields_and_nothing_written(registry_admin, central, emergency):
    client = portal_client(registry_admin)
    response = client.post("/registry/admin/arc/numbers/", {"central": str(emergency.pk), "number": "call us",
                                                            "emergency_centre": str(central.pk)})  # fmt: skip
    assert response.status_code == 422
    html = response.content.decode()
    assert "Choose an alarm central" in error_beside(html, "n-central")
    assert "Give the number" in error_beside(html, "n-number")
    assert "Choose an emergency centre" in error_beside(html, "n-emergency-centre")
    assert 'value="call us"' in html and "The number was not saved." in html
    response = client.post("/registry/admin/arc/numbers/", {"central": "x", "number": "", "emergency_centre": ""})
    assert response.status_code == 422
    assert not DirectNumber.objects.exists()


# --- the KB-11 exception ---------------------------------------------------------------------------------------------


def test_kb_11_the_registry_marks_a_goods_alarm_that_signals_the_emergency_number_directly(
    registry_admin, central_op, mvalues
):
    system = registry_services.system_register(actor=as_member(central_op), values=mvalues(site_name="Politiehuis"))
    client = portal_client(registry_admin)
    page = client.get(f"/registry/admin/arc/exception/?reference={system.reference.lower()}").content.decode()
    assert "Politiehuis" in page and f'name="reference" value="{system.reference}"' in page
    assert AuditEntry.objects.filter(action="alarms.viewed", object_id=system.reference).exists()  # audited
    response = client.post("/registry/admin/arc/exception/", {"reference": system.reference,
                                                              "direct_signal_exception": "1"})  # fmt: skip
    assert response.status_code == 302
    assert AlarmSystem.objects.get(pk=system.pk).direct_signal_exception
    listing = client.get("/registry/admin/arc/exception/").content.decode()
    assert f'href="?reference={system.reference}"' in listing
    client.post("/registry/admin/arc/exception/", {"reference": system.reference})  # cleared
    assert not AlarmSystem.objects.get(pk=system.pk).direct_signal_exception


def test_kb_20_a_personal_alarm_is_refused_the_exception_beside_the_field(registry_admin, central_op, mvalues):
    system = registry_services.system_register(
        actor=as_member(central_op),
        values=mvalues(system_type="personal_fixed", property_nature="shop", risk_nature="aggression"),
    )
    client = portal_client(registry_admin)
    response = client.post("/registry/admin/arc/exception/", {"reference": system.reference,
                                                              "direct_signal_exception": "1"})  # fmt: skip
    assert response.status_code == 422
    html = response.content.decode()
    beside = error_beside(html, "x-direct-signal-exception")
    assert "never go to the emergency number directly" in beside and "KB-20" in beside
    assert "The exception was not saved." in html and "KB-20" in text(html[html.index('class="summary') :][:600])
    assert not AlarmSystem.objects.get(pk=system.pk).direct_signal_exception


def test_an_unknown_reference_is_said_beside_the_field(registry_admin):
    client = portal_client(registry_admin)
    html = client.get("/registry/admin/arc/exception/?reference=AS0000000").content.decode()
    assert "No such alarm system." in error_beside(html, "x-reference")
    response = client.post("/registry/admin/arc/exception/", {"reference": "AS0000000", "direct_signal_exception": "1"})
    assert response.status_code == 422
    assert "No such alarm system." in error_beside(response.content.decode(), "x-reference")
    assert "Give the reference" in error_beside(
        client.get("/registry/admin/arc/exception/?reference=").content.decode(), "x-reference"
    )


# --- who may open them -----------------------------------------------------------------------------------------------


def test_only_the_registry_administration_opens_the_pages(
    registry_admin, central_op, dispatcher, central, emergency, mvalues
):
    system = registry_services.system_register(actor=as_member(central_op), values=mvalues())
    viewer = UserFactory(organisation=registry_admin.organisation, email="viewer@meldpunt.be", roles=["viewer"])
    writes = (
        ("/registry/admin/arc/methods/", {"code": "ZZZ", "name": "x", "goods": "1", "active": "1"}),
        ("/registry/admin/arc/methods/SEQ/", {"name": "x", "goods": "1", "active": "1"}),
        ("/registry/admin/arc/numbers/", {"central": str(central.pk), "number": "0800 11 223",
                                          "emergency_centre": str(emergency.pk)}),
        ("/registry/admin/arc/exception/", {"reference": system.reference, "direct_signal_exception": "1"}),
    )  # fmt: skip
    for user in (central_op, dispatcher, viewer):
        client = portal_client(user)
        for path in ("/registry/admin/arc/methods/", "/registry/admin/arc/numbers/", "/registry/admin/arc/exception/",
                     "/registry/admin/arc/methods/SEQ/"):  # fmt: skip
            assert client.get(path).status_code == 403, (user.email, path)
        for path, data in writes:
            assert client.post(path, data).status_code == 403, (user.email, path)
    assert not VerificationMethod.objects.filter(code="ZZZ").exists()
    assert VerificationMethod.objects.get(code="SEQ").name.startswith("Sequential")
    assert not DirectNumber.objects.exists() and not AlarmSystem.objects.get(pk=system.pk).direct_signal_exception

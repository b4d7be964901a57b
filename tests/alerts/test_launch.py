"""An alert from draft to the handsets: preview, typed confirmation, one transaction, CAP, Update and Cancel
(BA-2, BA-4-T1, BA-4-T2, BA-7-BIN, BA-7-LISTS)."""

from __future__ import annotations

from pathlib import Path

import pytest
import xmlschema

from tests.delivery.test_sms_smpp import _drain
from tests.organisations.factories import UserFactory
from tocsin.alerts import services
from tocsin.alerts.models import Alert
from tocsin.audiences import services as audiences
from tocsin.citizens.models import CitizenAddress, ContactPoint, Registration
from tocsin.delivery.models import Delivery, SendRequest
from tocsin.organisations.domain import RuleError
from tocsin.protocols import cap

pytestmark = pytest.mark.django_db(transaction=True)
SCHEMA = xmlschema.XMLSchema(str(Path(cap.__file__).parent / "schemas" / "CAP-v1.2.xsd"))
TEXTS = {
    "nl": {"headline": "Hoogwater", "sms": "Hoogwater in Zottegem: blijf binnen.", "email_body": "Blijf binnen."},
    "fr": {"headline": "Crue", "sms": "Crue à Zottegem : restez à l'intérieur.", "email_body": "Restez dedans."},
}


def _citizen(register, name, language, mobile, email=""):
    r = Registration.objects.create(name=name, language=language, status="active", consent_version="2026-11",
                                    consent_at="2026-11-01T00:00Z")  # fmt: skip
    ContactPoint.objects.create(registration=r, kind="mobile", value=mobile, sms=True, verified_at="2026-11-01T00:00Z")
    if email:
        ContactPoint.objects.create(registration=r, kind="email", value=email, verified_at="2026-11-01T00:00Z")
    a = register["home"]
    CitizenAddress.objects.create(registration=r, label="home", address_id=a.pk, text=a.label(), postcode=a.postcode,
                                  nis_code=a.municipality_id, lon=a.lon, lat=a.lat, cell=a.cell)  # fmt: skip
    return r


@pytest.fixture
def operator(municipality):
    return UserFactory(organisation=municipality, email="operator@zottegem.be", roles=["operator"])


@pytest.fixture
def audience(register, peers, operator):
    _citizen(register, "An", "nl", "+32470100001", "an@example.be")
    _citizen(register, "Benoît", "fr", "+32470100002")
    _citizen(register, "Chris", "de", "+32470100003")  # no German text: gets the first language of the alert
    crisis_team = audiences.contact_list_create(actor=operator, name="Crisiscel")
    audiences.contact_create(actor=operator, list_id=crisis_team.pk, name="Brandweer", mobile="0470100009",
                             language="fr")  # fmt: skip
    audiences.contact_create(actor=operator, list_id=crisis_team.pk, name="An (also on the list)", mobile="0470100001")
    return {"list": crisis_team.pk, "area": {"type": "municipalities", "nis_codes": ["41081"]}}


def test_ba_2_alert_reaches_lists_and_citizens_once_each_in_their_language(operator, audience, peers):
    alert = services.alert_create(actor=operator, event="Overstroming", channels=["sms", "email"], texts=TEXTS,
                                  targets={"lists": [audience["list"]], "areas": [audience["area"]]})  # fmt: skip
    preview = services.alert_preview(actor=operator, alert_id=alert.pk)
    assert preview["recipients"] == {"sms": {"nl": 2, "fr": 2}, "email": {"nl": 1}}  # An once, Chris in nl
    assert preview["total"] == 5 and preview["sms_units"] == 4 and preview["confirmation"] == "5"
    SCHEMA.validate(preview["cap"])

    with pytest.raises(RuleError) as wrong:
        services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="4")
    assert wrong.value.field == "confirmation"
    assert not SendRequest.objects.exists()  # nothing half-launched

    launched = services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="5")
    assert launched.state == "launched" and len(launched.send_request_ids) == 2
    assert Delivery.objects.filter(channel="sms").count() == 4 and Delivery.objects.filter(channel="email").count() == 1
    document = cap.parse(launched.cap_xml.encode())
    assert [i.language for i in document.infos] == ["nl-BE", "fr-BE"]
    assert document.infos[0].areas[0].geocodes == [("NIS", "41081")]

    _drain(timeout=10)
    texts = {r.destination.lstrip("+"): r.short_message.decode("latin-1") for r in peers.smsc.received}
    assert texts["32470100002"].startswith("Crue") and texts["32470100003"].startswith("Hoogwater")
    assert texts["32470100009"].startswith("Crue")  # the firefighter's list language


def test_ba_7_lists_sending_again_and_again_to_own_list(operator, audience, peers):
    for _ in range(3):
        alert = services.alert_create(actor=operator, event="Stormschade", channels=["sms"],
                                      texts=TEXTS, targets={"lists": [audience["list"]]})  # fmt: skip
        services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="2")
    assert Alert.objects.filter(state="launched").count() == 3


def test_an_exercise_reaches_only_the_test_list_and_says_so_in_each_language(operator, audience, peers):
    test_list = audiences.contact_list_create(actor=operator, name="Testlijst", is_test=True)
    audiences.contact_create(actor=operator, list_id=test_list.pk, name="Tester", mobile="0470100077", language="fr")
    fields = {"event": "Maandelijkse test", "status": "Exercise", "channels": ["sms"], "texts": TEXTS}
    for targets in ({"lists": [audience["list"]]}, {"lists": [test_list.pk], "areas": [audience["area"]]}):
        with pytest.raises(RuleError) as exc:
            services.alert_create(actor=operator, targets=targets, **fields)
        assert exc.value.field == "targets"
    alert = services.alert_create(actor=operator, targets={"lists": [test_list.pk]}, **fields)
    assert services.alert_preview(actor=operator, alert_id=alert.pk)["texts"]["fr"]["sms"].startswith("[EXERCICE] ")
    services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="1")
    _drain(timeout=10)
    [received] = peers.smsc.received
    assert received.destination.endswith("32470100077")
    assert cap.parse(Alert.objects.get().cap_xml.encode()).status == "Exercise"


def test_ba_4_t2_police_zone_may_not_alert_citizens_in_an_area(police_zone, register):
    officer = UserFactory(organisation=police_zone, roles=["operator"])
    with pytest.raises(RuleError) as exc:
        services.alert_create(actor=officer, event="Vermiste persoon", channels=["sms"], texts=TEXTS,
                              targets={"areas": [{"type": "municipalities", "nis_codes": ["41081"]}]})  # fmt: skip
    assert exc.value.rule in ("BA-4-T1", "BA-4-T2")
    assert not Alert.objects.exists()


def test_ba_7_bin_only_an_entity_with_the_bin_option_targets_bin_groups(operator):
    with pytest.raises(RuleError) as exc:
        services.alert_create(actor=operator, event="Inbraken", channels=["sms"], texts=TEXTS,
                              targets={"bin_groups": [1]})  # fmt: skip
    assert exc.value.rule == "BA-7-BIN"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"severity": "Huge"}, "severity"),
        ({"texts": {}}, "texts"),
        ({"texts": {"nl": {"headline": "H", "sms": "x" * 1200}}}, "texts.nl.sms"),
        ({"texts": {"xx": {"headline": "H", "sms": "x"}}}, "texts.xx"),
        ({"channels": ["pigeon"]}, "channels"),
        ({"targets": {}}, "targets"),
        (
            {"targets": {"areas": [{"type": "circle", "center": [50.8, 3.8], "radius_m": 500}]}},
            "targets.areas[0].center",
        ),
    ],
)
def test_bad_drafts_are_refused_naming_the_field(operator, audience, change, field):
    fields = {"event": "Brand", "channels": ["sms"], "texts": TEXTS, "targets": {"lists": [audience["list"]]}, **change}
    with pytest.raises(RuleError) as exc:
        services.alert_create(actor=operator, **fields)
    assert exc.value.field == field
    assert not Alert.objects.exists()


def test_cancel_withdraws_what_is_still_queued_and_tells_the_same_audience(operator, audience, peers):
    alert = services.alert_create(actor=operator, event="Gaslek", channels=["sms"], texts=TEXTS,
                                  targets={"areas": [audience["area"]]})  # fmt: skip
    services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="3")  # no worker yet: all queued
    cancel = services.alert_follow_up(actor=operator, alert_id=alert.pk, msg_type="Cancel")
    services.alert_update(actor=operator, alert_id=cancel.pk, texts={
        "nl": {"headline": "Einde", "sms": "Vals alarm: het gaslek-bericht is ingetrokken."},
        "fr": {"headline": "Fin", "sms": "Fausse alerte : le message est retiré."},
    })  # fmt: skip
    cancel = services.alert_launch(actor=operator, alert_id=cancel.pk, confirmation="3")
    alert.refresh_from_db()
    assert alert.state == "cancelled" and cancel.snapshot["withdrawn"] == 3
    assert set(Delivery.objects.filter(request_id__in=alert.send_request_ids).values_list("state", flat=True)) == {
        "expired"
    }
    document = cap.parse(cancel.cap_xml.encode())
    assert document.msg_type == "Cancel" and document.references[0].identifier == alert.identifier
    _drain(timeout=10)
    assert sorted(r.short_message.decode("latin-1")[:5] for r in peers.smsc.received) == ["Fauss", "Vals ", "Vals "]


@pytest.mark.parametrize("key", ["fire", "flood", "water", "evacuation", "all_clear"])
def test_every_default_template_makes_a_valid_alert_in_four_languages(operator, audience, key):
    from tocsin.alerts.templates_default import DEFAULT_TEMPLATES

    template = DEFAULT_TEMPLATES[key]
    assert set(template["texts"]) == {"nl", "fr", "de", "en"}
    alert = services.alert_create(actor=operator, channels=["sms"], targets={"lists": [audience["list"]]}, **template)
    SCHEMA.validate(services.alert_preview(actor=operator, alert_id=alert.pk)["cap"])


def test_compose_page_starts_from_a_template(operator, as_user):
    page = as_user(operator).get("/alerts/new/?template=evacuation").content.decode()
    assert "Verlaat nu uw woning" in page and "Quittez votre logement" in page
    assert '<option value="Extreme" selected>' in page


def test_an_entity_keeps_its_own_templates_and_only_it_sees_them(operator, audience, as_user, police_admin,
                                                                 api_client):  # fmt: skip
    alert = services.alert_create(actor=operator, event="Wateroverlast Bevegemse Vijvers", channels=["sms"],
                                  texts=TEXTS, targets={"lists": [audience["list"]]})  # fmt: skip
    as_user(operator).post(f"/alerts/{alert.pk}/template/", {"name": "Vijvers"})
    mine = api_client(operator).get("/api/v1/alert-templates").json()
    [key] = [k for k in mine if k.startswith("own:")]
    assert mine[key]["event"] == "Wateroverlast Bevegemse Vijvers" and "targets" not in mine[key]
    page = as_user(operator).get(f"/alerts/new/?template={key}").content.decode()
    assert "Wateroverlast Bevegemse Vijvers" in page
    theirs = api_client(police_admin).get("/api/v1/alert-templates").json()
    assert not any(k.startswith("own:") for k in theirs)

"""An alert by voice call: what is said in each language, who is called (never a deaf or hard-of-hearing
citizen: they get the text channels), and the confirmations counted on the dashboard."""

from __future__ import annotations

import pytest

from tests.alerts.test_launch import _citizen
from tests.organisations.factories import UserFactory
from tocsin.alerts import domain, selectors, services
from tocsin.citizens.models import ContactPoint, Registration
from tocsin.delivery import services as delivery
from tocsin.delivery.models import Delivery, SendRequest

pytestmark = pytest.mark.django_db

TEXTS = {
    "nl": {"headline": "Hoogwater", "sms": "Hoogwater: blijf binnen.", "voice": "Hoogwater in Zottegem. Blijf binnen."},
    "fr": {"headline": "Crue", "sms": "Crue : restez à l'intérieur.", "description": "La Dendre déborde",
           "instruction": "Restez à l'intérieur"},
}  # fmt: skip
AREA = {"type": "municipalities", "nis_codes": ["41081"]}


@pytest.fixture
def gateways(db):
    delivery.gateway_configure(name="sms", kind="smpp", channel="sms", config={"host": "127.0.0.1", "port": 1})
    delivery.gateway_set(name="trunk", kind="sip", config={"server": "127.0.0.1:5060"})


def _voice(registration: Registration, kind: str, number: str) -> None:
    ContactPoint.objects.update_or_create(
        registration=registration, kind=kind, value=number,
        defaults={"sms": kind == "mobile", "voice": True, "verified_at": "2026-11-01T00:00Z"},
    )  # fmt: skip


def test_ba_2_voice_alert_calls_each_number_in_its_language_and_never_a_deaf_citizen(municipality, register,
                                                                                    gateways):  # fmt: skip
    operator = UserFactory(organisation=municipality, roles=["operator"])
    an = _citizen(register, "An", "nl", "+32470500001")
    _voice(an, "mobile", "+32470500001")
    benoit = _citizen(register, "Benoît", "fr", "+32470500002")
    _voice(benoit, "landline", "+3292500002")
    deaf = _citizen(register, "Dirk", "nl", "+32470500003")
    deaf.deaf = True
    deaf.save()
    ContactPoint.objects.filter(registration=deaf).update(voice=True)  # even if a voice flag slipped through
    alert = services.alert_create(actor=operator, event="Hoogwater", channels=["sms", "voice"], texts=TEXTS,
                                  targets={"areas": [AREA]})  # fmt: skip
    preview = services.alert_preview(actor=operator, alert_id=alert.pk)
    assert preview["recipients"]["voice"] == {"nl": 1, "fr": 1}
    alert = services.alert_launch(actor=operator, alert_id=alert.pk, confirmation=preview["confirmation"])
    voice = dict(Delivery.objects.filter(channel="voice").values_list("recipient", "language"))
    assert voice == {"+32470500001": "nl", "+3292500002": "fr"}
    sms = set(Delivery.objects.filter(channel="sms").values_list("recipient", flat=True))
    assert "+32470500003" in sms  # the deaf citizen is alerted by text
    request = SendRequest.objects.filter(pk__in=alert.send_request_ids, deliveries__channel="voice").distinct().get()
    assert request.content["nl"]["text"] == "Hoogwater in Zottegem. Blijf binnen."
    assert request.content["fr"]["text"] == "Crue.\nLa Dendre déborde.\nRestez à l'intérieur."  # no script: said


def test_ba_2_voice_confirmations_count_as_ok_on_the_dashboard(municipality, register, gateways):
    from django.utils import timezone

    operator = UserFactory(organisation=municipality, roles=["operator"])
    for i in range(3):
        _voice(_citizen(register, f"P{i}", "nl", f"+3247050001{i}"), "mobile", f"+3247050001{i}")
    alert = services.alert_create(actor=operator, event="Brand", channels=["voice"], texts=TEXTS,
                                  targets={"areas": [AREA]})  # fmt: skip
    alert = services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="3")
    Delivery.objects.filter(recipient__in=["+32470500010", "+32470500011"]).update(
        state="delivered", acknowledged_at=timezone.now(), units=1
    )
    acks = selectors.alert_acks(alert=alert)
    assert acks["voice_ok"] == 2 and acks["ok"] == 2
    assert selectors.alert_dashboard(alert=alert)["channels"]["voice"]["delivered"] == 2


def test_voice_script_falls_back_to_what_the_alert_says():
    assert domain.voice_script({"voice": " Blijf binnen. "}) == "Blijf binnen."
    assert domain.voice_script({"headline": "Brand", "instruction": "Sluit ramen!"}) == "Brand.\nSluit ramen!"


def test_a_voice_script_longer_than_allowed_is_refused_by_field(municipality, gateways):
    operator = UserFactory(organisation=municipality, roles=["operator"])
    texts = {"nl": {"headline": "Brand", "voice": "x" * (domain.MAX_VOICE_CHARS + 1)}}
    from tocsin.organisations.domain import RuleError

    with pytest.raises(RuleError) as caught:
        services.alert_create(actor=operator, event="Brand", channels=["voice"], texts=texts,
                              targets={"areas": [AREA]})  # fmt: skip
    assert caught.value.field == "texts.nl.voice"

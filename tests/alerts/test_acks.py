"""Acknowledgements: people answer the alert's SMS with a keyword; the entity sees counts live (issue 5)."""

from __future__ import annotations

import pytest

from tests.alerts.test_launch import TEXTS, _citizen
from tests.delivery.test_sms_smpp import _drain, _gateway
from tests.organisations.factories import UserFactory
from tests.peers.smsc import Behaviour, SmscThread
from tocsin.alerts import selectors, services

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(("reply", "expected"), [("ok", "ok"), ("HULP nodig", "help"), ("Wie is dit?", "other")])
def test_replies_to_the_sms_are_counted_per_keyword_and_person(municipality, register, crisis_centre, reply,
                                                               expected):  # fmt: skip
    operator = UserFactory(organisation=municipality, roles=["operator"])
    for i in range(3):
        _citizen(register, f"P{i}", "nl", f"+3247041000{i + 1}")
    with SmscThread(Behaviour(reply=reply)) as smsc:
        _gateway(smsc)
        area = {"type": "municipalities", "nis_codes": ["41081"]}
        alert = services.alert_create(actor=operator, event="Brand", channels=["sms"], texts=TEXTS,
                                      targets={"areas": [area]})  # fmt: skip
        services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="3")
        _drain(timeout=10, replies=3)
    alert.refresh_from_db()
    counts = selectors.alert_acks(alert=alert)
    assert counts[expected] == 3 and counts["ok"] + counts["help"] + counts["other"] == 3
    assert counts[f"sms_{expected}"] == 3

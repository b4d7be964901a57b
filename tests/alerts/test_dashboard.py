"""The live dashboard of an alert: its figures, and only for the alert's own entity (tenant isolation)."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.test import AsyncClient

from tests.alerts.test_launch import TEXTS, _citizen
from tests.conftest import portal_client
from tests.delivery.test_sms_smpp import _drain
from tests.organisations.factories import UserFactory
from tocsin.alerts import selectors, services

pytestmark = pytest.mark.django_db(transaction=True)
AREA = {"type": "municipalities", "nis_codes": ["41081"]}


def test_ba_2_dashboard_counts_deliveries_per_channel_and_state(municipality, register, peers):
    operator = UserFactory(organisation=municipality, email="operator@zottegem.be", roles=["operator"])
    _citizen(register, "An", "nl", "+32470400001", "an@example.be")
    _citizen(register, "Bo", "nl", "+32470400002")
    alert = services.alert_create(actor=operator, event="Brand", channels=["sms", "email"], texts=TEXTS,
                                  targets={"areas": [AREA]})  # fmt: skip
    alert = services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="3")
    before = selectors.alert_dashboard(alert=alert)
    assert before["channels"]["sms"]["queued"] == 2 and before["total"] == 3 and not before["done"]
    _drain(timeout=10)
    after = selectors.alert_dashboard(alert=alert)
    assert after["channels"]["sms"]["delivered"] == 2 and after["channels"]["email"]["submitted"] == 1
    assert after["ended"] == 3 and after["done"] and after["acks"]["ok"] == 0


def test_ba_2_the_live_stream_is_the_alert_entitys_own(municipality, make_org, register, peers):
    operator = UserFactory(organisation=municipality, email="operator@zottegem.be", roles=["operator"])
    stranger = UserFactory(organisation=make_org("municipality", name="Gemeente Gent", nis_code="44021"),
                           email="operator@gent.be", roles=["operator"])  # fmt: skip
    _citizen(register, "An", "nl", "+32470400001")
    alert = services.alert_create(actor=operator, event="Brand", channels=["sms"], texts=TEXTS,
                                  targets={"areas": [AREA]})  # fmt: skip
    services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="1")
    assert portal_client(stranger).get(f"/alerts/{alert.pk}/events").status_code == 404
    assert portal_client(stranger).get(f"/alerts/{alert.pk}/").status_code == 404

    cookies = portal_client(operator).cookies

    async def first_event() -> dict:
        client = AsyncClient()
        client.cookies = cookies
        response = await client.get(f"/alerts/{alert.pk}/events")
        assert response["Content-Type"] == "text/event-stream"
        async for chunk in response.streaming_content:
            text = chunk.decode() if isinstance(chunk, bytes) else chunk
            if text.startswith("event: dashboard"):
                return json.loads(text.split("data: ", 1)[1])
        raise AssertionError("no dashboard event")

    figures = asyncio.run(first_event())
    assert figures["alert"] == alert.pk and figures["total"] == 1

"""A landline is checked by a call that says its code (BA-7.3): the citizen hears it on a real phone and types
it in; once used, neither the text nor the speech of the code is kept."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.citizens.conftest import sign_up_payload
from tests.peers.phones import Baresip, require_programs
from tests.voice.harness import ALL_ENDED, run_until, trunk
from tocsin.citizens.models import ContactPoint
from tocsin.delivery.models import Attempt, Delivery, SendRequest, Speech

pytestmark = pytest.mark.django_db(transaction=True)

LANDLINE = "+3292101010"


def test_ba_7_3_a_landline_gets_its_code_by_a_call_and_the_code_is_forgotten_once_used(register, peers, tmp_path):
    require_programs("baresip", "espeak-ng", "sox")
    client = Client()
    with Baresip(tmp_path, user=LANDLINE) as phone:
        trunk(phone.address)
        points = [{"kind": "mobile", "value": "0470 12 34 56", "sms": True},
                  {"kind": "landline", "value": "09 210 10 10"}]  # fmt: skip
        body = client.post("/api/v1/citizens/registrations", sign_up_payload(client, register, contact_points=points),
                           "application/json").json()  # fmt: skip
        run_until(ALL_ENDED, timeout=40)
        phone.stop()
        heard = phone.heard_seconds()
    call = Delivery.objects.get(channel="voice")
    assert call.recipient == LANDLINE and call.state == "delivered"
    assert Attempt.objects.get(delivery_id=call.pk).outcome == "answered"  # a code call asks for no 1
    said = SendRequest.objects.get(pk=call.request_id).content["nl"]["text"]
    code = "".join(re.findall(r"\d", said.split(":")[1].split(".")[0]))
    assert len(code) == 6 and heard and heard[0] > 5
    landline = next(p for p in body["contact_points"] if p["kind"] == "landline")
    url = f"/api/v1/citizens/registrations/{body['id']}/verify"
    answer = client.post(url, {"point_id": landline["id"], "code": code}, "application/json")
    assert answer.status_code == 200, answer.content
    assert ContactPoint.objects.get(pk=landline["id"]).verified_at is not None
    assert code not in str(SendRequest.objects.get(pk=call.request_id).content)
    assert not Speech.objects.filter(request_id=call.request_id).exists()


def test_without_a_voice_gateway_a_landline_waits_and_no_call_is_queued(register, peers):
    client = Client()
    points = [{"kind": "mobile", "value": "0470 12 34 56", "sms": True}, {"kind": "landline", "value": "09 210 10 10"}]
    response = client.post("/api/v1/citizens/registrations",
                           sign_up_payload(client, register, contact_points=points), "application/json")  # fmt: skip
    assert response.status_code in (200, 201)
    assert not Delivery.objects.filter(channel="voice").exists()

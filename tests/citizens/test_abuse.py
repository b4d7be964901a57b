"""What an attacker tries on the public registration surface, and what stops it (BA-7.3, BA-7.4)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.citizens.conftest import sign_up_payload, solved
from tocsin.citizens import services
from tocsin.citizens.models import OneTimeCode, Registration, Throttle
from tocsin.delivery.models import SendRequest

pytestmark = pytest.mark.django_db(transaction=True)


def _signed_up(client, register, peers):
    body = client.post("/api/v1/citizens/registrations", sign_up_payload(client, register), "application/json").json()
    return body, body["contact_points"][0]


def test_ba_7_4_verify_route_never_returns_a_record_and_refuses_verified_points(register, peers):
    client = Client()
    body, mobile = _signed_up(client, register, peers)
    [code] = peers.codes_for("+32470123456")
    url = f"/api/v1/citizens/registrations/{body['id']}/verify"
    ok = client.post(url, {"point_id": mobile["id"], "code": code}, "application/json")
    assert ok.status_code == 200 and set(ok.json()) == {"status", "point_id", "verified"}
    again = client.post(url, {"point_id": mobile["id"], "code": "x"}, "application/json")
    assert again.status_code == 422 and "An Peeters" not in again.content.decode()


def test_a_code_takes_five_guesses_then_even_the_right_one_fails(register, peers):
    client = Client()
    body, mobile = _signed_up(client, register, peers)
    [code] = peers.codes_for("+32470123456")
    wrong = "000000" if code != "000000" else "111111"
    url = f"/api/v1/citizens/registrations/{body['id']}/verify"
    for _ in range(5):
        assert client.post(url, {"point_id": mobile["id"], "code": wrong}, "application/json").status_code == 422
    assert client.post(url, {"point_id": mobile["id"], "code": code}, "application/json").status_code == 422
    assert OneTimeCode.objects.get(contact_point_id=mobile["id"]).attempts == 5


def test_used_codes_leave_the_outbox_and_throttle_keys_hold_no_number(register, peers):
    client = Client()
    body, mobile = _signed_up(client, register, peers)
    [code] = peers.codes_for("+32470123456")
    client.post(f"/api/v1/citizens/registrations/{body['id']}/verify", {"point_id": mobile["id"], "code": code},
                "application/json")  # fmt: skip
    texts = json.dumps(list(SendRequest.objects.values_list("content", flat=True)))
    assert code not in texts
    keys = " ".join(Throttle.objects.values_list("key", flat=True))
    assert "32470123456" not in keys and "an.peeters" not in keys


def test_sign_in_limits_apply_to_unregistered_values_too_so_429_reveals_nothing(register, peers):
    client = Client()
    statuses = [
        client.post(
            "/api/v1/citizens/sign-in", {"contact": "0470 99 99 99", **solved(client)}, "application/json"
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]


def test_no_account_posts_take_json_only(register, peers):
    client = Client()
    payload = sign_up_payload(client, register)
    response = client.post("/api/v1/citizens/registrations", json.dumps(payload), content_type="text/plain")
    assert response.status_code == 415
    assert not Registration.objects.exists()


@pytest.mark.parametrize("number", ["+32900123456", "+3270123456"])  # premium rate, shared cost (UAN)
def test_special_numbers_are_refused_as_landlines(register, peers, number):
    with pytest.raises(services.RuleError) as exc:
        services._point(services.PointIn("landline", number), 0, deaf=False)
    assert exc.value.field == "contact_points[0].value"

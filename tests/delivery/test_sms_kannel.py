"""SMS through Debian's Kannel: sendsms over HTTP, the SMSC (fakesmsc), reports back through the dlr-url."""

from __future__ import annotations

import time

import pytest

from tests.delivery.test_sms_smpp import _drain, _send
from tests.peers.kannel import PASSWORD, USERNAME, KannelBox
from tocsin.delivery import kannel, services
from tocsin.delivery.models import Delivery, Gateway, InboundMessage

pytestmark = pytest.mark.django_db(transaction=True)


def _gateway(box: KannelBox, live_server, **extra):
    return services.gateway_configure(
        name="kannel",
        kind="kannel",
        channel="sms",
        rate_per_s=500,
        concurrency=1,
        config={"url": box.sendsms_url, "username": USERNAME, "password": extra.pop("password", PASSWORD),
                "source_addr": "Zottegem", "smsc": "fake", "callback_base": live_server.url, "timeout": 5},
    )  # fmt: skip


def _until(condition, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.2)


def test_ba_2_kannel_sends_and_reports_come_back_through_the_signed_dlr_url(municipality, live_server):
    long_text = "Hoogwater aan de Dender: zet uw wagen hoger en volg de instructies van de hulpdiensten. " * 2
    with KannelBox() as box:
        _gateway(box, live_server)
        numbers = [(f"+32470{i:06d}", "nl") for i in range(1, 21)]
        request = _send(municipality, numbers)
        long_request = _send(municipality, [("+32470999001", "nl")], text=long_text)
        _drain(timeout=40)
        got = box.received()
        logs = box.logs()
    states = dict(Delivery.objects.filter(request=request).values_list("recipient", "state"))
    assert set(states.values()) == {"delivered"}, (states, logs)
    texts = [g[3] for g in got if g[1].startswith("32470") or g[1].startswith("+32470")]
    assert texts.count("Hoogwater: blijf binnen.") == 20
    delivered = Delivery.objects.get(recipient="+32470000001")
    assert delivered.gateway_message_id == kannel.message_id(delivered.pk) and delivered.units == 1
    long_delivery = Delivery.objects.get(request=long_request)
    assert long_delivery.state == "delivered" and long_delivery.units == 2  # 178 GSM characters: 2 parts
    assert Gateway.objects.get().health == "ok"


def test_kannel_refusing_the_credentials_leaves_the_gateway_down_and_loses_nothing(municipality, live_server):
    with KannelBox() as box:
        _gateway(box, live_server, password="wrong")
        _send(municipality, [("+32470000001", "nl"), ("+32470000002", "nl")])
        _drain(timeout=4)
        assert box.received() == []
    gateway = Gateway.objects.get()
    assert gateway.health == "down" and "credentials" in gateway.health_detail
    assert set(Delivery.objects.values_list("state", flat=True)) == {"queued"}  # never claimed: nothing lost


def test_replies_from_handsets_arrive_through_kannels_sms_service(municipality, live_server):
    gateway = services.gateway_configure(name="kannel", kind="kannel", channel="sms", config={})
    url = kannel.mo_url(gateway.pk, live_server.url)
    with KannelBox(mo_url=url, mo="32470000001 8810 text Ja ik ben veilig"):
        _until(lambda: InboundMessage.objects.exists())
    reply = InboundMessage.objects.get()
    assert (reply.sender, reply.recipient, reply.text) == ("32470000001", "8810", "Ja ik ben veilig")


def test_a_forged_delivery_report_is_refused_and_changes_nothing(municipality, client):
    """Anyone can reach the dlr-url; only Kannel holds a signature that matches a delivery."""
    gateway = services.gateway_configure(name="kannel", kind="kannel", channel="sms", config={})
    request = _send(municipality, [("+32470000001", "nl")])
    delivery = Delivery.objects.get(request=request)
    Delivery.objects.filter(pk=delivery.pk).update(state="submitted", gateway_message_id=kannel.message_id(delivery.pk))
    base = f"/api/v1/gateways/kannel/{gateway.pk}/dlr?d={delivery.pk}&type=1&answer="
    assert client.get(base + "&s=" + "0" * 32).status_code == 403
    assert client.get(base).status_code == 422  # no signature at all: the field is named
    other = kannel.callback_signature(gateway.pk, delivery.pk + 1)
    assert client.get(base + "&s=" + other).status_code == 403  # another delivery's signature
    assert client.get(f"/api/v1/gateways/kannel/{gateway.pk + 99}/dlr?d={delivery.pk}&type=1&s=x").status_code == 404
    assert client.get(f"/api/v1/gateways/kannel/{gateway.pk}/mo?s=forged&from=1&text=hi").status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == "submitted" and not InboundMessage.objects.exists()
    good = client.get(base + "&s=" + kannel.callback_signature(gateway.pk, delivery.pk))
    assert good.status_code == 200 and good.json() == {"ok": True, "outcome": "delivered"}
    delivery.refresh_from_db()
    assert delivery.state == "delivered"

"""Acknowledgement through the alert e-mail's own link, and the signed CAP push to partners (BA-2)."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import xmlschema
from django.test import Client

from tests.alerts.test_launch import TEXTS, _citizen
from tests.conftest import drain_mail_queue
from tests.delivery.test_sms_smpp import _drain
from tests.organisations.factories import UserFactory
from tocsin.alerts import broadcasts, selectors, services
from tocsin.alerts.models import AlertAck, PartnerPush
from tocsin.organisations.domain import RuleError
from tocsin.protocols import cap

pytestmark = pytest.mark.django_db(transaction=True)
SCHEMA = xmlschema.XMLSchema(str(Path(cap.__file__).parent / "schemas" / "CAP-v1.2.xsd"))
AREA = {"type": "municipalities", "nis_codes": ["41081"]}
LINK = re.compile(r"https?://\S+/ack/(\S+)")


@pytest.fixture
def operator(municipality):
    return UserFactory(organisation=municipality, email="operator@zottegem.be", roles=["operator"])


def _launch(operator, channels=("email",), status="Actual", targets=None):
    alert = services.alert_create(actor=operator, event="Overstroming", channels=list(channels), texts=TEXTS,
                                  status=status, targets=targets or {"areas": [AREA]})  # fmt: skip
    preview = services.alert_preview(actor=operator, alert_id=alert.pk)
    return services.alert_launch(actor=operator, alert_id=alert.pk, confirmation=preview["confirmation"])


def _links(peers) -> dict[str, str]:
    """Each recipient's acknowledgement token, read from the e-mail as the SMTP server received it."""
    out = {}
    for _from, recipients, message in peers.smtp.mailbox.messages:
        match = LINK.search(message.get_body(("plain",)).get_content())
        if match:
            out[recipients[0]] = match.group(1)
    return out


def test_ba_2_each_email_carries_its_own_link_and_the_button_records_the_answer(operator, register, peers):
    _citizen(register, "An", "nl", "+32470200001", "an@example.be")
    _citizen(register, "Benoît", "fr", "+32470200002", "benoit@example.be")
    alert = _launch(operator)
    _drain(timeout=10)
    links = _links(peers)
    assert set(links) == {"an@example.be", "benoit@example.be"} and len(set(links.values())) == 2
    body = next(m for _f, r, m in peers.smtp.mailbox.messages if r == ["benoit@example.be"])
    assert "Confirmez que vous avez lu ce message" in body.get_body(("plain",)).get_content()

    client = Client()
    page = client.get(f"/ack/{links['an@example.be']}")
    assert page.status_code == 200 and b"Hoogwater" in page.content and page["Referrer-Policy"] == "same-origin"
    assert not AlertAck.objects.exists()  # opening the link (as a mail filter does) records nothing
    assert client.post(f"/ack/{links['an@example.be']}", {"kind": "ok"}).status_code == 200
    client.post(f"/ack/{links['benoit@example.be']}", {"kind": "help"})
    client.post(f"/ack/{links['benoit@example.be']}", {"kind": "ok"})  # a call for help is never taken back
    client.post(f"/ack/{links['an@example.be']}", {"kind": "help"})  # … but an OK may become one
    counts = selectors.alert_acks(alert=alert)
    assert counts["email_help"] == 2 and counts["email_ok"] == 0 and counts["help"] == 2
    assert AlertAck.objects.count() == 2


def test_ba_2_a_forged_or_unknown_link_changes_nothing(operator, register, peers):
    _citizen(register, "An", "nl", "+32470200001", "an@example.be")
    _launch(operator)
    _drain(timeout=10)
    token = _links(peers)["an@example.be"]
    delivery_id, mac = token.split("-", 1)
    client = Client()
    for forged in (f"{int(delivery_id) + 1}-{mac}", f"{delivery_id}-AAAA{mac[4:]}", "1", "x-y", "9" * 30 + "-a"):
        assert client.get(f"/ack/{forged}").status_code == 404
        assert client.post(f"/ack/{forged}", {"kind": "ok"}).status_code == 404
    response = client.post(f"/ack/{token}", {"kind": "maybe"})
    assert response.status_code == 422 and not AlertAck.objects.exists()


class _Receiver:
    """A partner's HTTP endpoint on loopback: keeps what arrives, answers with the status it is told."""

    def __init__(self, status: int = 204):
        self.status, self.received = status, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/cap"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_ba_2_partners_get_each_actual_alert_signed_and_valid(operator, register, peers):
    _citizen(register, "An", "nl", "+32470200001")
    receiver = _Receiver()
    try:
        partner, secret = broadcasts.partner_add(name="Signage NV", url=receiver.url)
        alert = _launch(operator, channels=("sms",))
        drain_mail_queue(("broadcast",))
        assert len(receiver.received) == 1
        headers, body = receiver.received[0]
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Tocsin-Signature"], expected)
        assert headers["X-Tocsin-Alert"] == alert.identifier
        SCHEMA.validate(body.decode())
        assert PartnerPush.objects.get(partner=partner).state == "pushed"
    finally:
        receiver.close()


def test_ba_2_an_exercise_is_not_pushed_and_a_refusing_partner_is_retried(operator, register, peers):
    from tocsin.audiences import services as audiences

    test_list = audiences.contact_list_create(actor=operator, name="Test", is_test=True)
    audiences.contact_create(actor=operator, list_id=test_list.pk, name="Tester", mobile="0470200009")
    receiver = _Receiver(status=503)
    try:
        broadcasts.partner_add(name="Radio", url=receiver.url)
        _launch(operator, channels=("sms",), status="Exercise", targets={"lists": [test_list.pk]})
        assert not PartnerPush.objects.exists()
        _launch(operator, channels=("sms",), targets={"lists": [test_list.pk]})
        drain_mail_queue(("broadcast",))
        push = PartnerPush.objects.get()
        assert len(receiver.received) == 1 and push.state == "queued" and push.attempts == 1
        assert push.status_code == 503  # tried again later (a job is scheduled), up to five times
    finally:
        receiver.close()


def test_a_partner_is_reached_over_https():
    with pytest.raises(RuleError) as exc:
        broadcasts.partner_add(name="Leak", url="http://example.com/cap")
    assert exc.value.field == "url"

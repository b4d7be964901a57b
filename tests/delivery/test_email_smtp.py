"""E-mail end to end: the dispatcher against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import pytest

from tests.delivery.test_sms_smpp import _drain
from tests.peers.smtp import SmtpServer
from tocsin.delivery import services
from tocsin.delivery.domain import Channel, Priority
from tocsin.delivery.models import Delivery

pytestmark = pytest.mark.django_db(transaction=True)

CONTENT = {
    "nl": {"subject": "Hoogwater", "text": "Blijf binnen.", "html": "<p><strong>Blijf binnen.</strong></p>"},
    "fr": {"subject": "Inondation", "text": "Restez à l'intérieur.", "html": "<p>Restez à l'intérieur.</p>"},
}


def test_ba_2_email_multipart_per_language_with_bounce_address(municipality):
    with SmtpServer() as server:
        services.gateway_configure(
            name="loopback-smtp", kind="smtp", channel="email", rate_per_s=1000, concurrency=1,
            config={"host": "127.0.0.1", "port": server.port, "connections": 3,
                    "from": "Stad Zottegem <alert@zottegem.example>", "bounce_address": "bounces@zottegem.example"},
        )  # fmt: skip
        recipients = [(f"inwoner{i}@example.be", "nl") for i in range(20)] + [("habitant@example.be", "fr")]
        recipients += [("nobody@refused.example", "nl"), ("later@busy.example", "nl")]
        request = services.send_request_create(
            organisation_id=municipality.pk, created_by_id=None, purpose="alert", priority=Priority.ALERT,
            content=CONTENT, recipients={Channel.EMAIL: recipients},
        )  # fmt: skip
        _drain(timeout=8)
        received = list(server.mailbox.messages)
    states = dict(Delivery.objects.filter(request=request).values_list("recipient", "state"))
    assert states.pop("nobody@refused.example") == "failed"
    assert states.pop("later@busy.example") == "queued"  # 451: tried again later, not failed
    assert set(states.values()) == {"submitted"}  # SMTP hands over; no receipt comes back
    assert "550" in Delivery.objects.get(recipient="nobody@refused.example").error
    assert len(received) == 21
    sender, _rcpts, message = next(m for m in received if m[1] == ["habitant@example.be"])
    assert sender == "bounces@zottegem.example"
    assert message["Subject"] == "Inondation" and message["Content-Language"] == "fr"
    assert message["To"] == "habitant@example.be" and message["Date"].datetime is not None
    assert message["From"].addresses[0].display_name == "Stad Zottegem"
    delivery = Delivery.objects.get(recipient="habitant@example.be")
    assert message["Message-ID"] == delivery.gateway_message_id  # one id per delivery, for bounces
    assert message.get_body(("plain",)).get_content().strip() == "Restez à l'intérieur."
    assert "<p>" in message.get_body(("html",)).get_content()
    assert Delivery.objects.get(recipient="habitant@example.be").units == 0  # e-mail is not billed per unit


def test_unreachable_smtp_server_leaves_mail_queued_and_gateway_down(municipality):
    gateway = services.gateway_configure(
        name="nowhere", kind="smtp", channel="email", config={"host": "127.0.0.1", "port": 1, "timeout": 1}
    )
    services.send_request_create(
        organisation_id=municipality.pk, created_by_id=None, purpose="notice", priority=Priority.INFORMATION,
        content=CONTENT, recipients={Channel.EMAIL: [("a@example.be", "nl")]},
    )  # fmt: skip
    _drain(timeout=3)
    gateway.refresh_from_db()
    assert gateway.health == "down"
    assert Delivery.objects.get().state == "queued"

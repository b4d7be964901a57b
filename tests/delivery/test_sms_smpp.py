"""SMS end to end: the dispatcher against a loopback SMSC speaking real SMPP 3.4 over TCP."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from tests.conftest import database_url_for_tests, run_async
from tests.peers.smsc import Behaviour, SmscThread
from tocsin.delivery import services
from tocsin.delivery.dispatcher import Dispatcher
from tocsin.delivery.domain import Channel, Priority
from tocsin.delivery.models import Delivery, Gateway, InboundMessage

pytestmark = pytest.mark.django_db(transaction=True)


def _gateway(smsc, **extra):
    return services.gateway_configure(
        name="loopback-smsc",
        kind="smpp",
        channel="sms",
        rate_per_s=extra.pop("rate_per_s", 5000),
        concurrency=extra.pop("concurrency", 2),
        config={"host": "127.0.0.1", "port": smsc.port, "system_id": "tocsin", "password": "secret",
                "source_addr": "Zottegem", "window": 20, "timeout": 5, **extra},
    )  # fmt: skip


def _drain(timeout: float = 30, *, replies: int = 0, **dispatcher_kwargs) -> None:
    """Run a dispatcher until no delivery is queued, claimed or waiting for its receipt (and, with
    ``replies``, until that many replies from handsets are stored)."""

    async def go():
        dispatcher = Dispatcher(database_url_for_tests(), idle_s=0.2, **dispatcher_kwargs)
        task = asyncio.create_task(dispatcher.run())
        async with await psycopg.AsyncConnection.connect(database_url_for_tests(), autocommit=True) as conn:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                cur = await conn.execute(
                    "SELECT (SELECT count(*) FROM delivery_delivery WHERE state IN ('queued', 'claimed', 'submitted')),"
                    " (SELECT count(*) FROM delivery_inboundmessage)"
                )
                pending, stored = await cur.fetchone()
                if pending == 0 and stored >= replies:
                    break
                await asyncio.sleep(0.1)
        dispatcher.stop.set()
        await asyncio.wait_for(task, 10)

    run_async(go, timeout=timeout + 20)


def _send(org, numbers, text="Hoogwater: blijf binnen.", priority=Priority.ALERT):
    return services.send_request_create(
        organisation_id=org.pk,
        created_by_id=None,
        purpose="alert",
        priority=priority,
        content={"nl": {"text": text}, "fr": {"text": "Inondation : restez à l'intérieur."}},
        recipients={Channel.SMS: numbers},
    )


def test_ba_2_sms_delivered_with_receipts_and_errors_in_the_right_state(municipality):
    with SmscThread() as smsc:
        _gateway(smsc)
        numbers = [(f"+32470{i:06d}", "nl") for i in range(1, 41)]
        numbers += [("+32470120000", "nl"), ("+32470129999", "nl"), ("+32470000050", "fr")]
        request = _send(municipality, numbers)
        _drain()
    states = dict(Delivery.objects.filter(request=request).values_list("recipient", "state"))
    assert states.pop("+32470120000") == "failed"  # permanent submit error
    assert states.pop("+32470129999") == "failed"  # accepted, then an UNDELIV receipt
    assert set(states.values()) == {"delivered"}
    failed = Delivery.objects.get(recipient="+32470120000")
    assert "RX_P_APPN" in failed.error
    assert "UNDELIV" in Delivery.objects.get(recipient="+32470129999").error
    delivered = Delivery.objects.get(recipient="+32470000001")
    assert delivered.units == 1 and delivered.gateway_message_id.startswith("L") and delivered.final_at
    assert "Inondation : restez à l'intérieur." in smsc.texts()  # French for the French speaker, in UCS-2
    assert Gateway.objects.get().health == "ok"


def test_long_and_unicode_messages_arrive_whole_and_count_their_parts(municipality):
    text = "Overstroming in de Schelde — verlaat de kelders. " * 5  # UCS-2 (the dash), 250 characters
    with SmscThread() as smsc:
        _gateway(smsc)
        _send(municipality, [("+32470000001", "nl")], text=text)
        _drain()
    delivery = Delivery.objects.get()
    assert delivery.state == "delivered" and delivery.units == 4  # 250 / 67 per UCS-2 part
    assert smsc.texts() == [text]


def test_throttling_slows_down_and_still_delivers_everything(municipality):
    with SmscThread(Behaviour(throttle_every=4)) as smsc:
        _gateway(smsc)
        _send(municipality, [(f"+32470{i:06d}", "nl") for i in range(1, 101)])
        _drain()
    assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}
    assert len(smsc.received) == 100


def test_dropped_connection_reconnects_and_flags_what_was_in_flight(municipality):
    with SmscThread(Behaviour(drop_after=30)) as smsc:
        _gateway(smsc, window=10)
        _send(municipality, [(f"+32470{i:06d}", "nl") for i in range(1, 201)])
        _drain(timeout=45)
    assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}
    assert smsc.binds >= 2  # it came back
    flagged = Delivery.objects.filter(possible_duplicate=True).count()
    assert flagged <= 2 * 10  # bounded by the in-flight windows of the runners
    destinations = [r.destination for r in smsc.received]
    duplicates = len(destinations) - len(set(destinations))
    assert duplicates <= flagged


def test_wrong_credentials_leave_the_gateway_down_and_nothing_lost(municipality):
    with SmscThread(Behaviour(password="other")) as smsc:
        gateway = _gateway(smsc)
        _send(municipality, [("+32470000001", "nl")])
        _drain(timeout=3)
    gateway.refresh_from_db()
    assert gateway.health == "down" and "bind refused" in gateway.health_detail
    assert Delivery.objects.get().state == "queued"


def test_mobile_originated_reply_is_kept(municipality):
    with SmscThread(Behaviour(reply="JA")) as smsc:
        gateway = _gateway(smsc)
        _send(municipality, [("+32470000001", "nl")])
        _drain()
        deadline = time.monotonic() + 5
        while not InboundMessage.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    reply = InboundMessage.objects.get()
    assert (reply.gateway_id, reply.sender, reply.recipient, reply.text) == (
        gateway.pk,
        "32470000001",
        "Zottegem",
        "JA",
    )

"""The demo's mailbox is a real SMTP peer: our SMTP channel delivers a citizen's code into a file."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import pytest

from tests.delivery.test_sms_smpp import _drain
from tocsin.delivery import services
from tocsin.delivery.domain import Channel, Priority
from tocsin.runtime.demo_mailbox import serve

pytestmark = pytest.mark.django_db(transaction=True)


async def _cancel_all() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_demo_mailbox_keeps_what_the_email_channel_sends(municipality, tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(serve(port, tmp_path), loop)
    config = {"host": "127.0.0.1", "port": port, "from": "Tocsin demo <demo@tocsin.invalid>"}
    services.gateway_configure(name="demo-mailbox", kind="smtp", channel="email", rate_per_s=50, concurrency=1,
                               config=config)  # fmt: skip
    services.send_request_create(
        organisation_id=municipality.pk, created_by_id=None, purpose="notice", priority=Priority.INFORMATION,
        content={"nl": {"subject": "Uw code", "text": "Tocsin: uw code is 123456.\n.\n..punt"}},
        recipients={Channel.EMAIL: [("lotte@example.be", "nl")]},
    )  # fmt: skip
    try:
        _drain(timeout=4)  # e-mail stays "submitted" (no receipt): the drain just runs this long
    finally:
        asyncio.run_coroutine_threadsafe(_cancel_all(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    assert server.cancelled()
    [stored] = list(tmp_path.glob("*.eml"))
    text = stored.read_text()
    assert "X-Demo-Envelope-To: lotte@example.be" in text and "Subject: Uw code" in text
    assert "Tocsin: uw code is 123456." in text and "\n..punt" in text  # dot-stuffing undone exactly once

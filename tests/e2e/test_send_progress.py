"""An operator watches a mass SMS go out: the page updates by itself while the worker sends."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect

from tests.delivery.test_sms_smpp import _drain, _gateway, _send
from tests.e2e.conftest import signed_in
from tests.peers.smsc import Behaviour, SmscThread

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ba_2_progress_page_follows_a_send_live(page, asgi_server, municipality, muni_admin, shot):
    with SmscThread(Behaviour(receipt_delay_s=0.002)) as smsc:
        _gateway(smsc, rate_per_s=400, concurrency=1)
        request = _send(municipality, [(f"+32470{i:06d}", "nl") for i in range(1, 1201)] + [("+32470120000", "nl")])
        signed_in(page, asgi_server, muni_admin)
        page.goto(f"{asgi_server}/sends/{request.pk}/")
        page.get_by_text("Live", exact=True).wait_for()  # the event stream is open
        assert page.locator('[data-count="sms:queued"]').inner_text() == "1201"
        worker = threading.Thread(target=_drain, kwargs={"timeout": 60})
        worker.start()
        expect(page.locator('[data-count="sms:queued"]')).not_to_have_text("1201", timeout=20_000)
        shot(page, "20-send-progress-live")
        page.get_by_text("Finished", exact=True).wait_for(timeout=60_000)
        worker.join(70)
    assert page.locator('[data-count="sms:delivered"]').inner_text() == "1200"
    assert page.locator('[data-count="sms:failed"]').inner_text() == "1"
    assert page.locator('[data-count="sms:queued"]').inner_text() == "0"
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "21-send-progress-done-phone")

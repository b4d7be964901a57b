"""Done when of issue 10: an operator launches an alert by voice call in the portal; two loopback phones
(baresip, answering the Dutch and the French number) are called in their languages, each presses 1, and the
confirmations appear on the alert's live dashboard — in headless chromium (BA-2, BA-8-POSTPAID)."""

from __future__ import annotations

import threading
import time

import pytest
from playwright.sync_api import expect

from tests.alerts.test_launch import _citizen
from tests.e2e.conftest import signed_in
from tests.organisations.factories import UserFactory
from tests.peers.phones import Baresip, require_programs
from tests.voice.harness import ALL_ENDED, run_until, trunk
from tocsin.alerts.models import Alert
from tocsin.citizens.models import ContactPoint
from tocsin.delivery.models import Attempt, Delivery

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NL, FR = "+32470600001", "+3292600002"


def _press_in_each_call(phone: Baresip, calls: int, after: float, errors: list[Exception]) -> threading.Thread:
    """The people at the phone: each presses 1 a while after answering."""

    def run() -> None:
        try:
            for n in range(1, calls + 1):
                established = phone.wait_for_call(60, count=n)
                time.sleep(max(0.0, established["received_at"] + after - time.monotonic()))
                phone.press("1")
        except Exception as exc:  # noqa: BLE001 — reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_ba_2_voice_alert_reaches_two_phones_in_two_languages_and_the_dashboard_shows_the_1s(
    page, asgi_server, municipality, register, tmp_path, shot
):
    require_programs("baresip", "espeak-ng", "sox")
    operator = UserFactory(organisation=municipality, email="operator@zottegem.be", roles=["operator"])
    for name, language, number, kind in (("An", "nl", NL, "mobile"), ("Benoît", "fr", FR, "landline")):
        citizen = _citizen(register, name, language, "+3247060009" + str(len(name)))
        ContactPoint.objects.create(registration=citizen, kind=kind, value=number, voice=True,
                                    sms=kind == "mobile", verified_at="2026-11-01T00:00Z")  # fmt: skip
    with Baresip(tmp_path, user=NL, also=[FR]) as phone:
        trunk(phone.address, concurrency=1, rate_per_s=1)  # one call after the other: each person presses 1
        signed_in(page, asgi_server, operator)
        page.goto(f"{asgi_server}/alerts/")
        page.locator("#new-alert").click()
        page.locator("#event").fill("Overstroming")
        page.locator("#ch-sms").uncheck()
        page.locator("#ch-voice").check()
        page.locator("#area_kind").select_option("municipalities")
        page.locator("#area_codes").fill("41081")
        page.locator("#nl_headline").fill("Hoogwater")
        page.locator("#nl_voice").fill("Hoogwater in Zottegem. Blijf binnen.")
        page.locator("#fr_headline").fill("Crue")
        page.locator("#fr_voice").fill("Crue à Zottegem. Restez à l'intérieur.")
        shot(page, "voice-alert-compose")
        page.get_by_role("button", name="Save and preview").click()
        expect(page.locator("#total")).to_have_text("2")  # the two numbers called
        page.locator("#confirmation").fill("2")
        alert = Alert.objects.get(event="Overstroming")
        shot(page, "voice-alert-preview")
        page.get_by_role("button", name="Launch the alert").click()
        expect(page.locator("#dashboard")).to_be_visible()
        expect(page.locator("#acks-voice")).to_have_text("0")
        expect(page.locator('#dashboard [data-field="live"]')).to_be_visible()
        errors: list[Exception] = []
        presser = _press_in_each_call(phone, 2, after=3.5, errors=errors)
        worker = threading.Thread(target=run_until, args=(ALL_ENDED,), kwargs={"timeout": 90}, daemon=True)
        worker.start()
        try:
            expect(page.locator("#acks-voice")).to_have_text("2", timeout=90_000)
        except AssertionError:
            print(list(Attempt.objects.values()), list(Delivery.objects.values()), errors, phone.events())
            raise
        expect(page.locator('#calls [data-call="acknowledged"]')).to_have_text("2", timeout=10_000)
        worker.join(30)
        presser.join(5)
        assert not errors, errors
        shot(page, "voice-alert-dashboard")
        page.set_viewport_size({"width": 390, "height": 844})
        shot(page, "voice-alert-dashboard-phone")
        phone.stop()
    alert.refresh_from_db()
    calls = dict(Delivery.objects.filter(channel="voice").values_list("recipient", "language"))
    assert calls == {NL: "nl", FR: "fr"}
    assert set(Attempt.objects.values_list("outcome", flat=True)) == {"acknowledged"}
    assert all(d.units == 1 for d in Delivery.objects.filter(channel="voice"))

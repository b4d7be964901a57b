"""An operator composes an alert, previews it, launches it with a typed confirmation, sees it delivered and
cancels it — in the portal, in headless chromium (BA-2, BA-7.2)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.alerts.test_launch import _citizen
from tests.delivery.test_sms_smpp import _drain
from tests.e2e.conftest import signed_in
from tests.organisations.factories import UserFactory
from tocsin.alerts.models import Alert
from tocsin.delivery.models import Delivery

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ba_2_operator_composes_previews_launches_and_cancels(page, asgi_server, municipality, register, peers, shot):
    operator = UserFactory(organisation=municipality, email="operator@zottegem.be", roles=["operator"])
    _citizen(register, "An", "nl", "+32470300001")
    _citizen(register, "Benoît", "fr", "+32470300002")
    _citizen(register, "Chris", "nl", "+32470300003")
    signed_in(page, asgi_server, operator)
    page.goto(f"{asgi_server}/alerts/")
    page.locator("#new-alert").click()
    page.locator("#event").fill("Overstroming")
    # Draw a square around Zottegem on the map (Leaflet.draw): the form's area fields follow.
    page.locator(".leaflet-draw-draw-polygon").click()
    box = page.locator("#alert-map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # the view is centred on 4.45 E, 50.55 N
    corners = [(cx - 110, cy - 95), (cx - 30, cy - 95), (cx - 30, cy - 15), (cx - 110, cy - 15), (cx - 110, cy - 95)]
    for x, y in corners:
        page.mouse.click(x, y)
        page.wait_for_timeout(150)
    expect(page.locator("#area_kind")).to_have_value("polygon")
    expect(page.locator("#area_geojson")).to_have_value(re.compile("Polygon"))
    page.locator("#nl_headline").fill("Hoogwater")
    page.locator("#nl_sms").fill("Hoogwater in Zottegem: blijf binnen en volg de instructies.")
    expect(page.locator("#nl_sms-count")).to_contain_text("GSM-7 · 1 SMS")
    page.locator("#fr_headline").fill("Crue")
    page.locator("#fr_sms").fill("Crue à Zottegem : restez à l'intérieur.")
    shot(page, "40-alert-compose")
    page.get_by_role("button", name="Save and preview").click()

    expect(page.locator("#total")).to_have_text("3")
    page.locator("#confirmation").fill("2")
    page.get_by_role("button", name="Launch the alert").click()
    expect(page.get_by_role("alert")).to_contain_text("(3)")
    assert not Delivery.objects.exists()  # a wrong confirmation launches nothing
    shot(page, "41-alert-preview")
    page.locator("#confirmation").fill("3")
    page.get_by_role("button", name="Launch the alert").click()
    expect(page.locator("h1 .badge.launched")).to_be_visible()
    _drain(timeout=10)
    page.reload()
    expect(page.get_by_text(re.compile(r"3 / 3"))).to_be_visible()
    shot(page, "42-alert-launched")

    page.get_by_role("button", name="Cancel the alert").click()
    page.locator("#nl_sms").fill("Vals alarm: negeer het vorige bericht.")
    page.locator("#fr_sms").fill("Fausse alerte : ignorez le message précédent.")
    page.get_by_role("button", name="Save and preview").click()
    page.locator("#confirmation").fill("3")
    page.get_by_role("button", name="Launch the alert").click()
    expect(page.locator("h1")).to_contain_text("Cancel")
    original = Alert.objects.get(msg_type="Alert")
    assert original.state == "cancelled"
    _drain(timeout=10)
    assert sum(1 for r in peers.smsc.received if r.short_message.startswith((b"Vals", b"Fauss"))) == 3
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "43-alert-cancel-phone")

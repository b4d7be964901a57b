"""An operator composes an alert, previews it, launches it with a typed confirmation, sees it delivered and
cancels it — in the portal, in headless chromium (BA-2, BA-7.2)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.alerts.test_area_broadcast import area_peers, outlines  # noqa: F401 — fixtures
from tests.alerts.test_launch import _citizen
from tests.conftest import drain_mail_queue
from tests.delivery.test_sms_smpp import _drain
from tests.e2e.conftest import signed_in
from tests.organisations.factories import UserFactory
from tocsin.alerts.models import Alert
from tocsin.delivery.models import Delivery

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ba_2_operator_composes_previews_launches_follows_updates_and_cancels(
    page,
    asgi_server,
    municipality,
    register,
    peers,
    area_peers,  # noqa: F811 — a fixture
    shot,
):
    operator_endpoint, cbc = area_peers
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
    page.locator("#ch-lbsms").check()
    page.locator("#ch-cb").check()
    page.locator("#nl_headline").fill("Hoogwater")
    page.locator("#nl_sms").fill("Hoogwater in Zottegem: blijf binnen en volg de instructies.")
    expect(page.locator("#nl_sms-count")).to_contain_text("GSM-7 · 1 SMS")
    page.locator("#nl_cb").fill("Hoogwater in Zottegem. Blijf binnen, sluit ramen en deuren.")
    expect(page.locator("#nl_cb-count")).to_contain_text("GSM-7 · 1 / 15 page")
    page.locator("#fr_headline").fill("Crue")
    page.locator("#fr_sms").fill("Crue à Zottegem : restez à l'intérieur.")
    page.locator("#fr_cb").fill("Crue à Zottegem : restez à l'intérieur.")
    shot(page, "40-alert-compose")
    page.get_by_role("button", name="Save and preview").click()

    expect(page.locator("#total")).to_have_text("3")
    expect(page.locator("#area-plan")).to_contain_text("cbc-a")  # the area broadcasts, before launch
    expect(page.locator("#area-plan")).to_contain_text("nl (1 page)")  # Zottegem and Gent speak Dutch
    expect(page.locator("#area-plan")).to_contain_text("The centre's coverage lies within your area.")
    page.locator("#confirmation").fill("2")
    page.get_by_role("button", name="Launch the alert").click()
    expect(page.get_by_role("alert")).to_contain_text("(3)")
    assert not Delivery.objects.exists()  # a wrong confirmation launches nothing
    shot(page, "41-alert-preview")
    page.locator("#confirmation").fill("3")
    page.get_by_role("button", name="Launch the alert").click()
    expect(page.locator("h1 .badge.launched")).to_be_visible()
    expect(page.locator('#dashboard [data-field="live"]')).to_be_visible()  # the live stream is open
    # The counts rise on the open page (server-sent events), no reload: deliveries, then the operator's.
    _drain(timeout=10)
    drain_mail_queue(("broadcast",))
    expect(page.locator('#dashboard [data-field="ended"]')).to_have_text("3", timeout=10_000)
    expect(page.locator('[data-count="sms:delivered"]')).to_have_text("3")
    expect(page.locator('#dashboard [data-field="done"]')).to_be_visible()
    expect(page.locator("#broadcasts")).to_contain_text("ended")  # location-based SMS: the operator's counts
    expect(page.locator("#broadcasts")).to_contain_text("broadcasting")  # cell broadcast, until cancelled
    assert len(operator_endpoint.accepted) == 1 and len(cbc.created) == 1
    shot(page, "42-alert-launched")

    page.get_by_role("button", name="Update").click()
    page.locator("#nl_sms").fill("Update: het water zakt. Blijf nog binnen.")
    page.locator("#fr_sms").fill("Mise à jour : l'eau baisse. Restez encore à l'intérieur.")
    page.get_by_role("button", name="Save and preview").click()
    page.locator("#confirmation").fill("3")
    page.get_by_role("button", name="Launch the alert").click()
    expect(page.locator("h1")).to_contain_text("Update")
    _drain(timeout=10)
    drain_mail_queue(("broadcast",))
    expect(page.locator('#dashboard [data-field="ended"]')).to_have_text("3", timeout=10_000)
    assert operator_endpoint.accepted[-1]["msg_type"] == "Update" and cbc.deleted == [
        cbc.created[0]["smscb_message"]["message_id"]
    ]

    page.get_by_role("button", name="Cancel the alert").click()
    page.locator("#nl_sms").fill("Vals alarm: negeer het vorige bericht.")
    page.locator("#fr_sms").fill("Fausse alerte : ignorez le message précédent.")
    page.get_by_role("button", name="Save and preview").click()
    expect(page.get_by_text("takes the original's location-based SMS and cell broadcasts off the air")).to_be_visible()
    page.locator("#confirmation").fill("3")
    page.get_by_role("button", name="Launch the alert").click()
    expect(page.locator("h1")).to_contain_text("Cancel")
    update = Alert.objects.get(msg_type="Update")
    assert update.state == "cancelled"
    _drain(timeout=10)
    drain_mail_queue(("broadcast",))
    assert sum(1 for r in peers.smsc.received if r.short_message.startswith((b"Vals", b"Fauss"))) == 3
    assert not cbc.messages  # the cell broadcast is off the air
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "43-alert-cancel-phone")


def test_ba_2_a_citizen_answers_from_the_link_in_the_alert_email(
    page, asgi_server, municipality, register, peers, shot
):
    """The acknowledgement page in a real browser: the buttons post (CSRF passes with the page's referrer
    policy) and the answer is recorded and shown."""
    from tests.alerts.test_email_ack_and_partners import LINK
    from tocsin.alerts import selectors, services

    operator = UserFactory(organisation=municipality, email="operator@zottegem.be", roles=["operator"])
    _citizen(register, "An", "nl", "+32470300001", "an@example.be")
    alert = services.alert_create(actor=operator, event="Brand", channels=["email"],
                                  texts={"nl": {"headline": "Brand in Zottegem", "email_body": "Sluit ramen."}},
                                  targets={"areas": [{"type": "municipalities", "nis_codes": ["41081"]}]})  # fmt: skip
    services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="1")
    _drain(timeout=10)
    [(_from, _to, message)] = peers.smtp.mailbox.messages
    token = LINK.search(message.get_body(("plain",)).get_content()).group(1)
    page.goto(f"{asgi_server}/ack/{token}")
    expect(page.locator("h1")).to_have_text("Brand in Zottegem")
    page.get_by_role("button", name="Ik heb hulp nodig").click()
    expect(page.locator("#answer")).to_contain_text("112")
    assert selectors.alert_acks(alert=alert)["email_help"] == 1
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "44-alert-ack-phone")

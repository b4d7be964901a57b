"""The emergency centre's desk in headless chromium (issue 9): a notification a central makes through the services
appears on the open desk without a reload (KB-10; complete ones first, KB-16), and the dispatcher acknowledges,
dispatches and records the outcome with the keyboard alone, the KB-19 refusal shown beside its field."""

# ruff: noqa: F811 — fixtures are imported from the registry's and the desk's conftest, then used as arguments

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.alarms.conftest import (  # noqa: F401 — fixtures
    central,
    central_op,
    dispatcher,
    emergency,
    mvalues,
    registry,
    registry_admin,
)
from tests.arc.conftest import approved_methods  # noqa: F401 — autouse: the approved verification methods
from tests.e2e.conftest import signed_in
from tests.emergency.conftest import direct, notify  # noqa: F401 — fixtures
from tocsin.arc.models import CaseLog, Notification

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def tab_to(page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element is focused (the keyboard alone, as a dispatcher without a mouse)."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement === document.querySelector(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def both(page, shot, name: str) -> None:
    shot(page, f"desk-{name}-desktop")
    page.set_viewport_size(PHONE)
    shot(page, f"desk-{name}-phone")
    page.set_viewport_size(DESKTOP)


def test_kb_10_a_notification_appears_live_and_the_dispatcher_handles_it_with_the_keyboard(
    page, asgi_server, shot, dispatcher, notify
):
    from tocsin.geo import services as geo_services

    geo_services.municipalities_load()  # the map's outlines
    geo_services.boundaries_load()

    signed_in(page, asgi_server, dispatcher)
    page.goto(f"{asgi_server}/")
    page.get_by_role("link", name="Desk", exact=True).click()
    expect(page.locator("h1")).to_have_text("Emergency desk: alarm notifications")
    expect(page.locator("#live")).to_be_visible()  # the stream is open
    expect(page.locator("#complete")).to_contain_text("None waiting.")
    page.evaluate("window.__notReloaded = true")

    # A central notifies through its direct emergency number: an incomplete one first, then a complete one.
    late = notify(complete=False, site_name="Garage Late")
    sent = notify(site_name="Woning Peeters", extended=[["V", "https://cam.example/clip/9"]])
    expect(page.locator("#complete a.open")).to_have_text("Woning Peeters, Markt 1, 9620 Zottegem")
    expect(page.locator("#delayed a.open")).to_contain_text("Garage Late")
    expect(page.locator("#delayed")).to_contain_text("Detection code")  # what it lacks (KB-16)
    assert page.evaluate("window.__notReloaded") is True  # live: no reload
    expect(page.locator("#announce")).to_have_text("New notification in the queue.")
    assert page.title().startswith("(2) ")
    both(page, shot, "queue")

    # The keyboard: Tab into the queue, the arrow keys between notifications, Enter opens one.
    tab_to(page, "#complete a.open")
    page.keyboard.press("ArrowDown")
    expect(page.locator(f"#open-{late.pk}")).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(page.locator(f"#open-{sent.pk}")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Goods alarm: Woning Peeters")
    expect(page.locator("#item-detection_code")).to_contain_text("D-HAL-")
    expect(page.locator("#item-verification_code")).to_contain_text("SEQ")
    expect(page.locator("#images a")).to_have_attribute("href", "https://cam.example/clip/9")
    assert page.locator("svg.site-map path").count() > 0  # the municipalities around the site
    both(page, shot, "notification")

    tab_to(page, "#acknowledge")
    page.keyboard.press("Enter")
    expect(page.locator("#state")).to_have_text("Acknowledged")
    expect(page.locator("#dispatch-note")).to_be_focused()  # the next step takes the focus
    page.keyboard.type("patrol 12")
    page.keyboard.press("Enter")  # the form submits from its field
    expect(page.locator("#state")).to_have_text("Patrol dispatched")
    expect(page.locator("#outcome-intrusion_confirmed")).to_be_focused()
    for _ in range(3):
        page.keyboard.press("ArrowDown")  # the radio group: false alarm, nobody on site, neutralised
    expect(page.locator("#outcome-neutralised")).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.locator("#outcome-entered")).to_be_focused()
    page.keyboard.press("Space")
    tab_to(page, "#record-outcome")
    page.keyboard.press("Enter")

    # KB-19: a dwelling entered without consent is refused, beside the field; the summary takes the focus.
    expect(page.locator("#outcome-entry-consent-by-error1")).to_contain_text("KB-19")
    expect(page.locator(".summary[data-focus]")).to_be_focused()
    expect(page.locator("#outcome-neutralised")).to_be_checked()
    assert Notification.objects.get(pk=sent.pk).state == "dispatched"
    both(page, shot, "refusal")

    page.keyboard.press("Tab")  # the summary's link to the field
    page.keyboard.press("Enter")
    expect(page.locator("#outcome-entry-consent-by")).to_be_focused()
    page.keyboard.type("Jan Peeters")
    tab_to(page, "#record-outcome")
    page.keyboard.press("Enter")
    expect(page.locator("#outcome")).to_contain_text("Siren or light neutralised")
    expect(page.locator("#outcome")).to_contain_text("with the consent of Jan Peeters")
    row = Notification.objects.get(pk=sent.pk)
    assert (row.state, row.outcome, row.entered, row.entry_consent_by, row.dispatch_note) == (
        "closed", "neutralised", True, "Jan Peeters", "patrol 12")  # fmt: skip
    assert CaseLog.objects.filter(case_id=sent.case_id, what="desk_outcome").exists()  # back at the central
    both(page, shot, "closed")

    page.get_by_role("link", name="Back to the queue").click()
    expect(page.locator("#complete")).to_contain_text("None waiting.")
    page.get_by_role("link", name="Statistics").click()
    expect(page.locator("#stats")).to_contain_text("Centrale Noord")
    both(page, shot, "statistics")

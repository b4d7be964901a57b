"""An alarm central's operator at the console (issue 9), in headless chromium: a new burglary shows in the live
queue without a reload, and the operator handles it with the keyboard only — claims it, verifies it by an approved
method (KB-13), notifies the emergency number by phone with the script and the data set the law asks for (KB-12,
KB-14), completes the plan and closes it. Screenshots on a desktop and on a 390 px phone."""

# ruff: noqa: F811 — the registry's fixtures are imported from tests/alarms/conftest.py, then used as arguments

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from tests.alarms.conftest import central, central_op, managed_values, registry, registry_admin  # noqa: F401
from tests.e2e.conftest import signed_in
from tocsin.alarms import services as alarms
from tocsin.alarms.services import as_member
from tocsin.arc import services
from tocsin.arc.cases import build_cases
from tocsin.arc.models import AlarmCase, Notification, ReceiverAccount, Signal
from tocsin.arc.registry import ensure_default_methods
from tocsin.protocols.sia_codes import SIA_CODES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def both(page, shot, name: str) -> None:
    """The page on a desktop, then on a phone (nothing may stick out sideways there)."""
    shot(page, f"console-{name}-desktop")
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name}: {width} px wide on a 390 px phone"
    shot(page, f"console-{name}-phone")
    page.set_viewport_size(DESKTOP)


def signal(account: str, n: int, code: str, zone: str) -> Signal:
    """A frame as the receiver stores it (committed before its ACK), then read into cases as ``tocsin cases`` does."""
    row = ReceiverAccount.objects.get(account=account)
    stored = Signal.objects.create(
        account=row, central_id=row.central_id, received_at=datetime.now(UTC), message_id="SIA-DCS",
        sequence=f"{n:04d}", events=[{"code": code, "zone": zone, "description": SIA_CODES[code].description}],
        transport="tcp",
        digest=f"e2e{n}", extended=[["V", "https://cam.example/clip/9"]] if code == "BA" else [],
    )  # fmt: skip
    build_cases()
    return stored


def tab_to(page, element_id: str, limit: int = 25) -> None:
    """Tab (only the keyboard) until the element has the focus."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{element_id}")


def test_a_new_alarm_shows_live_and_is_handled_with_the_keyboard_only(page, asgi_server, shot, central_op, register):
    ensure_default_methods()  # the approved verification methods (KB-13), as the migration adds them
    system = alarms.system_register(actor=as_member(central_op), values=managed_values(register))
    services.account_set(actor=as_member(central_op), account="1234", system_reference=system.reference)
    for zone, code, label in (("01", "D-HAL-01", "Hall"), ("02", "D-KEU-02", "Kitchen")):
        services.zone_set(actor=as_member(central_op), account="1234", zone=zone, detection_code=code, label=label)
    signal("1234", 1, "AT", "0")  # a technical fault, waiting already

    signed_in(page, asgi_server, central_op)
    page.goto(f"{asgi_server}/")
    page.get_by_role("link", name="Console", exact=True).click()
    expect(page.locator("h1")).to_have_text("Alarm queue")
    rows = page.locator("#queue tbody tr")
    expect(rows).to_have_count(1)
    expect(page.locator("#live")).to_have_class("live on")  # the stream is open

    # A burglary comes in: it shows above the technical fault, with no reload of the page.
    page.evaluate("window.stillThisPage = true")
    signal("1234", 2, "BA", "01")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("3 · Burglary")
    expect(rows.nth(1)).to_contain_text("4 · Technical")
    assert page.evaluate("window.stillThisPage") is True
    expect(page.locator("#announce")).to_contain_text("New alarm: BA")
    # A second zone joins it (sequential detection): its events go to 2, live.
    signal("1234", 3, "BA", "02")
    expect(rows.first.locator('td[data-label="Events"]')).to_have_text("2")
    case = AlarmCase.objects.get(category="burglary")

    # j selects the first case (visible focus), ? shows the keys.
    page.keyboard.press("j")
    expect(rows.first).to_have_class("p3 selected")
    expect(rows.first.locator("a.case-link")).to_be_focused()
    page.keyboard.press("?")
    expect(page.locator("#keys")).to_have_attribute("open", "")
    both(page, shot, "queue")

    # c claims the selected case and opens it.
    page.keyboard.press("c")
    expect(page).to_have_url(f"{asgi_server}/arc/cases/{case.pk}/")
    expect(page.locator("#case-state")).to_contain_text("by you")
    expect(page.locator("#refusals")).to_contain_text("KB-13")  # not verified yet: the law refuses (art. 13)
    expect(page.locator("#script")).to_contain_text("alarm-report number N001")
    both(page, shot, "case-claimed")

    # v: the verification form. An approved method, confirmed, an intrusion; Enter saves it.
    page.keyboard.press("v")
    expect(page.locator("#verify-method")).to_be_focused()
    page.keyboard.type("SEQ")
    expect(page.locator("#verify-method")).to_have_value("SEQ")
    page.keyboard.press("Tab")
    expect(page.locator("#verify-finding")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.locator("#verify-finding")).to_have_value("intrusion")
    page.keyboard.press("Tab")
    expect(page.locator("#verify-outcome-confirmed")).to_be_focused()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    expect(page.locator("#verify-note")).to_be_focused()
    page.keyboard.type("hall then kitchen")
    page.keyboard.press("Enter")
    expect(page.locator("#verification-list")).to_contain_text("SEQ")
    expect(page.locator("#allowed")).to_contain_text("Allowed")
    expect(page.locator("#dataset")).to_contain_text("D-HAL-01, D-KEU-02")
    expect(page.locator("#script")).to_contain_text("Verified: An intrusion, by Sequential detection")
    both(page, shot, "case-verified")

    # n: the notification, by phone (KB-12): the emergency operator's name, Enter records it.
    page.keyboard.press("n")
    expect(page.locator("#notify-channel-phone")).to_be_focused()
    tab_to(page, "notify-call-with")
    page.keyboard.type("operator Dirk")
    page.keyboard.press("Tab")
    page.keyboard.type("patrol sent")
    page.keyboard.press("Enter")
    expect(page.locator("#notification-list")).to_contain_text("spoke with operator Dirk")
    notification = Notification.objects.get()
    assert (notification.channel, notification.call_with, notification.missing) == ("phone", "operator Dirk", [])

    # s: the next step to do; Enter marks it done. Twice: the user called, someone on site (KB-15).
    for outcome in ("user reached: on her way", "user on site in 20 minutes"):
        page.keyboard.press("s")
        expect(page.locator("input[name=text]:focus")).to_have_count(1)
        page.keyboard.type(outcome)
        page.keyboard.press("Enter")
        expect(page.locator("#steps")).to_contain_text(outcome)
    both(page, shot, "case-done")

    # x: close it, with the reason; the queue again, without it.
    page.keyboard.press("x")
    expect(page.locator("#close-reason")).to_be_focused()
    page.keyboard.type("intrusion notified, police on site")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{asgi_server}/arc/console/")
    expect(page.locator(".messages")).to_contain_text(f"Case {case.pk} is closed.")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("4 · Technical")
    case.refresh_from_db()
    assert (case.state, case.close_reason) == ("closed", "intrusion notified, police on site")
    page.goto("about:blank")  # the live queue's stream closes with the page


def test_a_refused_notification_shows_the_rule_beside_the_field(page, asgi_server, shot, central_op, register):
    ensure_default_methods()
    system = alarms.system_register(actor=as_member(central_op), values=managed_values(register))
    services.account_set(actor=as_member(central_op), account="1234", system_reference=system.reference)
    signal("1234", 1, "BA", "07")  # a zone with no detection code (KB-16)
    case = AlarmCase.objects.get()

    signed_in(page, asgi_server, central_op)
    page.goto(f"{asgi_server}/arc/cases/{case.pk}/")
    page.keyboard.press("c")
    expect(page.locator("#case-state")).to_contain_text("by you")
    expect(page.locator('#dataset tr[data-item="detection_code"]')).to_have_class("missing")
    # The preview follows the channel chosen (no page load): forwarding is for police stations only (KB-11).
    page.locator("#notify-channel-forward").check()
    expect(page.locator("#refusals")).to_contain_text("KB-11")
    expect(page.locator("#phone-fields")).to_be_hidden()
    page.locator("#notify-channel-phone").check()
    expect(page.locator("#phone-fields")).to_be_visible()
    page.get_by_role("button", name="Record the notification").click()
    expect(page.locator("#notify-errors")).to_be_focused()
    expect(page.locator("#notify-errors")).to_contain_text("KB-13")
    expect(page.locator("#notify-call-with-error1")).to_contain_text("KB-12")
    both(page, shot, "case-refused")
    assert not Notification.objects.exists()

"""From signal to police (issue 9), end to end in headless chromium: a panel sends SIA DC-09 frames over a
real socket to a real receiver, the case builder reads them into cases, the central's operator verifies and
notifies in the console, the emergency centre's dispatcher takes the notification on the desk and records
the police outcome, and the central sees it.

- A burglary (goods alarm, KB-13, KB-14) notified through the central's direct emergency number (KB-10);
  the desk acknowledges, dispatches and records "intrusion confirmed"; the outcome returns to the case.
- A panic button of a fixed personal alarm (KB-22, KB-23): refused by phone, sent to the direct emergency
  number after an approved verification of a threat, with the incident; the desk sees its law items.
"""

# ruff: noqa: F811 — the registry's fixtures are imported, then used as arguments

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.alarms.conftest import (  # noqa: F401
    central,
    central_op,
    dispatcher,
    emergency,
    managed_values,
    registry,
    registry_admin,
)
from tests.arc.test_receiver import KEY, Running
from tests.conftest import database_url_for_tests
from tests.e2e.conftest import signed_in
from tocsin.alarms import services as alarms
from tocsin.alarms.services import as_member
from tocsin.arc import registry as arc_registry
from tocsin.arc import services
from tocsin.arc.cases import build_cases
from tocsin.arc.models import AlarmCase, CaseLog, Notification, Signal
from tocsin.arc.panel import event_frame, send
from tocsin.arc.receiver import Receiver
from tocsin.protocols import sia_dc09

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setting(central_op, central, registry_admin, emergency, register):
    arc_registry.ensure_default_methods()
    me = as_member(central_op)
    goods = alarms.system_register(actor=me, values=managed_values(register))
    personal = alarms.system_register(
        actor=me,
        values=managed_values(
            register,
            system_type="personal_fixed",
            user_number="P2002",
            site_name="Apotheek Noord",
            property_nature="shop",
        ),
    )
    services.account_set(actor=me, account="1234", system_reference=goods.reference, key=KEY)
    services.account_set(actor=me, account="5678", system_reference=personal.reference)
    for zone, code, label in (("1", "D-HAL-01", "Hall"), ("2", "D-KEU-02", "Kitchen")):
        services.zone_set(actor=me, account="1234", zone=zone, detection_code=code, label=label)
    services.zone_set(actor=me, account="5678", zone="1", detection_code="D-BALIE", label="Counter")
    arc_registry.direct_number_set(actor=as_member(registry_admin), central_id=central.pk, number="0800 11 223",
                                   emergency_centre_id=emergency.pk)  # fmt: skip
    running = Running(Receiver(dsn=database_url_for_tests(), central_id=central.pk))
    yield running
    running.stop()


def panel(running: Running, account: str, code: str, zone: str, sequence: int, *, key: str | None = None,
          extended: tuple[tuple[str, str], ...] = ()) -> None:  # fmt: skip
    """The panel sends over TCP and gets its ACK (the event committed first); the builder reads it."""
    aes = sia_dc09.parse_key(key) if key else None
    frame = event_frame(account=account, code=code, zone=zone, sequence=sequence, key=aes, extended=extended)
    (answer,) = send([frame], host="127.0.0.1", port=running.tcp_port, key=aes)
    assert isinstance(answer.reply, sia_dc09.Message) and answer.reply.id == "ACK", answer
    build_cases()


def open_case(page, base: str, category_text: str) -> None:
    page.goto(f"{base}/arc/console/")
    page.locator("#queue tbody tr", has_text=category_text).locator("a.case-link").click()
    page.locator("#claim-button").click()
    expect(page.locator("#case-state")).to_contain_text("by you")


def verify(page, method: str, finding: str) -> None:
    page.select_option("#verify-method", method)
    page.select_option("#verify-finding", finding)
    page.locator("#verify-outcome-confirmed").check()
    page.get_by_role("button", name="Record the verification").click()
    expect(page.locator("#verification-list")).to_contain_text(method)


def test_a_burglary_from_dc09_signal_to_verified_notification_and_police_outcome(
    page, browser, asgi_server, shot, setting, central_op, dispatcher
):
    # The panel: zone 1, then zone 2 (sequential detection), encrypted, with a link to the camera images.
    panel(setting, "1234", "BA", "1", 1, key=KEY, extended=(("V", "https://cam.example/clip/7"),))
    panel(setting, "1234", "BA", "2", 2, key=KEY)
    assert Signal.objects.filter(encrypted=True).count() == 2
    case = AlarmCase.objects.get()
    assert (case.category, case.events) == ("burglary", 2)

    signed_in(page, asgi_server, central_op)
    open_case(page, asgi_server, "Burglary")
    expect(page.locator("#refusals")).to_contain_text("KB-13")  # not verified: not notifiable yet
    verify(page, "SEQ", "intrusion")
    page.locator("#notify-channel-direct").check()
    page.locator("#notify-button").click()
    expect(page.locator("#notification-list")).to_contain_text(dispatcher.organisation.name)
    sent = Notification.objects.get()
    assert (sent.channel, sent.state, sent.missing, sent.items["detection_code"]) == (
        "direct", "sent", [], "D-HAL-01, D-KEU-02")  # fmt: skip
    shot(page, "police-1-central-notified")

    # The emergency centre's desk, in its own browser session.
    desk_context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    desk = desk_context.new_page()
    desk.set_default_timeout(15_000)
    try:
        signed_in(desk, asgi_server, dispatcher)
        desk.goto(f"{asgi_server}/desk/")
        desk.locator(f"#open-{sent.pk}").click()
        expect(desk.locator("#item-detection_code")).to_contain_text("D-HAL-01")
        expect(desk.locator("#item-verification_code")).to_contain_text("SEQ")
        expect(desk.locator("#images a")).to_have_attribute("href", "https://cam.example/clip/7")
        desk.locator("#acknowledge").click()
        expect(desk.locator("#state")).to_have_text("Acknowledged")
        desk.locator("#dispatch-note").fill("patrol 12")
        desk.locator("#dispatch-note").press("Enter")
        expect(desk.locator("#state")).to_have_text("Patrol dispatched")
        desk.locator("#outcome-intrusion_confirmed").check()
        desk.locator("#outcome-note").fill("window forced at the back, suspect fled")
        desk.locator("#record-outcome").click()
        expect(desk.locator("#outcome")).to_contain_text("Intrusion confirmed")
        shot(desk, "police-2-desk-outcome")
    finally:
        desk_context.close()

    # Back at the central, the case page left open says the case changed; its link shows the police outcome.
    expect(page.locator("#changed")).to_be_visible(timeout=15_000)
    expect(page.locator("#changed")).to_contain_text("This case changed")
    shot(page, "police-3a-case-changed")
    page.locator("#changed a").click()
    expect(page.locator("#notification-list")).to_contain_text("Intrusion confirmed")
    assert CaseLog.objects.filter(case=case, what="desk_outcome").exists()
    assert Notification.objects.get().outcome == "intrusion_confirmed"
    shot(page, "police-3-central-outcome")


def test_a_personal_alarm_goes_only_to_the_direct_emergency_number(page, asgi_server, shot, setting, central_op):
    panel(setting, "5678", "PA", "1", 1)  # the panic button at the counter
    case = AlarmCase.objects.get()
    assert (case.category, case.priority) == ("personal", 2)
    signed_in(page, asgi_server, central_op)
    open_case(page, asgi_server, "Personal")
    verify(page, "AUD", "threat")
    # KB-22: never by calling 101/112; the form refuses it, naming the rule, and nothing is written.
    page.locator("#notify-channel-phone").check()
    page.locator("#notify-call-with").fill("operator Els")
    page.locator("#notify-button").click()
    expect(page.locator("#notify-errors")).to_contain_text("KB-22")
    assert not Notification.objects.exists()
    page.locator("#notify-channel-direct").check()
    page.locator("#notify-incident").fill("A man threatens the pharmacist with a knife at the counter")
    page.locator("#notify-button").click()
    expect(page.locator("#notification-list")).to_contain_text("Noodcentrale")
    sent = Notification.objects.get()
    assert (sent.kind, sent.channel, sent.delayed) == ("personal", "direct", False)
    assert (sent.items["verification_code"], sent.items["detection_code"]) == ("AUD", "D-BALIE")  # KB-23
    shot(page, "police-4-personal-notified")

"""An alarm-system user signs in with a code, registers a system, changes it and deregisters it, in headless
chromium on a desktop and on a phone (KB-7-USER; KB-17 refused on the way)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.alarms.conftest import USER
from tocsin.alarms.models import AlarmSystem, SystemVersion

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots")


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"alarm-user-{name}.png"), full_page=True)


def _sign_in(page, base: str, peers) -> None:
    page.goto(f"{base}/alarm/")
    page.locator("#contact").fill(USER)
    page.get_by_role("button", name="Send me a code").click()  # the page solves the proof of work first
    page.locator("#code").wait_for()
    page.locator("#code").fill(peers.codes_for(USER)[-1])
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile("/alarm/systems/$"))


def _fill_registration(page, siren_alarm_s: str) -> None:
    page.locator("#id_site_name").fill("Woning Peeters")
    address = page.locator("#id_site_address")
    address.fill("Markt 1")
    expect(page.locator("#id_site_address-list option")).to_have_count(1)  # the register's suggestion
    address.fill("Markt 1, 9620")  # as when the suggestion is chosen
    expect(page.locator("#id_site_address_id")).not_to_have_value("")
    page.locator("#id_site_phone").fill("09 360 12 34")
    page.locator("#id_user_name").fill("An Peeters")
    page.locator("#id_user_address").fill("Markt 1, 9620 Zottegem")
    page.locator("#id_system_type").select_option("goods")
    page.locator("#id_property_nature").select_option("dwelling")
    page.locator("#id_risk_nature").select_option("burglary")
    page.locator("#id_first_use").fill((timezone.localdate() - timedelta(days=3)).isoformat())
    page.locator("#id_siren").check()
    page.locator("#id_siren_alarm_s").fill(siren_alarm_s)
    page.locator("#id_siren_sabotage_s").fill("300")
    page.locator("#id_light").check()
    page.locator("#id_light_until_switch_off").check()
    page.locator("#id_components_safe").check()
    page.locator("#id_contact_1_name").fill("Jan Peeters")
    page.locator("#id_contact_1_phone").fill("0478 11 12 22")


def test_kb_7_user_signs_in_registers_changes_and_deregisters(browser, asgi_server, register, peers, settings):
    settings.TOCSIN_POW_BITS = 12  # the page solves it in JavaScript; a few thousand hashes
    desktop = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = desktop.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{asgi_server}/alarm/")
    expect(page.get_by_role("heading", name="What the law asks of you")).to_be_visible()
    _shot(page, "01-landing-desktop")
    _sign_in(page, asgi_server, peers)
    _shot(page, "02-systems-empty")

    page.get_by_role("link", name="Register an alarm system").click()
    _fill_registration(page, siren_alarm_s="200")
    page.get_by_role("button", name="Register", exact=True).click()
    expect(page.locator("#error-summary")).to_contain_text("Nothing was registered")
    expect(page.locator("#id_siren_alarm_s-error")).to_contain_text("KB-17")
    expect(page.locator("#id_siren_alarm_s")).to_have_attribute("aria-invalid", "true")
    assert AlarmSystem.objects.count() == 0
    _shot(page, "03-kb17-refused-desktop")

    page.locator("#id_siren_alarm_s").fill("180")
    page.get_by_role("button", name="Register", exact=True).click()
    page.wait_for_url(re.compile(r"/alarm/systems/AS\w+/$"))
    system = AlarmSystem.objects.get()
    assert system.site_text == "Markt 1, 9620" and system.siren_alarm_s == 180 and system.user_email == USER
    expect(page.locator(".messages")).to_contain_text(system.reference)
    _shot(page, "04-registered-desktop")

    page.get_by_text("Change the data").click()
    page.locator("#id_site_name").fill("Huis Peeters")
    page.locator("#id_siren_sabotage_s").fill("420")
    page.get_by_role("button", name="Save the change").click()
    expect(page.locator(".messages")).to_contain_text("Change recorded (version 2)")
    expect(page.locator("table.history")).to_contain_text("Huis Peeters")
    assert SystemVersion.objects.get(system=system, number=2).changes == {
        "site_name": ["Woning Peeters", "Huis Peeters"],
        "siren_sabotage_s": [300, 420],
    }
    _shot(page, "05-changed-desktop")

    # The same pages on a phone, in the same session.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", is_mobile=True)
    phone.add_cookies(desktop.cookies())
    mobile = phone.new_page()
    mobile.set_default_timeout(15_000)
    mobile.goto(f"{asgi_server}/alarm/systems/")
    expect(mobile.locator("ul.systems")).to_contain_text("Huis Peeters")
    _shot(mobile, "06-systems-phone")
    mobile.goto(f"{asgi_server}/alarm/systems/new/")
    mobile.get_by_role("button", name="Register", exact=True).click()
    expect(mobile.locator("#error-summary")).to_be_visible()
    _shot(mobile, "07-new-refused-phone")
    mobile.goto(f"{asgi_server}/alarm/systems/{system.reference}/")
    _shot(mobile, "08-detail-phone")

    page.get_by_text("Record a maintenance").click()
    page.get_by_text("Add a consent").click()
    expect(page.get_by_label("Security company or alarm central")).to_be_visible()
    _shot(page, "05b-forms-open-desktop")

    page.get_by_role("button", name="Deregister this system").click()
    expect(page.locator("#status")).to_contain_text("deregistered")
    system.refresh_from_db()
    assert system.status == "deregistered"
    assert SystemVersion.objects.filter(system=system).latest("number").kind == "deregistration"
    _shot(page, "09-deregistered-desktop")

    phone.clear_cookies()
    mobile.goto(f"{asgi_server}/alarm/")
    _shot(mobile, "10-landing-phone")
    phone.close()
    desktop.close()

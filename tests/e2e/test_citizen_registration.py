"""A citizen on a phone: sign up → verify → sign in → export → delete, in headless chromium (BA-7.3)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tocsin.citizens.models import ContactPoint, Erasure, Registration

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ba_7_3_citizen_signs_up_verifies_signs_in_exports_and_deletes(
    browser,
    asgi_server,
    register,
    peers,
    shot,
    settings,
):
    settings.TOCSIN_POW_BITS = 12  # the page solves it in JavaScript; a few thousand hashes
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="nl-BE", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{asgi_server}/citizen/")
    page.get_by_role("link", name=re.compile("^Registreren$")).first.click()

    page.get_by_label(re.compile("^Uw naam")).fill("Lotte Janssens")
    page.get_by_label(re.compile("^Gsm-nummer")).fill("0471 23 45 67")
    page.get_by_label(re.compile("^E-mailadres")).fill("lotte@example.be")
    address = page.locator("#id_address_1")
    address.fill("Markt 1")
    expect(page.locator("#id_address_1-list option")).to_have_count(1)  # the autocomplete's suggestion
    address.fill("Markt 1, 9620")  # as when the suggestion is chosen
    expect(page.locator("#id_address_1_id")).not_to_have_value("")
    page.locator("#id_consent").check()
    shot(page, "30-citizen-sign-up-phone")
    page.locator("#sign-up button[type=submit]").click()

    page.wait_for_url(re.compile("/citizen/verify/"))
    registration = Registration.objects.get()
    sms, mail = ContactPoint.objects.filter(registration=registration).order_by("id")
    [sms_code] = peers.codes_for("+32471234567")
    [mail_code] = peers.codes_for("lotte@example.be")
    page.locator(f"#code-{sms.pk}").fill(sms_code)
    page.locator(f"#code-{mail.pk}").fill(mail_code)
    shot(page, "31-citizen-verify")
    page.get_by_role("button", name=re.compile("^Bevestigen$")).click()
    page.wait_for_url(re.compile("/citizen/me/"))
    expect(page.locator("#status")).to_contain_text(re.compile("^Actief"))

    # A new visit: sign in with a code sent by e-mail.
    context.clear_cookies()
    page.goto(f"{asgi_server}/citizen/sign-in/")
    page.locator("#contact").fill("lotte@example.be")
    page.get_by_role("button", name="Stuur mij een code").click()
    page.locator("#code").wait_for()
    code = peers.codes_for("lotte@example.be")[-1]
    page.locator("#code").fill(code)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile("/citizen/me/"))
    shot(page, "32-citizen-my-registration")

    with page.expect_download() as download:
        page.locator("#export").click()
    exported = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert exported["registration"]["name"] == "Lotte Janssens"
    assert {p["value"] for p in exported["contact_points"]} == {"+32471234567", "lotte@example.be"}

    page.get_by_role("link", name="Mijn inschrijving verwijderen").click()
    page.get_by_role("button", name="Nu alles verwijderen").click()
    page.get_by_role("heading", name="Uw inschrijving is verwijderd").wait_for()
    shot(page, "33-citizen-deleted")
    assert not Registration.objects.exists() and not ContactPoint.objects.exists()
    assert Erasure.objects.get().count == 1
    context.close()

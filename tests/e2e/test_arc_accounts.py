"""An alarm central configures its receiver in the portal (issue 8): it opens its accounts from the menu, creates
an encrypted, supervised account linked to a registered system, maps a zone to its detection code (KB-14), is told
field by field what it typed wrong, and claims an account the receiver heard — in headless chromium, on a desktop
and on a 390 px phone."""

# ruff: noqa: F811 — the registry's fixtures are imported from tests/alarms/conftest.py, then used as arguments

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.alarms.conftest import central, central_op, registry, registry_admin  # noqa: F401 — fixtures
from tests.e2e.conftest import signed_in
from tocsin.alarms import services as alarms
from tocsin.alarms.services import as_member
from tocsin.arc import services
from tocsin.arc.models import DiscoveredAccount, ReceiverAccount, Signal, SupervisionFault, ZoneMap

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
KEY = "00112233445566778899aabbccddeeff"


def both(page, shot, name: str) -> None:
    """The page on a desktop, then on a phone (nothing may stick out sideways there)."""
    shot(page, f"arc-{name}-desktop")
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name}: {width} px wide on a 390 px phone"
    shot(page, f"arc-{name}-phone")
    page.set_viewport_size(DESKTOP)


def test_a_central_creates_an_account_adds_a_zone_and_claims_a_discovered_one(
    page, asgi_server, shot, central_op, register
):
    from tests.alarms.conftest import managed_values

    system = alarms.system_register(actor=as_member(central_op), values=managed_values(register))
    old = services.account_set(actor=as_member(central_op), account="9F00", poll_interval_s=3600,
                               system_reference=system.reference)  # fmt: skip
    ReceiverAccount.objects.filter(pk=old.pk).update(last_seen=timezone.now() - timedelta(hours=3))
    SupervisionFault.objects.create(account=old, raised_at=timezone.now() - timedelta(hours=2))
    services.account_discovered(central_id=central_op.organisation_id, account="C0FFEE", source="192.0.2.7:5000")

    signed_in(page, asgi_server, central_op)
    page.goto(f"{asgi_server}/")
    page.get_by_role("link", name="Receiver", exact=True).click()
    expect(page.locator("h1")).to_have_text("Receiver accounts")
    expect(page.locator("#count-faults strong")).to_have_text("1")
    expect(page.locator("#count-discovered strong")).to_have_text("1")
    expect(page.locator("#accounts tbody tr")).to_have_count(1)
    expect(page.locator("#accounts")).to_contain_text("Open fault")
    both(page, shot, "accounts")

    # A new account, refused first: each reason beside its field, the summary on top, nothing written.
    page.get_by_role("link", name="New account").click()
    expect(page.locator("h1")).to_have_text("New receiver account")
    page.get_by_label("Account number").fill("1A2X")
    page.get_by_label("AES key").fill("too-short")
    page.get_by_label("Supervision interval (seconds)").fill("30")
    page.get_by_role("button", name="Save the account").click()
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#error-summary h2")).to_have_text("3 problems: nothing was saved.")
    expect(page.locator("#f-account-error1")).to_contain_text("3 to 16 hexadecimal digits")
    expect(page.locator("#f-key-error1")).to_contain_text("An AES key is")
    expect(page.locator("#f-poll-interval-s")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-key")).to_have_value("")  # a key is never sent back, not even a wrong one
    both(page, shot, "form-errors")
    assert not ReceiverAccount.objects.filter(account="1A2B").exists()

    # Right this time, by keyboard where it matters: the error summary links to its fields.
    page.locator('#error-summary a[href="#f-account"]').click()
    expect(page.locator("#f-account")).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("1a2b")
    page.get_by_label("Alarm system (registry reference)").fill(system.reference)
    page.get_by_label("AES key").fill(KEY)
    page.get_by_label("Hexadecimal digits", exact=True).check()
    page.get_by_label("Require encryption").check()
    page.get_by_label("Time zone of the panel's clock").select_option("Europe/Brussels")
    page.get_by_label("Supervision interval (seconds)").fill("3600")
    page.get_by_role("button", name="Save the account").click()
    expect(page.locator("h1")).to_contain_text("Account 1A2B")
    expect(page.locator(".messages")).to_contain_text("Account 1A2B is saved.")
    expect(page.locator("#key-state")).to_contain_text("A key is stored")
    expect(page.locator("#f-key")).to_have_value("")
    assert KEY not in page.content() and KEY.upper() not in page.content()
    row = ReceiverAccount.objects.get(account="1A2B")
    assert services.account_key(row) == bytes.fromhex(KEY) and row.encryption_required
    assert (row.device_tz, row.poll_interval_s, row.system_id) == ("Europe/Brussels", 3600, system.pk)

    # A zone, then a refused one (its reasons beside the zone form), then the first one changed.
    page.locator("#f-zone").fill("3")
    page.get_by_label("Detection code").fill("GLV-03")
    page.get_by_label("Label").fill("Voordeur")
    page.get_by_role("button", name="Save the zone").click()
    expect(page.locator("#zone-table tbody tr")).to_have_count(1)
    expect(page.locator("#zone-table")).to_contain_text("Voordeur")
    page.locator("#f-zone").fill("zone 9!")
    page.get_by_role("button", name="Save the zone").click()
    expect(page.locator("#zone-error-summary")).to_be_visible()
    expect(page.locator("#f-zone-error1")).to_contain_text("1 to 8 letters or digits")
    expect(page.locator("#f-detection-code-error1")).to_contain_text("Give the detection code")
    page.get_by_role("link", name="Change zone 3").click()
    expect(page.locator("#f-detection-code")).to_have_value("GLV-03")
    page.get_by_label("Detection code").fill("GLV-3B")
    page.get_by_role("button", name="Save the zone").click()
    expect(page.locator("#zone-table")).to_contain_text("GLV-3B")
    assert list(ZoneMap.objects.values_list("zone", "detection_code")) == [("3", "GLV-3B")]

    # Signals as the receiver stores them, on the same page.
    now = timezone.now()
    for n, (code, zone) in enumerate((("RP", ""), ("BA", "3"), ("BR", "3"))):
        event = {"code": code, "zone": zone, "area": "1", "user": ""}
        Signal.objects.create(account=row, central_id=row.central_id, received_at=now - timedelta(minutes=10 - n),
                              message_id="SIA-DCS", sequence=f"{n:04d}", encrypted=True, transport="tcp",
                              events=[event], digest=f"e2e{n}")  # fmt: skip
    page.reload()
    expect(page.locator("#signal-table tbody tr")).to_have_count(3)
    expect(page.locator("#signal-table tbody tr").first).to_contain_text("zone 3 (Voordeur)")
    both(page, shot, "account")

    # The account the receiver heard but did not know: claimed from the discovered list.
    page.get_by_role("link", name="Back to the receiver accounts").click()
    expect(page.locator("#accounts tbody tr")).to_have_count(2)
    page.get_by_role("link", name="Discovered accounts").click()
    expect(page.locator("#discovered tbody tr")).to_have_count(1)
    both(page, shot, "discovered")
    page.get_by_role("link", name="Claim account C0FFEE").click()
    expect(page.locator("#f-account")).to_have_value("C0FFEE")
    page.get_by_role("button", name="Save the account").click()
    expect(page.locator("h1")).to_contain_text("Account C0FFEE")
    assert DiscoveredAccount.objects.get().claimed_at is not None

    # In Dutch, the longer words still fit a phone.
    page.locator("#lang-select").select_option("nl")
    page.get_by_role("button", name="Change").click()
    expect(page.locator("h1")).to_contain_text("Account C0FFEE")
    expect(page.locator("#settings-h")).to_have_text("Instellingen")
    both(page, shot, "account-nl")
    page.goto(f"{asgi_server}/arc/accounts/")
    expect(page.locator("h1")).to_have_text("Accounts van de ontvanger")
    both(page, shot, "accounts-nl")

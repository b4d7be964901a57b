"""An entity administrator orders a package of pre-paid units; the crisis centre confirms and delivers it; the
entity sees its balance grow — in the portal, in headless chromium (BA-8-PREPAID)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.conftest import signed_in
from tocsin.billing import services
from tocsin.billing.models import OrderForm
from tocsin.organisations.models import Organisation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _usage_history(org: Organisation, per_month: list[int], request_base: int) -> None:
    """Alerts charged post-paid in the last months (as the worker books them), for the overview's figures."""
    today = timezone.localdate()
    year, month = today.year, today.month
    for back, units in enumerate(per_month):
        if units:
            at = datetime(year, month, 10, 12, tzinfo=timezone.get_current_timezone())
            amount = Decimal("0.0550") * units
            services._book(org.pk, "usage", services._charge_eur(org.pk, "usage", amount), at=at,
                           request_id=request_base + back, alert_id=request_base + back, channel="sms", units=units,
                           postpaid_units=units, memo=f"alert {request_base + back}, sms")  # fmt: skip
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)


def test_ba_8_entity_orders_a_package_the_crisis_centre_delivers_it_the_balance_grows(
    browser, page, asgi_server, municipality, muni_admin, cc_admin, make_org, shot
):
    services.activation_book(municipality)
    zone = make_org("police_zone", name="PZ Vlaamse Ardennen")
    services.activation_book(zone)
    _usage_history(municipality, [120, 340, 0, 80, 1500, 60, 0, 0, 210], 900_000)
    _usage_history(zone, [40, 0, 95, 0, 300], 910_000)

    # The entity's administrator: a date too early is refused next to the field, then the order goes.
    signed_in(page, asgi_server, muni_admin)
    page.goto(f"{asgi_server}/")
    page.get_by_role("link", name="Billing").click()
    expect(page.locator("h1")).to_have_text("Billing")
    expect(page.locator("#prepaid-units")).to_have_text("1000")
    shot(page, "50-billing-entity")
    today = timezone.localdate()
    earliest = today + timedelta(days=14)
    page.locator("#order-units").select_option("5000")
    page.locator("#order-date").fill((today + timedelta(days=3)).isoformat())
    page.locator("#order-reference").fill("BB-Zottegem-7")
    page.get_by_role("button", name="Submit the order").click()
    error = page.locator("#order-date-error")
    expect(error).to_contain_text(f"{earliest.isoformat()} at the earliest")
    expect(page.locator("#order-date")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#order-reference")).to_have_value("BB-Zottegem-7")  # what was typed stays
    assert not OrderForm.objects.exists()
    shot(page, "51-billing-order-too-early")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "51-billing-order-too-early-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator("#order-date").fill((today + timedelta(days=21)).isoformat())
    page.locator("#order-reference").press("Enter")  # by keyboard: the form submits from its fields
    order = OrderForm.objects.get()
    expect(page.locator(".messages")).to_contain_text(f"Order {order.number} is submitted")
    expect(page.locator("#orders")).to_contain_text(order.number)
    expect(page.locator("#orders")).to_contain_text("Submitted")

    # The crisis centre, in a browser of its own: confirms, then records the delivery.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    cc = context.new_page()
    cc.set_default_timeout(15_000)
    signed_in(cc, asgi_server, cc_admin)
    cc.goto(f"{asgi_server}/")
    cc.get_by_role("link", name="Billing").click()
    expect(cc.locator("h1")).to_have_text("Billing overview")
    expect(cc.locator("svg.chart")).to_have_attribute("role", "img")
    this_month = cc.locator("#usage-table tbody tr").last
    expect(this_month.locator("td").first).to_have_text("160")  # units used this month: 120 + 40
    expect(cc.locator("#entity-table")).to_contain_text("PZ Vlaamse Ardennen")
    card = cc.locator(f"#order-{order.pk}")
    expect(card).to_contain_text("Gemeente Zottegem")
    shot(cc, "52-billing-overview")
    cc.set_viewport_size({"width": 390, "height": 844})
    card.get_by_text("Reject…").click()  # the reason field opens (no script: <details>)
    expect(card.get_by_label("Why is the order rejected?")).to_be_visible()
    shot(cc, "53-billing-overview-phone")
    card.get_by_text("Reject…").click()
    cc.set_viewport_size({"width": 1280, "height": 900})
    card.get_by_role("button", name="Confirm").focus()
    cc.keyboard.press("Enter")
    expect(cc.locator(".messages")).to_contain_text(f"Order {order.number}: Confirmed.")
    card.get_by_role("button", name="Mark delivered").click()
    expect(cc.locator(".messages")).to_contain_text(f"Order {order.number}: Delivered.")
    expect(cc.locator("#closed-orders")).to_contain_text(order.number)
    context.close()

    # The entity sees the package among its lots and its balance grown.
    page.reload()
    expect(page.locator("#prepaid-units")).to_have_text("6000")
    expect(page.locator("#lots")).to_contain_text("Package")
    expect(page.locator("#orders")).to_contain_text("Delivered")
    expect(page.locator("#ledger")).to_contain_text(re.compile(rf"order {order.number}: 5000 units"))
    shot(page, "54-billing-entity-delivered")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "55-billing-entity-phone")

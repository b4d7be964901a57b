"""The billing pages of the portal (BA-8): an entity administrator's balance, orders and statements; the crisis
centre's overview, where orders are confirmed, delivered or rejected and bookings reversed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.organisations.factories import UserFactory
from tocsin.billing import services
from tocsin.billing.models import LedgerTransaction, OrderForm
from tocsin.organisations.models import User

pytestmark = pytest.mark.django_db


def _client(as_user, user: User) -> Client:
    client = as_user(user)
    client.cookies["django_language"] = "en"  # the texts asserted below are the English ones
    return client


def _order(client: Client, units: str = "5000", days: int = 20, reference: str = "PO-1"):
    day = (timezone.localdate() + timedelta(days=days)).isoformat()
    return client.post("/billing/orders/", {"units": units, "requested_delivery": day, "reference": reference})


def _prepaid(html: str) -> int:
    match = re.search(r'id="prepaid-units">(\d+)<', html)
    assert match, "no pre-paid balance on the page"
    return int(match.group(1))


def test_an_entity_administrator_sees_balance_tariff_orders_statements_and_ledger(as_user, municipality, muni_admin):
    services.activation_book(municipality)
    response = _client(as_user, muni_admin).get("/billing/")
    assert response.status_code == 200
    html = response.content.decode()
    assert _prepaid(html) == 1000  # the units included with the activation
    assert 'id="packages"' in html and "5000" in html and "50000" in html  # the tariff's packages
    earliest = (timezone.localdate() + timedelta(days=14)).isoformat()
    assert f'min="{earliest}"' in html
    assert 'id="threshold-units"' in html and 'value="500"' in html
    month = timezone.localdate().strftime("%Y-%m")
    assert f"/billing/statements/{month}.pdf" in html and f"/billing/statements/{month}.csv" in html
    assert "activation, 1000 units included" in html  # the ledger
    assert 'href="/billing/"' in html  # the portal's menu links to it


def test_an_operator_is_refused(as_user, municipality):
    operator = UserFactory(organisation=municipality, roles=["operator"])
    client = _client(as_user, operator)
    assert client.get("/billing/").status_code == 403
    assert _order(client).status_code == 403
    assert not OrderForm.objects.exists()
    assert 'href="/billing/"' not in client.get("/").content.decode()  # no menu entry either


def test_an_order_too_early_is_refused_next_to_the_date_and_nothing_is_written(as_user, municipality, muni_admin):
    client = _client(as_user, muni_admin)
    response = _order(client, days=13, reference="PO-early")
    assert response.status_code == 422
    html = response.content.decode()
    earliest = (timezone.localdate() + timedelta(days=14)).isoformat()
    assert f"{earliest} at the earliest" in html  # the message names the earliest date
    assert 'id="order-date-error"' in html and 'aria-describedby="order-date-help order-date-error"' in html
    assert 'aria-invalid="true"' in html
    assert 'value="PO-early"' in html  # what was typed stays
    assert not OrderForm.objects.exists()


def test_an_unknown_package_is_refused_next_to_the_package(as_user, municipality, muni_admin):
    response = _order(_client(as_user, muni_admin), units="1234")
    assert response.status_code == 422
    assert 'id="order-units-error"' in response.content.decode()
    assert not OrderForm.objects.exists()


def test_a_valid_order_is_listed_and_its_form_downloads_as_pdf(as_user, municipality, muni_admin):
    client = _client(as_user, muni_admin)
    response = _order(client, units="10000", days=14)
    assert response.status_code == 302 and response["Location"].endswith("/billing/#orders")
    order = OrderForm.objects.get()
    assert (order.organisation_id, order.units, order.status, order.reference) == (
        municipality.pk,
        10000,
        "submitted",
        "PO-1",
    )
    html = client.get("/billing/").content.decode()
    assert order.number in html and f"/billing/orders/{order.pk}.pdf" in html
    pdf = client.get(f"/billing/orders/{order.pk}.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_another_entitys_order_form_does_not_exist(as_user, municipality, muni_admin, make_org):
    other = make_org("municipality", name="Gemeente Ninove")
    other_admin = UserFactory(organisation=other, roles=["admin"])
    order = services.order_submit(
        actor=other_admin, units=5000, requested_delivery=timezone.localdate() + timedelta(days=30)
    )
    client = _client(as_user, muni_admin)
    assert client.get(f"/billing/orders/{order.pk}.pdf").status_code == 404
    assert order.number not in client.get("/billing/").content.decode()
    # Nor its statements: another entity's ledger does not exist for an entity's administrator.
    month = timezone.localdate().strftime("%Y-%m")
    assert client.get(f"/billing/statements/{month}.csv?organisation={other.pk}").status_code == 404


def test_the_threshold_is_saved_and_nonsense_refused(as_user, municipality, muni_admin):
    client = _client(as_user, muni_admin)
    response = client.post("/billing/threshold/", {"low_balance_units": "2000"})
    assert response.status_code == 302
    assert services.low_balance_threshold(municipality.pk) == 2000
    response = client.post("/billing/threshold/", {"low_balance_units": "lots"})
    assert response.status_code == 422
    assert 'id="threshold-error"' in response.content.decode()
    assert services.low_balance_threshold(municipality.pk) == 2000


def test_statements_download_for_the_entity_and_for_the_crisis_centre(as_user, municipality, muni_admin, cc_admin):
    services.activation_book(municipality)
    month = timezone.localdate().strftime("%Y-%m")
    client = _client(as_user, muni_admin)
    csv = client.get(f"/billing/statements/{month}.csv")
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    pdf = client.get(f"/billing/statements/{month}.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert client.get("/billing/statements/2026-13.csv").status_code == 422  # not a month
    cc = _client(as_user, cc_admin)
    assert cc.get(f"/billing/statements/{month}.csv?organisation={municipality.pk}").status_code == 200
    assert cc.get(f"/billing/statements/{month}.csv?organisation=999999").status_code == 404
    picked = cc.get("/billing/statements/", {"organisation": municipality.pk, "month": month, "format": "csv"})
    assert picked.status_code == 302
    assert picked["Location"] == f"/billing/statements/{month}.csv?organisation={municipality.pk}"


def test_the_overview_is_the_crisis_centres_only(as_user, municipality, muni_admin, cc_admin):
    order = services.order_submit(
        actor=muni_admin, units=5000, requested_delivery=timezone.localdate() + timedelta(days=30)
    )
    client = _client(as_user, muni_admin)
    assert client.get("/billing/overview/").status_code == 404
    assert client.post(f"/billing/orders/{order.pk}/decide/", {"status": "confirmed"}).status_code == 404
    assert client.post("/billing/reverse/", {"transaction": "1", "reason": "x"}).status_code == 404
    assert OrderForm.objects.get(pk=order.pk).status == "submitted"


def test_the_crisis_centre_confirms_and_delivers_and_the_entity_sees_the_units(
    as_user, municipality, muni_admin, cc_admin
):
    services.activation_book(municipality)
    entity = _client(as_user, muni_admin)
    assert _order(entity, units="5000").status_code == 302
    order = OrderForm.objects.get()
    cc = _client(as_user, cc_admin)
    page = cc.get("/billing/overview/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<svg class="chart"' in html and 'role="img"' in html and "<title>Units used per month" in html
    assert 'id="usage-table"' in html and order.number in html
    assert 'href="/billing/overview/"' in html  # the crisis centre's menu entry
    assert cc.post(f"/billing/orders/{order.pk}/decide/", {"status": "delivered"}).status_code == 422  # not yet
    assert cc.post(f"/billing/orders/{order.pk}/decide/", {"status": "confirmed"}).status_code == 302
    assert cc.post(f"/billing/orders/{order.pk}/decide/", {"status": "delivered"}).status_code == 302
    order.refresh_from_db()
    assert order.status == "delivered"
    html = entity.get("/billing/").content.decode()
    assert _prepaid(html) == 6000
    assert "Delivered" in html and f"order {order.number}: 5000 units" in html
    # The crisis centre sees the entity's page too (read only: no order form).
    html = cc.get(f"/billing/?organisation={municipality.pk}").content.decode()
    assert _prepaid(html) == 6000 and 'id="order-units"' not in html


def test_a_rejection_needs_a_reason(as_user, municipality, muni_admin, cc_admin):
    order = services.order_submit(
        actor=muni_admin, units=5000, requested_delivery=timezone.localdate() + timedelta(days=30)
    )
    cc = _client(as_user, cc_admin)
    response = cc.post(f"/billing/orders/{order.pk}/decide/", {"status": "rejected", "reason": " "})
    assert response.status_code == 422
    assert f'id="reason-{order.pk}-error"' in response.content.decode()
    assert (
        cc.post(f"/billing/orders/{order.pk}/decide/", {"status": "rejected", "reason": "No budget"}).status_code == 302
    )
    order.refresh_from_db()
    assert (order.status, order.reason) == ("rejected", "No budget")


def test_the_crisis_centre_reverses_a_booking(as_user, municipality, cc_admin):
    booking = services.activation_book(municipality)
    assert booking is not None
    cc = _client(as_user, cc_admin)
    response = cc.post("/billing/reverse/", {"transaction": str(booking.pk), "reason": ""})
    assert response.status_code == 422 and 'id="reverse-reason-error"' in response.content.decode()
    response = cc.post("/billing/reverse/", {"transaction": "abc", "reason": "typo"})
    assert response.status_code == 422 and 'id="reverse-transaction-error"' in response.content.decode()
    response = cc.post("/billing/reverse/", {"transaction": str(booking.pk), "reason": "Activated by mistake"})
    assert response.status_code == 302
    assert LedgerTransaction.objects.get(reverses=booking).memo == "Activated by mistake"


def test_names_are_escaped_in_the_overview(as_user, make_org, cc_admin):
    org = make_org("municipality", name="<script>alert(1)</script>")
    services.activation_book(org)
    html = _client(as_user, cc_admin).get("/billing/overview/").content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html

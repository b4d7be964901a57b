"""Billing through the API: balance, orders, order forms — scoped to the entity (BA-8-PREPAID)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.organisations.factories import UserFactory
from tocsin.billing.models import OrderForm
from tocsin.organisations import services as organisations

pytestmark = pytest.mark.django_db


def _activated(cc_admin, name: str, nis: str):
    org = organisations.organisation_create(actor=cc_admin, name=name, kind="municipality",
                                            admin_email=f"admin@{nis}.be", admin_name="Admin")  # fmt: skip
    return organisations.organisation_activate(actor=cc_admin, organisation_id=org.pk, nis_code=nis,
                                               sms_sender="Gemeente", languages=["nl"])  # fmt: skip


def test_ba_8_prepaid_an_entity_orders_and_reads_its_own_billing_through_the_api(cc_admin, api_client):
    org = _activated(cc_admin, "Gemeente Zottegem", "41081")
    client = api_client(org.members.get())
    balance = client.get("/api/v1/billing/balance").json()
    assert balance["prepaid_units"] == 1000 and balance["lots"][0]["source"] == "activation"
    assert balance["receivable"].count(".") == 1  # a decimal string, never a float
    early = timezone.localdate() + timedelta(days=13)
    refused = client.post("/api/v1/billing/orders", {"units": 5000, "requested_delivery": early.isoformat()},
                          content_type="application/json")  # fmt: skip
    assert refused.status_code == 422 and "requested_delivery" in refused.text and not OrderForm.objects.exists()
    day = (timezone.localdate() + timedelta(days=14)).isoformat()
    made = client.post("/api/v1/billing/orders", {"units": 5000, "requested_delivery": day, "reference": "PO-1"},
                       content_type="application/json")  # fmt: skip
    assert made.status_code == 201 and made.json()["unit_price"] == "0.0500" and made.json()["status"] == "submitted"
    order_id = made.json()["id"]
    assert client.get(f"/api/v1/billing/orders/{order_id}/form.pdf").content.startswith(b"%PDF-")
    assert [o["id"] for o in client.get("/api/v1/billing/orders").json()] == [order_id]

    other = api_client(_activated(cc_admin, "Stad Gent", "44021").members.get())
    assert other.get(f"/api/v1/billing/orders/{order_id}").status_code == 404
    assert other.get(f"/api/v1/billing/orders/{order_id}/form.pdf").status_code == 404
    assert other.get("/api/v1/billing/orders").json() == []
    operator = api_client(UserFactory(organisation=org, email="op@zottegem.be", roles=["operator"]))
    assert operator.get("/api/v1/billing/balance").status_code == 403
    assert operator.post("/api/v1/billing/orders", {"units": 5000, "requested_delivery": day},
                         content_type="application/json").status_code == 403  # fmt: skip

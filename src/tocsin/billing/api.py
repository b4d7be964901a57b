"""Billing through the API: an entity's balance, its orders and order forms (BA-8-PREPAID). The same
services and selectors as the portal; amounts are decimal strings, never floats."""

from __future__ import annotations

from datetime import date, datetime

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from pydantic import Field

from tocsin.billing import selectors, services
from tocsin.billing.models import OrderForm
from tocsin.organisations.models import User

router = Router(tags=["billing"])


class LotOut(Schema):
    id: int
    source: str
    remaining: int
    expires: datetime | None


class BalanceOut(Schema):
    prepaid_units: int
    receivable: str  # euros excl. VAT, to the cent
    low_balance_units: int
    lots: list[LotOut]


class OrderIn(Schema):
    units: int = Field(gt=0, le=10_000_000)
    requested_delivery: date
    reference: str = Field(default="", max_length=100)


class OrderOut(Schema):
    id: int
    number: str
    units: int
    unit_price: str
    requested_delivery: date
    reference: str
    status: str
    reason: str
    submitted_at: datetime


def _order(order: OrderForm) -> OrderOut:
    return OrderOut(id=order.pk, number=order.number, units=order.units, unit_price=str(order.unit_price),
                    requested_delivery=order.requested_delivery, reference=order.reference, status=order.status,
                    reason=order.reason, submitted_at=order.submitted_at)  # fmt: skip


@router.get("/billing/balance", response=BalanceOut, summary="Pre-paid units and the amount receivable")
def billing_balance(request: HttpRequest) -> BalanceOut:
    user: User = request.auth  # type: ignore[attr-defined]
    data = selectors.balance(selectors.billing_org(actor=user))
    return BalanceOut(
        prepaid_units=sum(lot["remaining"] for lot in data["lots"]), receivable=str(data["receivable"]),
        low_balance_units=data["threshold"],
        lots=[LotOut(id=lot["id"], source=lot["source"], remaining=lot["remaining"], expires=lot["expires"])
              for lot in data["lots"]],
    )  # fmt: skip


@router.get("/billing/orders", response=list[OrderOut])
def billing_orders(request: HttpRequest) -> list[OrderOut]:
    user: User = request.auth  # type: ignore[attr-defined]
    return [_order(o) for o in selectors.orders(actor=user).order_by("-submitted_at")[:200]]


@router.post("/billing/orders", response={201: OrderOut}, summary="Order a package of pre-paid units")
def billing_order_submit(request: HttpRequest, payload: OrderIn) -> object:
    from ninja import Status

    user: User = request.auth  # type: ignore[attr-defined]
    order = services.order_submit(actor=user, units=payload.units, requested_delivery=payload.requested_delivery,
                                  reference=payload.reference)  # fmt: skip
    return Status(201, _order(order))


@router.get("/billing/orders/{order_id}", response=OrderOut)
def billing_order(request: HttpRequest, order_id: int) -> OrderOut:
    user: User = request.auth  # type: ignore[attr-defined]
    return _order(selectors.order_get(actor=user, order_id=order_id))


@router.get("/billing/orders/{order_id}/form.pdf", summary="The order form (bestelbon) as PDF")
def billing_order_pdf(request: HttpRequest, order_id: int) -> HttpResponse:
    from tocsin.billing.documents import order_form_pdf

    user: User = request.auth  # type: ignore[attr-defined]
    order = selectors.order_get(actor=user, order_id=order_id)
    response = HttpResponse(order_form_pdf(order), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{order.number}.pdf"'
    return response

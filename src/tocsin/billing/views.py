"""The billing pages of the portal (BA-8): an entity's balance, tariff, orders, statements and ledger; the crisis
centre's overview, where orders are decided and bookings reversed. Thin: the services decide."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import slugify
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from tocsin.billing import domain, selectors, services
from tocsin.billing.models import OrderForm
from tocsin.i18n import localise
from tocsin.organisations.domain import Kind, RuleError
from tocsin.organisations.models import Organisation, User
from tocsin.organisations.services import AccessDenied, NotFound
from tocsin.web.views import _denied

KIND_LABELS = {
    "activation": _("Activation"),
    "subscription": _("Subscription"),
    "usage": _("Usage"),
    "package": _("Package"),
    "expiry": _("Expiry"),
    "credit": _("Credit"),
    "reversal": _("Reversal"),
}
STATUS_LABELS = {
    "submitted": _("Submitted"),
    "confirmed": _("Confirmed"),
    "delivered": _("Delivered"),
    "rejected": _("Rejected"),
}
# What the button that moves an order on says (rejecting has a form of its own: it needs a reason).
DECIDE_LABELS = {"confirmed": _("Confirm"), "delivered": _("Mark delivered")}
LOT_SOURCES = {"activation": _("Included with the activation"), "package": _("Package")}
OPEN = ("submitted", "confirmed")
MONTH = re.compile(r"\d{4}-\d{2}")


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _is_cc_admin(user: User) -> bool:
    return selectors.is_crisis_admin(user)


def _months(today: date, count: int = 12) -> list[dict[str, Any]]:
    """The last ``count`` months, the current one included, oldest first: {"key": "2026-03", "date": 1 March}."""
    year, month, out = today.year, today.month, []
    for _i in range(count):
        out.append({"key": f"{year:04d}-{month:02d}", "date": date(year, month, 1)})
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]


def _organisation_param(request: HttpRequest) -> int | None:
    """``?organisation=<id>``: another entity's billing (the crisis centre's administrators)."""
    raw = request.GET.get("organisation", "").strip()
    if not raw:
        return None
    if not (raw.isdecimal() and raw.isascii() and len(raw) <= 12):
        raise Http404
    return int(raw)


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None  # the service says a date is needed


def _ledger_rows(org: Organisation, limit: int = 100) -> list[dict[str, Any]]:
    """The latest bookings, each with what it did to the entity's pre-paid units and to what it owes."""
    rows = []
    for txn in selectors.ledger(org)[:limit]:
        mine = [e for e in txn.entries.all() if e.organisation_id == org.pk]
        units = sum((e.amount for e in mine if e.account == "prepaid" and e.currency == "UNIT"), Decimal(0))
        amount = sum((e.amount for e in mine if e.account == "receivable" and e.currency == "EUR"), Decimal(0))
        rows.append(
            {
                "txn": txn,
                "kind": KIND_LABELS.get(txn.kind, txn.kind),
                "units": int(units),
                "amount": domain.cents(amount),
            }
        )
    return rows


def _tariff(today: date) -> dict[str, Any]:
    tariff = services.tariff_at(today)
    packages = []
    for key, price in sorted(dict(tariff.packages).items(), key=lambda item: int(item[0])):
        unit_price = Decimal(str(price))
        packages.append(
            {"key": str(key), "units": int(key), "unit_price": unit_price, "total": domain.cents(unit_price * int(key))}
        )
    return {"tariff": tariff, "packages": packages, "vat_percent": tariff.vat_rate * 100}


def _billing_page(
    request: HttpRequest, actor: User, org: Organisation, *, status: int = 200, **extra: Any
) -> HttpResponse:
    today = timezone.localdate()
    own = org.pk == actor.organisation_id
    context: dict[str, Any] = {
        "entity": org,
        "own": own,
        "billed": domain.check_billed(Kind(org.kind)),
        "balance": selectors.balance(org),
        "earliest": domain.earliest_delivery(today),
        "orders": list(selectors.orders(actor=actor).filter(organisation=org).order_by("-submitted_at")[:100]),
        "status_labels": STATUS_LABELS,
        "lot_sources": LOT_SOURCES,
        "statement_months": _months(today)[::-1],
        "org_query": "" if own else f"?organisation={org.pk}",
        "ledger": _ledger_rows(org),
        "order_values": {},
        "order_error": "",
        "order_field": "",
        "threshold_error": "",
        "threshold_value": "",
        **_tariff(today),
        **extra,
    }
    return render(request, "billing/entity.html", context, status=status)


@login_required
@require_GET
def billing(request: HttpRequest) -> HttpResponse:
    """An administrator's billing page: its own entity's, or (crisis centre) the entity of ``?organisation``."""
    actor = _user(request)
    try:
        org = selectors.billing_org(actor=actor, organisation_id=_organisation_param(request))
    except NotFound:
        raise Http404 from None
    except AccessDenied as exc:
        return _denied(request, exc)
    return _billing_page(request, actor, org)


@login_required
@require_POST
def billing_order(request: HttpRequest) -> HttpResponse:
    """Order a package (BA-8-PREPAID). Refused: the page again, the reason next to the field, nothing written."""
    actor = _user(request)
    values = {
        "units": request.POST.get("units", ""),
        "requested_delivery": request.POST.get("requested_delivery", "").strip(),
        "reference": request.POST.get("reference", ""),
    }
    try:
        org = selectors.billing_org(actor=actor)
    except AccessDenied as exc:
        return _denied(request, exc)
    try:
        order = services.order_submit(
            actor=actor,
            units=values["units"],
            requested_delivery=_date(values["requested_delivery"]),
            reference=values["reference"],
        )
    except (RuleError, AccessDenied) as exc:
        field = getattr(exc, "field", "") or ""
        return _billing_page(request, actor, org, status=422, order_values=values, order_error=localise(exc),
                             order_field=field if field in ("units", "requested_delivery") else "")  # fmt: skip
    messages.success(
        request,
        gettext("Order %(number)s is submitted: its form goes to the supplier and the crisis centre.")
        % {"number": order.number},
    )
    return redirect(reverse("web:billing") + "#orders")


@login_required
@require_POST
def billing_threshold(request: HttpRequest) -> HttpResponse:
    """The pre-paid balance under which the entity's administrators are warned."""
    actor = _user(request)
    raw = request.POST.get("low_balance_units", "").strip()
    try:
        org = selectors.billing_org(actor=actor)
    except AccessDenied as exc:
        return _denied(request, exc)
    try:
        # Not a whole number: the service refuses it as it refuses a negative one.
        services.low_balance_set(
            actor=actor, units=int(raw) if raw.isascii() and raw.isdecimal() and len(raw) <= 9 else -1
        )
    except (RuleError, AccessDenied) as exc:
        return _billing_page(request, actor, org, status=422, threshold_error=localise(exc), threshold_value=raw)
    messages.success(request, gettext("The warning threshold is saved."))
    return redirect(reverse("web:billing") + "#threshold")


@login_required
@require_GET
def billing_order_pdf(request: HttpRequest, order_id: int) -> HttpResponse:
    """An order form (bestelbon) as PDF: the entity's own, or any for the crisis centre."""
    from tocsin.billing.documents import order_form_pdf

    try:
        order = selectors.order_get(actor=_user(request), order_id=order_id)
    except NotFound:
        raise Http404 from None
    except AccessDenied as exc:
        return _denied(request, exc)
    response = HttpResponse(order_form_pdf(order), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="tocsin-order-{slugify(order.number)}.pdf"'
    return response


@login_required
@require_GET
def billing_statement(request: HttpRequest, month: str, kind: str) -> HttpResponse:
    """A month's statement as PDF or CSV: the entity's own, or (crisis centre) that of ``?organisation``."""
    from tocsin.billing import documents

    try:
        org = selectors.billing_org(actor=_user(request), organisation_id=_organisation_param(request))
        statement = selectors.statement(org, month)
    except NotFound:
        raise Http404 from None
    except AccessDenied as exc:
        return _denied(request, exc)
    except RuleError as exc:
        return HttpResponse(localise(exc), status=422, content_type="text/plain; charset=utf-8")
    name = f"tocsin-statement-{slugify(org.name) or org.pk}-{month}"
    if kind == "csv":
        response = HttpResponse(documents.statement_csv(statement), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(documents.statement_pdf(statement), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}.{kind}"'
    return response


@login_required
@require_GET
def billing_statement_pick(request: HttpRequest) -> HttpResponse:
    """The overview's small form (entity, month, format) → the statement's own address."""
    month, kind = request.GET.get("month", ""), request.GET.get("format", "pdf")
    if not MONTH.fullmatch(month) or kind not in ("pdf", "csv"):
        raise Http404
    url = reverse(f"web:billing_statement_{kind}", kwargs={"month": month})
    organisation = _organisation_param(request)
    return redirect(url + (f"?organisation={organisation}" if organisation is not None else ""))


# --- the crisis centre ------------------------------------------------------------------------------------------


def _f(value: float) -> str:
    return f"{value:.1f}"


def _usage_chart(months: list[dict[str, Any]], units: list[int]) -> SafeString:
    """Units used per month as a bar chart: server-drawn SVG, every string escaped (format_html)."""
    width, height, left, right, top, bottom = 560, 250, 60, 8, 16, 40
    peak = max(units, default=0)
    scale_top = 10
    while scale_top < peak:  # 10, 20, 50, 100, 200, 500, …
        scale_top = scale_top * 5 // 2 if str(scale_top).startswith("2") else scale_top * 2
    plot_h, slot = height - top - bottom, (width - left - right) / max(len(months), 1)
    title = gettext("Units used per month, all entities, over the last %(n)s months") % {"n": len(months)}
    parts = [format_html("<title>{}</title>", title)]
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        parts.append(format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#c8c8c8"/>'
            '<text x="{}" y="{}" text-anchor="end" font-size="15" fill="#4a4a4a">{}</text>',
            left, _f(y), width - right, _f(y), left - 6, _f(y + 4), int(scale_top * fraction),
        ))  # fmt: skip
    unit_word = gettext("units")
    for i, (month, n) in enumerate(zip(months, units, strict=True)):
        x, bar_h = left + i * slot, plot_h * n / scale_top
        parts.append(format_html(
            '<rect x="{}" y="{}" width="{}" height="{}" fill="#0b4f8a"><title>{}: {} {}</title></rect>',
            _f(x + slot * 0.15), _f(top + plot_h - bar_h), _f(slot * 0.7), _f(bar_h), month["key"], n, unit_word,
        ))  # fmt: skip
        if n:
            parts.append(format_html(
                '<text x="{}" y="{}" text-anchor="middle" font-size="14" fill="#1a1a1a">{}</text>',
                _f(x + slot / 2), _f(top + plot_h - bar_h - 3), n,
            ))  # fmt: skip
        parts.append(format_html(
            '<text x="{}" y="{}" text-anchor="middle" font-size="15" fill="#1a1a1a">{}</text>',
            _f(x + slot / 2), top + plot_h + 17, f"{month['date'].month:02d}",
        ))  # fmt: skip
        if i == 0 or month["date"].month == 1:  # the year under its first month
            parts.append(format_html(
                '<text x="{}" y="{}" text-anchor="middle" font-size="15" fill="#4a4a4a">{}</text>',
                _f(x + slot / 2), top + plot_h + 34, month["date"].year,
            ))  # fmt: skip
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">{}</svg>',
        width, height, title, format_html_join("", "{}", ((p,) for p in parts)),
    )  # fmt: skip


def _overview_page(request: HttpRequest, actor: User, *, http_status: int = 200, **extra: Any) -> HttpResponse:
    from tocsin.organisations.selectors import organisation_list

    months = _months(timezone.localdate())
    keys = [m["key"] for m in months]
    rows = selectors.overview(keys)
    units = [sum(r["units"][i] for r in rows) for i in range(len(keys))]
    amounts = [sum((r["amount"][i] for r in rows), Decimal(0)) for i in range(len(keys))]
    all_orders = selectors.orders(actor=actor).order_by("-submitted_at", "-pk")
    forward = {
        current: [t for c, t in domain.ORDER_TRANSITIONS if c == current and t != "rejected"] for current in OPEN
    }
    context: dict[str, Any] = {
        "months": months,
        "chart": _usage_chart(months, units),
        "totals": [{"month": m, "units": n, "amount": a} for m, n, a in zip(months, units, amounts, strict=True)],
        "rows": [
            {
                **r,
                "cells": [
                    {"month": m, "units": n, "amount": a}
                    for m, n, a in zip(months, r["units"], r["amount"], strict=True)
                ],
            }
            for r in rows
        ],
        "open_orders": [
            {"order": o, "forward": [(t, DECIDE_LABELS[t]) for t in forward[o.status]], "amount": _order_amount(o)}
            for o in all_orders.filter(status__in=OPEN)
        ],
        "closed_orders": [{"order": o, "amount": _order_amount(o)} for o in all_orders.exclude(status__in=OPEN)[:50]],
        "status_labels": STATUS_LABELS,
        "entities": [o for o in organisation_list(actor=actor) if domain.check_billed(Kind(o.kind))],
        "statement_months": months[::-1],
        "decide_error": {},
        "reverse_error": "",
        "reverse_field": "",
        "reverse_values": {},
        **extra,
    }
    return render(request, "billing/overview.html", context, status=http_status)


def _order_amount(order: OrderForm) -> Decimal:
    return domain.cents(order.unit_price * order.units)


def _cc_admin_or_404(request: HttpRequest) -> User:
    actor = _user(request)
    if not _is_cc_admin(actor):
        raise Http404  # the overview does not exist for anyone else
    return actor


@login_required
@require_GET
def billing_overview(request: HttpRequest) -> HttpResponse:
    """The crisis centre: usage per month, per entity, the orders to decide, corrections."""
    actor = _cc_admin_or_404(request)
    try:
        return _overview_page(request, actor)
    except AccessDenied as exc:
        return _denied(request, exc)


@login_required
@require_POST
def billing_order_decide(request: HttpRequest, order_id: int) -> HttpResponse:
    """Record the supplier's answer to an order: confirmed, delivered (units credited) or rejected (a reason)."""
    actor = _cc_admin_or_404(request)
    try:
        order = services.order_decide(actor=actor, order_id=order_id, status=request.POST.get("status", ""),
                                      reason=request.POST.get("reason", ""))  # fmt: skip
    except NotFound:
        raise Http404 from None
    except AccessDenied as exc:
        return _denied(request, exc)
    except RuleError as exc:
        error = {"order_id": order_id, "message": localise(exc), "field": exc.field or "",
                 "reason": request.POST.get("reason", "")}  # fmt: skip
        return _overview_page(request, actor, http_status=422, decide_error=error)
    messages.success(
        request,
        gettext("Order %(number)s: %(status)s.") % {"number": order.number, "status": STATUS_LABELS[order.status]},
    )
    return redirect(reverse("web:billing_overview") + "#orders")


@login_required
@require_POST
def billing_reverse(request: HttpRequest) -> HttpResponse:
    """A correction: a booking reversed, with the reason (nothing in the ledger is ever edited)."""
    actor = _cc_admin_or_404(request)
    values = {"transaction": request.POST.get("transaction", "").strip(), "reason": request.POST.get("reason", "")}
    try:
        reversal = services.ledger_reverse(
            actor=actor,
            # Not a number: no such booking (the service says so).
            transaction_id=int(values["transaction"])
            if values["transaction"].isascii()
            and values["transaction"].isdecimal()
            and len(values["transaction"]) <= 12
            else 0,
            reason=values["reason"],
        )
    except AccessDenied as exc:
        return _denied(request, exc)
    except (RuleError, NotFound) as exc:
        field = "reason" if getattr(exc, "field", "") == "reason" else "transaction"
        return _overview_page(request, actor, http_status=422, reverse_error=localise(exc), reverse_field=field,
                              reverse_values=values)  # fmt: skip
    messages.success(
        request,
        gettext("Booking %(booking)s is reversed by booking %(reversal)s.")
        % {"booking": values["transaction"], "reversal": reversal.pk},
    )
    return redirect(reverse("web:billing_overview") + "#reverse")

"""Reads of billing, always scoped: an entity sees its own ledger, the crisis centre every entity's."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from tocsin.billing import domain, services
from tocsin.billing.models import LedgerEntry, LedgerTransaction, OrderForm, PackageLot
from tocsin.organisations.domain import Role, gettext_noop
from tocsin.organisations.models import Organisation, User
from tocsin.organisations.services import AccessDenied, NotFound, access_check


def is_crisis_admin(actor: User) -> bool:
    """An administrator of the crisis centre: reads every entity's billing."""
    return actor.organisation.is_crisis_centre and actor.has_role(Role.ADMIN)


_is_cc_admin = is_crisis_admin


def billing_org(*, actor: User, organisation_id: int | None = None) -> Organisation:
    """The organisation whose billing the actor may read: its own (administrators), or any (the crisis
    centre's administrators)."""
    access_check(actor)
    if organisation_id is None or organisation_id == actor.organisation_id:
        if not actor.has_role(Role.ADMIN):
            raise AccessDenied(gettext_noop("Only administrators see the billing."))
        return actor.organisation
    if not _is_cc_admin(actor):
        raise NotFound(gettext_noop("No such organisation."))  # another entity's ledger does not exist for you
    org = Organisation.objects.filter(pk=organisation_id).first()
    if org is None:
        raise NotFound(gettext_noop("No such organisation."))
    return org


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``2026-11`` → [1 Nov 00:00, 1 Dec 00:00) in Brussels time."""
    try:
        year_text, mon_text = month.split("-")
        if not (year_text.isdecimal() and mon_text.isdecimal() and len(year_text) == 4 and 2000 <= int(year_text)
                <= 2100):  # fmt: skip
            raise ValueError(month)
        year, mon = int(year_text), int(mon_text)
        start = date(year, mon, 1)
        end = date(year + (mon == 12), mon % 12 + 1, 1)
    except (ValueError, TypeError, AttributeError):
        from tocsin.organisations.domain import RuleError

        raise RuleError(gettext_noop("A month is written YYYY-MM."), field="month") from None
    tz = timezone.get_current_timezone()
    return datetime(start.year, start.month, 1, tzinfo=tz), datetime(end.year, end.month, 1, tzinfo=tz)


def _sum(qs: QuerySet[LedgerEntry]) -> Decimal:
    return qs.aggregate(n=Sum("amount"))["n"] or Decimal(0)


def balance(org: Organisation, at: datetime | None = None) -> dict[str, Any]:
    at = at or timezone.now()
    entries = LedgerEntry.objects.filter(organisation=org, transaction__at__lt=at)
    lots = [
        {"id": lot.id, "remaining": lot.remaining, "starts": lot.starts, "expires": lot.expires,
         "source": PackageLot.objects.get(pk=lot.id).source}
        for lot in services.lots(org.pk)
        if lot.remaining > 0 and (lot.expires is None or at < lot.expires)
    ]  # fmt: skip
    return {
        "receivable": domain.cents(_sum(entries.filter(account="receivable", currency="EUR"))),
        "prepaid_units": services.prepaid_units(org.pk, at),  # valid lots only (expired ones are written off)
        "lots": lots,
        "threshold": services.low_balance_threshold(org.pk),
    }


def ledger(org: Organisation) -> QuerySet[LedgerTransaction]:
    return LedgerTransaction.objects.filter(organisation=org).prefetch_related("entries").order_by("-at", "-pk")


def orders(*, actor: User) -> QuerySet[OrderForm]:
    access_check(actor)
    if _is_cc_admin(actor):
        return OrderForm.objects.select_related("organisation").all()
    if not actor.has_role(Role.ADMIN):
        raise AccessDenied(gettext_noop("Only administrators see the billing."))
    return OrderForm.objects.select_related("organisation").filter(organisation_id=actor.organisation_id)


def order_get(*, actor: User, order_id: int) -> OrderForm:
    order = orders(actor=actor).filter(pk=order_id).first()
    if order is None:
        raise NotFound(gettext_noop("No such order."))
    return order


def statement(org: Organisation, month: str) -> dict[str, Any]:
    """The month's statement: opening balances, what was booked (fees, packages, corrections), usage per
    alert and channel (pre-paid and post-paid units, the post-paid amount), net, VAT and total, closing
    balances. Amounts to the cent; each line rounded once."""
    from tocsin.alerts.models import Alert

    start, end = month_bounds(month)
    services.usage_charge(since=max(start, timezone.now() - timedelta(days=40)))  # older months were charged
    before = LedgerEntry.objects.filter(organisation=org, transaction__at__lt=start)
    within = LedgerTransaction.objects.filter(organisation=org, at__gte=start, at__lt=end).order_by("at", "pk")
    tariff = services.tariff_at(start.date())
    fees: list[dict[str, Any]] = []
    usage: dict[tuple[int, str], dict[str, Any]] = {}
    units_in = units_expired = 0
    for txn in within.prefetch_related("entries"):
        eur = sum((e.amount for e in txn.entries.all() if e.account == "receivable"), Decimal(0))
        units = sum((e.amount for e in txn.entries.all() if e.account == "prepaid"), Decimal(0))
        if txn.kind == "usage" or (txn.kind == "reversal" and txn.request_id):
            row = usage.setdefault((txn.alert_id or 0, txn.channel), {
                "alert_id": txn.alert_id, "channel": txn.channel, "units": 0, "prepaid_units": 0,
                "postpaid_units": 0, "amount": Decimal(0)})  # fmt: skip
            row["units"] += txn.units
            row["prepaid_units"] += txn.prepaid_units
            row["postpaid_units"] += txn.postpaid_units
            row["amount"] += eur
            continue
        if txn.kind == "expiry":
            units_expired -= int(units)
            continue
        if units > 0:
            units_in += int(units)
        if eur or units:
            fees.append({"at": txn.at, "kind": txn.kind, "memo": txn.memo, "amount": domain.cents(eur),
                         "units": int(units)})  # fmt: skip
    events = dict(Alert.objects.filter(pk__in=[a for a, _c in usage]).values_list("pk", "event"))
    usage_rows = []
    for (alert_id, _channel), row in sorted(usage.items(), key=lambda item: (item[0][0], item[0][1])):
        row["event"] = events.get(alert_id, "")
        row["amount"] = domain.cents(row["amount"])
        usage_rows.append(row)
    net = sum((f["amount"] for f in fees), Decimal(0)) + sum((u["amount"] for u in usage_rows), Decimal(0))
    vat = domain.vat(net, tariff.vat_rate)
    opening_eur = domain.cents(_sum(before.filter(account="receivable")))
    opening_units = int(_sum(before.filter(account="prepaid")))
    return {
        "organisation": org,
        "month": month,
        "start": start,
        "end": end,
        "opening_receivable": opening_eur,
        "opening_units": opening_units,
        "fees": fees,
        "usage": usage_rows,
        "units_in": units_in,
        "units_used": sum(u["prepaid_units"] for u in usage_rows),
        "units_expired": units_expired,
        "postpaid_amount": sum((u["amount"] for u in usage_rows), Decimal(0)),
        "net": net,
        "vat_rate": tariff.vat_rate,
        "vat": vat,
        "total": net + vat,
        # From the ledger itself; statement lines are rounded each, so a cent of rounding may show.
        "closing_receivable": domain.cents(
            _sum(LedgerEntry.objects.filter(organisation=org, account="receivable", transaction__at__lt=end))
        ),
        "rounding": domain.cents(
            _sum(LedgerEntry.objects.filter(organisation=org, account="receivable", transaction__at__lt=end))
        )
        - opening_eur
        - net,
        # From the ledger itself (a reversed package takes its units back too).
        "closing_units": int(
            _sum(LedgerEntry.objects.filter(organisation=org, account="prepaid", transaction__at__lt=end))
        ),
    }


def _row(rows: dict[int, dict[str, Any]], org_id: int) -> dict[str, Any]:
    return rows.setdefault(org_id, {"units": defaultdict(int), "amount": defaultdict(Decimal)})


def overview(months: list[str]) -> list[dict[str, Any]]:
    """For the crisis centre: per entity and month, units used and the amount booked (excl. VAT)."""
    rows: dict[int, dict[str, Any]] = {}
    for month in months:
        start, end = month_bounds(month)
        per_org = (
            LedgerTransaction.objects.filter(at__gte=start, at__lt=end, kind__in=("usage", "reversal"))
            .exclude(request_id=None).values_list("organisation_id").annotate(n=Sum("units")).order_by()
        )  # fmt: skip
        money = (
            LedgerEntry.objects.filter(transaction__at__gte=start, transaction__at__lt=end, account="receivable")
            .values_list("organisation_id").annotate(n=Sum("amount")).order_by()
        )  # fmt: skip
        for org_id, n in per_org:
            rows.setdefault(org_id, {"units": defaultdict(int), "amount": defaultdict(Decimal)})["units"][month] += int(
                n
            )
        for org_id, amount in money:
            rows.setdefault(org_id, {"units": defaultdict(int), "amount": defaultdict(Decimal)})["amount"][month] += (
                amount
            )
    names = dict(Organisation.objects.filter(pk__in=rows).values_list("pk", "name"))
    return [
        {"organisation_id": org_id, "name": names.get(org_id, ""),
         "units": [data["units"][m] for m in months],
         "amount": [domain.cents(data["amount"][m]) for m in months]}
        for org_id, data in sorted(rows.items(), key=lambda item: names.get(item[0], ""))
    ]  # fmt: skip


def reconcile(month: str | None = None, *, charge: bool = True) -> list[dict[str, Any]]:
    """Units billed against units the delivery engine submitted, per entity, alert, send and channel. Every
    difference is returned (an empty list: they agree exactly). ``charge=False`` compares as it stands (a
    charging worker that stalled shows as differences)."""
    since = month_bounds(month)[0] if month else None
    until = month_bounds(month)[1] if month else None
    if charge:
        services.usage_charge(since=since or datetime(2000, 1, 1, tzinfo=timezone.get_current_timezone()))
    submitted = services.submitted_units(since=since)
    if until is not None:
        submitted = [row for row in submitted if row[3] < until]
    billed = services.billed_units(r[0] for r in submitted)
    seen = set()
    out = []
    for request_id, org_id, alert_id, _at, channel, units in submitted:
        seen.add((request_id, channel))
        got = billed.get((request_id, channel), 0)
        if got != units:
            out.append({"organisation_id": org_id, "alert_id": alert_id, "request_id": request_id,
                        "channel": channel, "submitted": units, "billed": got})  # fmt: skip
    # Billed without any submitted unit behind it (a charge for nothing).
    extra = LedgerTransaction.objects.filter(kind__in=("usage", "reversal")).exclude(request_id=None)
    if since is not None:
        from tocsin.delivery.models import SendRequest

        in_month = SendRequest.objects.filter(Q(created_at__gte=since) & Q(created_at__lt=until)).values("pk")
        extra = extra.filter(request_id__in=in_month)
    for txn in extra.values("request_id", "channel", "organisation_id", "alert_id").annotate(n=Sum("units")):
        if (txn["request_id"], txn["channel"]) not in seen and txn["n"]:
            out.append({"organisation_id": txn["organisation_id"], "alert_id": txn["alert_id"],
                        "request_id": txn["request_id"], "channel": txn["channel"], "submitted": 0,
                        "billed": int(txn["n"])})  # fmt: skip
    return out

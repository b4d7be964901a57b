"""Writes of billing: tariffs, bookings in the ledger, usage charges, order forms. Rules: BA-8-INSTALL,
BA-8-ACTIVATION, BA-8-SUBSCRIPTION, BA-8-POSTPAID, BA-8-PREPAID.

Every booking is one balanced transaction (``domain.check_balanced``) of the append-only ledger. The
entity's side: ``receivable`` (EUR it owes) and ``prepaid`` (UNIT it holds, per lot). The platform's side:
``revenue:<kind>`` and ``units:issued`` / ``units:used`` / ``units:expired``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from tocsin.audit.services import audit_record
from tocsin.billing import domain
from tocsin.billing.domain import Entry, money
from tocsin.billing.models import BillingProfile, LedgerEntry, LedgerTransaction, OrderForm, PackageLot, Tariff
from tocsin.organisations.domain import Kind, Role, RuleError, gettext_noop
from tocsin.organisations.models import Organisation, User
from tocsin.organisations.services import AccessDenied, NotFound, access_check
from tocsin.organisations.services import require_crisis_admin as _require_crisis_admin

logger = logging.getLogger("tocsin.billing")
DEFAULT_FROM = date(2020, 1, 1)


# --- tariffs ----------------------------------------------------------------------------------------------


def tariff_at(day: date) -> Tariff:
    """The tariff in force on a day: the latest one started; BE-Alert's public figures when none was set."""
    tariff = Tariff.objects.filter(valid_from__lte=day).order_by("-valid_from").first()
    if tariff is None:
        tariff, _ = Tariff.objects.get_or_create(valid_from=DEFAULT_FROM)
        if tariff.valid_from > day:
            return Tariff(valid_from=DEFAULT_FROM)
    return tariff


TARIFF_FIELDS = (
    "sms_unit_price", "voice_unit_price", "subscription_fee", "activation_fee", "activation_units",
    "activation_units_days", "packages", "package_days", "vat_rate", "exercise_charged",
)  # fmt: skip


def tariff_add(*, actor: User | None, valid_from: date, **fields: Any) -> Tariff:
    """A new tariff from a day on (the crisis centre). A tariff already in force is never changed: prices of
    what was booked stay as they were."""
    if actor is not None:
        _require_crisis_admin(actor)
    if valid_from < timezone.localdate():
        raise RuleError(gettext_noop("A tariff starts today or later."), field="valid_from")
    unknown = set(fields) - set(TARIFF_FIELDS)
    if unknown:
        raise RuleError(gettext_noop("Unknown field."), field=sorted(unknown)[0])
    base = tariff_at(valid_from)
    values = {name: fields.get(name, getattr(base, name)) for name in TARIFF_FIELDS}
    for name in ("sms_unit_price", "voice_unit_price", "subscription_fee", "activation_fee", "vat_rate"):
        if isinstance(values[name], float):
            raise RuleError(gettext_noop("Give amounts as decimal text, not as floating point."), field=name)
        values[name] = _amount(values[name], name)
    if values["vat_rate"] >= 1:
        raise RuleError(gettext_noop("The VAT rate is a fraction (0.21 for 21 %)."), field="vat_rate")
    packages = values["packages"] if isinstance(values["packages"], dict) else {}
    if not packages:
        raise RuleError(gettext_noop("Packages are positive unit counts with positive prices."), field="packages")
    for size, price in packages.items():
        if not str(size).isdecimal() or int(size) <= 0 or _amount(price, "packages") <= 0:
            raise RuleError(gettext_noop("Packages are positive unit counts with positive prices."), field="packages")
    if Tariff.objects.filter(valid_from=valid_from, valid_from__lte=timezone.localdate()).exists():
        raise RuleError(gettext_noop("That tariff is in force already: start a new one tomorrow."), field="valid_from")
    with transaction.atomic():
        tariff, _ = Tariff.objects.update_or_create(valid_from=valid_from, defaults=values)
        audit_record(action="billing.tariff_set", actor=actor, organisation_id=None, object_type="tariff",
                     object_id=tariff.pk, data={k: str(v) for k, v in values.items()})  # fmt: skip
    return tariff


def _amount(value: Any, field: str) -> Decimal:
    """A finite, non-negative amount with at most 4 decimals, from text (never a float)."""
    if isinstance(value, float):
        raise RuleError(gettext_noop("Give amounts as decimal text, not as floating point."), field=field)
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise RuleError(gettext_noop("Not an amount."), field=field) from None
    if not amount.is_finite() or amount < 0 or amount > 1_000_000 or amount != amount.quantize(Decimal("0.0001")):
        raise RuleError(gettext_noop("Not an amount."), field=field)
    return amount


# --- the ledger ---------------------------------------------------------------------------------------------


def _book(
    org_id: int,
    kind: str,
    entries: list[tuple[str, int | None, int | None, str, Decimal]],
    *,
    at: datetime | None = None,
    **fields: Any,
) -> LedgerTransaction:
    """One balanced transaction. ``entries``: (account, organisation id or None, lot id or None, currency,
    amount)."""
    assert kind in domain.KINDS
    entries = [(account, org, lot, currency, money(amount)) for account, org, lot, currency, amount in entries]
    domain.check_balanced(Entry(account, currency, amount) for account, _o, _l, currency, amount in entries)
    txn = LedgerTransaction.objects.create(organisation_id=org_id, kind=kind, at=at or timezone.now(), **fields)
    LedgerEntry.objects.bulk_create(
        LedgerEntry(transaction=txn, account=account, organisation_id=org, lot_id=lot, currency=currency,
                    amount=money(amount))
        for account, org, lot, currency, amount in entries
    )  # fmt: skip
    return txn


def _charge_eur(org_id: int, kind: str, amount: Decimal) -> list[tuple[str, int | None, int | None, str, Decimal]]:
    return [("receivable", org_id, None, "EUR", amount), (f"revenue:{kind}", None, None, "EUR", -amount)]


def _lot_entries(
    org_id: int, lot_id: int, units: int, platform: str
) -> list[tuple[str, int | None, int | None, str, Decimal]]:
    """Units into (positive) or out of (negative) an entity's lot, against a platform units account."""
    return [("prepaid", org_id, lot_id, "UNIT", Decimal(units)), (platform, None, lot_id, "UNIT", Decimal(-units))]


def activation_book(org: Organisation, *, at: datetime | None = None) -> LedgerTransaction | None:
    """BA-8-ACTIVATION: the one-off activation fee, with its included units; BA-8-SUBSCRIPTION: the first
    year's subscription, pro rata (``domain.first_year_subscription``). In the activation's transaction.
    Entities outside the agreement are not billed; the platform's own set-up never is (BA-8-INSTALL)."""
    if not domain.check_billed(Kind(org.kind)):
        return None
    at = at or org.activated_at or timezone.now()
    day = timezone.localdate(at)
    tariff = tariff_at(day)
    try:
        with transaction.atomic():
            txn = _book(org.pk, "activation", _charge_eur(org.pk, "activation", tariff.activation_fee), at=at,
                        period="activation", memo=f"activation, {tariff.activation_units} units included")  # fmt: skip
            if tariff.activation_units:
                lot = PackageLot.objects.create(
                    organisation=org, source="activation", units=tariff.activation_units, starts=at,
                    expires=at + timedelta(days=tariff.activation_units_days),
                )  # fmt: skip
                _book(org.pk, "activation", _lot_entries(org.pk, lot.pk, tariff.activation_units, "units:issued"),
                      at=at, memo="units included with the activation")  # fmt: skip
            subscription_book(org, day.year, at=at)
    except IntegrityError:
        logger.warning("activation of %s was booked before: not booked again", org.pk)
        return None  # booked before (an activation after a termination is a new entity)
    return txn


def subscription_book(org: Organisation, year: int, *, at: datetime | None = None) -> LedgerTransaction | None:
    """BA-8-SUBSCRIPTION: a calendar year's subscription, once: pro rata in the year of activation, in full
    after. Nothing for a year before the activation or an entity that is not active."""
    if not domain.check_billed(Kind(org.kind)) or org.activated_at is None:
        return None
    activated = timezone.localdate(org.activated_at)
    if year < activated.year:
        return None
    tariff = tariff_at(date(year, 1, 1) if year > activated.year else activated)
    fee = (
        domain.first_year_subscription(tariff.subscription_fee, activated)
        if year == activated.year
        else money(tariff.subscription_fee)
    )
    if LedgerTransaction.objects.filter(organisation=org, kind="subscription", period=str(year)).exists():
        return None
    # Dated when booked (a month already stated is never changed afterwards).
    booked_at = at or timezone.now()
    return _book(org.pk, "subscription", _charge_eur(org.pk, "subscription", fee), at=booked_at,
                 period=str(year), memo=f"subscription {year}")  # fmt: skip


def subscriptions_book(year: int) -> int:
    """Every active entity's subscription for a year (idempotent; the worker runs it each day)."""
    count = 0
    for org in Organisation.objects.filter(status="active", kind__in=[k.value for k in domain.BILLED_KINDS]):
        with transaction.atomic():
            if subscription_book(org, year) is not None:
                count += 1
    return count


def ledger_reverse(*, actor: User, transaction_id: int, reason: str) -> LedgerTransaction:
    """A correction: the exact opposite of a booking, linked to it (once). Nothing is ever edited."""
    _require_crisis_admin(actor)
    reason = " ".join((reason or "").split())
    if not reason:
        raise RuleError(gettext_noop("Say why the booking is reversed."), field="reason")
    with transaction.atomic():
        original = LedgerTransaction.objects.select_for_update().filter(pk=transaction_id).first()
        if original is None:
            raise NotFound(gettext_noop("No such booking."))
        if original.kind == "reversal" or hasattr(original, "reversed_by"):
            raise RuleError(gettext_noop("This booking was reversed already, or is a reversal."), field="transaction")
        Organisation.objects.select_for_update().filter(pk=original.organisation_id).first()  # as a charge does
        remaining = {lot.id: lot.remaining for lot in lots(original.organisation_id)}
        for e in original.entries.all():
            if e.account == "prepaid" and e.amount > 0 and remaining.get(e.lot_id or 0, 0) < e.amount:
                raise RuleError(
                    gettext_noop("Units of this booking were used already: it cannot be reversed whole."),
                    field="transaction",
                )
        entries = [(e.account, e.organisation_id, e.lot_id, e.currency, -e.amount) for e in original.entries.all()]
        txn = _book(original.organisation_id, "reversal", entries, reverses=original, memo=reason[:300],
                    alert_id=original.alert_id, request_id=original.request_id, channel=original.channel,
                    units=-original.units, prepaid_units=-original.prepaid_units,
                    postpaid_units=-original.postpaid_units, created_by=actor)  # fmt: skip
        audit_record(action="billing.reversed", actor=actor, organisation_id=original.organisation_id,
                     object_type="ledger", object_id=original.pk, data={"reason": reason[:300]})  # fmt: skip
    return txn


# --- usage -------------------------------------------------------------------------------------------------


def lots(org_id: int) -> list[domain.Lot]:
    """The entity's lots with their remaining units (from the ledger)."""
    remaining = dict(
        LedgerEntry.objects.filter(organisation_id=org_id, account="prepaid", currency="UNIT")
        .values_list("lot_id")
        .annotate(n=Sum("amount"))
        .order_by()
    )
    return [
        domain.Lot(id=lot.pk, remaining=int(remaining.get(lot.pk) or 0), starts=lot.starts, expires=lot.expires)
        for lot in PackageLot.objects.filter(organisation_id=org_id).order_by("starts", "pk")
    ]


def _expire(org_id: int, now: datetime) -> None:
    """Units of lots past their expiry leave the balance: a booking of their own, dated when it is made (the
    worker does it every night; a month already stated is not changed)."""
    for lot in lots(org_id):
        if lot.remaining > 0 and lot.expires is not None and lot.expires <= now:
            _book(org_id, "expiry", _lot_entries(org_id, lot.id, -lot.remaining, "units:expired"), at=now,
                  memo=f"{lot.remaining} pre-paid units expired on {timezone.localdate(lot.expires)}")  # fmt: skip


def lots_expire() -> int:
    """Every entity's expired lots written off (idempotent)."""
    org_ids = set(PackageLot.objects.filter(expires__lte=timezone.now()).values_list("organisation_id", flat=True))
    for org_id in org_ids:
        with transaction.atomic():
            Organisation.objects.select_for_update().filter(pk=org_id).first()
            _expire(org_id, timezone.now())
    return len(org_ids)


USAGE_SQL = """
    SELECT r.id, r.organisation_id, r.purpose, r.created_at, d.channel, sum(d.units)
    FROM delivery_sendrequest r JOIN delivery_delivery d ON d.request_id = r.id
    WHERE r.purpose LIKE 'alert:%%' AND d.units > 0 {where}
    GROUP BY r.id, r.organisation_id, r.purpose, r.created_at, d.channel
"""


def submitted_units(*, request_ids: Iterable[int] | None = None, since: datetime | None = None) -> list[tuple]:
    """(request id, organisation id, alert id, launched at, channel, units) of what the delivery engine
    submitted for alerts: the units each delivery's gateway reported."""
    where, params = "", list[Any]()
    if request_ids is not None:
        where, params = "AND r.id = ANY(%s)", [list(request_ids)]
    elif since is not None:
        where, params = "AND r.created_at >= %s", [since]
    with connection.cursor() as cursor:
        cursor.execute(USAGE_SQL.format(where=where), params)
        return [(rid, org, int(purpose.split(":")[1]), at, ch, int(n)) for rid, org, purpose, at, ch, n in cursor]


def billed_units(request_ids: Iterable[int], *, net: bool = True) -> dict[tuple[int, str], int]:
    """Units booked per (send, channel): net of reversals (what the entity is billed), or as charged
    (``net=False``: what the charging already did — a reversed usage is not charged again behind the
    reconciliation's back; a goodwill gesture is a credit in euros, not a reversed usage)."""
    kinds = ("usage", "reversal") if net else ("usage",)
    rows = (
        LedgerTransaction.objects.filter(request_id__in=list(request_ids), kind__in=kinds)
        .values_list("request_id", "channel")
        .annotate(n=Sum("units"))
        .order_by()
    )
    return {(rid, ch): int(n or 0) for rid, ch, n in rows}


def usage_charge(*, since: datetime | None = None, request_ids: Iterable[int] | None = None) -> int:
    """BA-8-POSTPAID: charge what the delivery engine submitted and the ledger does not hold yet — to the
    entity that launched the alert, from its pre-paid lots first, the rest post-paid. Idempotent: run by
    the worker every minute and before statements and reconciliation. Returns the units charged."""
    from tocsin.alerts.models import Alert

    if request_ids is None and since is None:
        since = timezone.now() - timedelta(days=40)
    submitted = submitted_units(request_ids=request_ids, since=since)
    billed = billed_units((r[0] for r in submitted), net=False)
    charged = 0
    touched: set[int] = set()
    for request_id, org_id, alert_id, launched_at, channel, units in submitted:
        missing = units - billed.get((request_id, channel), 0)
        if missing <= 0:
            continue
        with transaction.atomic():
            # One entity at a time: two workers never draw the same units.
            Organisation.objects.select_for_update().filter(pk=org_id).first()
            again = billed_units([request_id], net=False).get((request_id, channel), 0)
            missing = units - again
            if missing <= 0:
                continue
            alert = Alert.objects.filter(pk=alert_id).only("status").first()
            tariff = tariff_at(timezone.localdate(launched_at))
            if alert is not None and alert.status != "Actual" and not tariff.exercise_charged:
                _book(org_id, "usage", [], alert_id=alert_id, request_id=request_id, channel=channel,
                      units=missing, at=launched_at, memo="exercise or test: not charged (tariff)")  # fmt: skip
                continue
            _expire(org_id, timezone.now())
            taken, rest = domain.draw(lots(org_id), missing, launched_at)
            entries: list[tuple[str, int | None, int | None, str, Decimal]] = []
            for lot_id, k in taken:
                entries += _lot_entries(org_id, lot_id, -k, "units:used")
            if rest:
                price = tariff.voice_unit_price if channel == "voice" else tariff.sms_unit_price
                entries += _charge_eur(org_id, "usage", money(price * rest))
            _book(org_id, "usage", entries, alert_id=alert_id, request_id=request_id, channel=channel,
                  units=missing, prepaid_units=missing - rest, postpaid_units=rest, at=launched_at,
                  memo=f"alert {alert_id}, {channel}")  # fmt: skip
            charged += missing
            touched.add(org_id)
    for org_id in touched:
        low_balance_check(org_id)
    return charged


def prepaid_units(org_id: int, at: datetime | None = None) -> int:
    at = at or timezone.now()
    return sum(lot.remaining for lot in lots(org_id) if lot.starts <= at and (lot.expires is None or at < lot.expires))


def low_balance_threshold(org_id: int) -> int:
    profile = BillingProfile.objects.filter(organisation_id=org_id).first()
    if profile is not None and profile.low_balance_units is not None:
        return profile.low_balance_units
    return int(getattr(settings, "TOCSIN_BILLING_LOW_BALANCE_UNITS", 500))


def low_balance_check(org_id: int) -> bool:
    """Warn the entity's administrators once when its pre-paid balance falls under its threshold (again
    once it went back above). An alert is never held back for it: what is not pre-paid goes post-paid."""
    from tocsin.organisations.services import _notify

    balance, threshold = prepaid_units(org_id), low_balance_threshold(org_id)
    with transaction.atomic():
        profile, _ = BillingProfile.objects.select_for_update().get_or_create(organisation_id=org_id)
        if balance >= threshold:
            if profile.warned:
                profile.warned = False
                profile.save(update_fields=["warned"])
            return False
        if profile.warned:
            return False
        profile.warned = True
        profile.save(update_fields=["warned"])
        admins = User.objects.filter(organisation_id=org_id, roles__contains=[Role.ADMIN.value], is_active=True)
        _notify(
            admins,
            subject=gettext_noop("Low pre-paid balance: %(units)s units"),
            body=gettext_noop(
                "Your entity has %(units)s pre-paid units left (warning threshold: %(threshold)s). Alerts are "
                "never held back: what is not pre-paid is billed post-paid. Order a package on the billing page."
            ),
            params={"units": balance, "threshold": threshold},
            link="/billing/",
        )
    return True


def low_balance_set(*, actor: User, units: int) -> None:
    """An entity administrator sets the pre-paid balance under which the administrators are warned."""
    access_check(actor)
    if not actor.has_role(Role.ADMIN):
        raise AccessDenied(gettext_noop("Only an administrator of the entity sets its billing warnings."))
    if not isinstance(units, int) or not 0 <= units <= 10_000_000:
        raise RuleError(gettext_noop("Give a number of units, 0 or more."), field="units")
    BillingProfile.objects.update_or_create(organisation_id=actor.organisation_id,
                                            defaults={"low_balance_units": units, "warned": False})  # fmt: skip


def cost_estimate(org_id: int, units: int, channel: str = "sms", *, exercise: bool = False) -> dict[str, Any]:
    """What an alert of so many units would cost now: from pre-paid, post-paid, the amount excl. VAT. An
    exercise or test costs nothing when the tariff says so."""
    now = timezone.now()
    tariff = tariff_at(timezone.localdate(now))
    if exercise and not tariff.exercise_charged:
        units = 0
    available = prepaid_units(org_id, now)
    prepaid = min(units, available)
    postpaid = units - prepaid
    price = tariff.voice_unit_price if channel == "voice" else tariff.sms_unit_price
    return {
        "units": units,
        "prepaid_units": prepaid,
        "postpaid_units": postpaid,
        "postpaid_amount": domain.cents(price * postpaid),
        "unit_price": price,
        "balance_after": available - prepaid,
        "vat_rate": tariff.vat_rate,
    }


# --- order forms (BA-8-PREPAID) ---------------------------------------------------------------------------


def _require_entity_admin(actor: User) -> None:
    access_check(actor)
    if not actor.has_role(Role.ADMIN):
        raise AccessDenied(gettext_noop("Only an administrator of the entity orders units."))
    if not domain.check_billed(Kind(actor.organisation.kind)):
        raise AccessDenied(gettext_noop("Your organisation is not billed for alerting."), rule="BA-8-PREPAID")


def order_submit(*, actor: User, units: Any, requested_delivery: date | None, reference: str = "") -> OrderForm:
    """An order form for a package: checked (BA-8-PREPAID), numbered, then sent as PDF to the supplier and
    the crisis-centre team by e-mail (a job that commits with it)."""
    from tocsin.billing.tasks import send_order_form

    _require_entity_admin(actor)
    try:
        units = int(units)
    except (TypeError, ValueError):
        raise RuleError(gettext_noop("Order a positive number of units."), field="units") from None
    today = timezone.localdate()
    tariff = tariff_at(today)
    domain.check_order(units=units, packages=tariff.packages, requested=requested_delivery, today=today)
    reference = " ".join((reference or "").split())[:100]
    assert requested_delivery is not None
    with transaction.atomic():
        order = OrderForm.objects.create(
            organisation_id=actor.organisation_id, number=f"p-{secrets.token_hex(8)}", units=units,
            unit_price=Decimal(str(tariff.packages[str(units)])), requested_delivery=requested_delivery,
            reference=reference, submitted_by=actor,
        )  # fmt: skip
        order.number = f"BB-{today.year}-{order.pk:06d}"
        order.save(update_fields=["number"])
        audit_record(action="billing.order_submitted", actor=actor, organisation_id=actor.organisation_id,
                     object_type="order", object_id=order.pk, data={"units": units})  # fmt: skip
        send_order_form.defer(order_id=order.pk)
    return order


def order_decide(*, actor: User, order_id: int, status: str, reason: str = "") -> OrderForm:
    """The crisis-centre team records the supplier's answer: confirmed, delivered (the units are credited),
    or rejected (with a reason). A confirmed order is never edited, only delivered or rejected."""
    _require_crisis_admin(actor)
    with transaction.atomic():
        order = OrderForm.objects.select_for_update().filter(pk=order_id).first()
        if order is None:
            raise NotFound(gettext_noop("No such order."))
        domain.check_order_transition(order.status, status)
        reason = " ".join((reason or "").split())[:300]
        if status == "rejected" and not reason:
            raise RuleError(gettext_noop("Say why the order is rejected."), field="reason")
        now = timezone.now()
        order.status, order.status_at, order.status_by, order.reason = status, now, actor, reason
        order.save(update_fields=["status", "status_at", "status_by", "reason"])
        if status == "delivered":
            tariff = tariff_at(timezone.localdate(now))
            lot = PackageLot.objects.create(organisation_id=order.organisation_id, source="package", units=order.units,
                                            starts=now, expires=now + timedelta(days=tariff.package_days),
                                            order=order)  # fmt: skip
            amount = money(order.unit_price * order.units)
            _book(order.organisation_id, "package",
                  _charge_eur(order.organisation_id, "package", amount)
                  + _lot_entries(order.organisation_id, lot.pk, order.units, "units:issued"),
                  at=now, memo=f"order {order.number}: {order.units} units")  # fmt: skip
            low_balance_check(order.organisation_id)
        audit_record(action=f"billing.order_{status}", actor=actor, organisation_id=order.organisation_id,
                     object_type="order", object_id=order.pk, data={"reason": reason})  # fmt: skip
    return order


def ledger_credit(*, actor: User, organisation_id: int, amount: str, reason: str) -> LedgerTransaction:
    """A credit in euros to an entity (a goodwill gesture, a refund), with its reason. Usage stays billed as
    sent: the reconciliation still holds."""
    _require_crisis_admin(actor)
    value = _amount(amount, "amount")
    reason = " ".join((reason or "").split())
    if not value or not reason:
        raise RuleError(gettext_noop("Give a positive amount and the reason of the credit."), field="amount")
    org = Organisation.objects.filter(pk=organisation_id).first()
    if org is None:
        raise NotFound(gettext_noop("No such organisation."))
    with transaction.atomic():
        entries: list[tuple[str, int | None, int | None, str, Decimal]] = [
            ("receivable", org.pk, None, "EUR", -value),
            ("revenue:credit", None, None, "EUR", value),
        ]
        txn = _book(org.pk, "credit", entries, memo=reason[:300], created_by=actor)
        audit_record(action="billing.credited", actor=actor, organisation_id=org.pk, object_type="ledger",
                     object_id=txn.pk, data={"amount": str(value), "reason": reason[:300]})  # fmt: skip
    return txn

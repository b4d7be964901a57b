"""Pure rules of billing (no Django): money, drawing pre-paid units, the first year's subscription, order
forms. Rules: BA-8-INSTALL, BA-8-ACTIVATION, BA-8-SUBSCRIPTION, BA-8-POSTPAID, BA-8-PREPAID.

Money is ``Decimal``, never a float: the ledger keeps amounts to 1/100 of a cent (a unit costs €0.055, and
3 units are €0.165 exactly); a statement rounds each of its lines to the cent, half up, once.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from tocsin.organisations.domain import Kind, RuleError, gettext_noop

LEDGER_PLACES = Decimal("0.0001")
CENT = Decimal("0.01")
ORDER_LEAD_DAYS = 14  # BA-8-PREPAID: the order reaches supplier and team at least 2 weeks before delivery
# Who pays: the entities that alert under the BE-Alert agreement. The crisis centre never (BA-8-INSTALL: the
# platform is borne centrally), nor the alarm-system side (the Royal Decree of 2007 has no such fees).
BILLED_KINDS = frozenset({Kind.MUNICIPALITY, Kind.GOVERNOR, Kind.POLICE_ZONE, Kind.OTHER_TYPE2})
# What the ledger books, and nothing else: no installation or set-up charge exists (BA-8-INSTALL).
KINDS = ("activation", "subscription", "usage", "package", "expiry", "credit", "reversal")


def money(value: Decimal | int | str) -> Decimal:
    """A ledger amount: Decimal to 1/100 of a cent (floats refused)."""
    if isinstance(value, float):
        raise TypeError("money is never a float")
    return Decimal(value).quantize(LEDGER_PLACES)


def cents(value: Decimal) -> Decimal:
    """Rounded to the cent, half up: what a statement shows and what is paid."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def vat(net: Decimal, rate: Decimal) -> Decimal:
    return cents(cents(net) * rate)


def check_billed(kind: Kind) -> bool:
    return kind in BILLED_KINDS


@dataclass(frozen=True)
class Entry:
    account: str
    currency: str  # EUR | UNIT
    amount: Decimal


def check_balanced(entries: Iterable[Entry]) -> None:
    """Double entry: in each currency, what a transaction takes from some accounts it gives to others."""
    totals: dict[str, Decimal] = {}
    for entry in entries:
        if entry.currency not in ("EUR", "UNIT"):
            raise ValueError(f"unknown currency {entry.currency!r}")
        totals[entry.currency] = totals.get(entry.currency, Decimal(0)) + entry.amount
    unbalanced = {c: t for c, t in totals.items() if t != 0}
    if unbalanced:
        raise ValueError(f"unbalanced transaction: {unbalanced}")


@dataclass(frozen=True)
class Lot:
    """Pre-paid units available: a package or the activation's included units."""

    id: int
    remaining: int
    starts: datetime
    expires: datetime | None


def draw(lots: Sequence[Lot], units: int, at: datetime) -> tuple[list[tuple[int, int]], int]:
    """BA-8-POSTPAID / BA-8-PREPAID: units are drawn from pre-paid lots valid at ``at``, the one that expires
    first (then the oldest) first; what they cannot cover goes post-paid. Returns ([(lot id, units)], rest)."""
    if units < 0:
        raise ValueError("units drawn are never negative")
    usable = [
        lot for lot in lots if lot.remaining > 0 and lot.starts <= at and (lot.expires is None or at < lot.expires)
    ]
    usable.sort(key=lambda lot: (lot.expires is None, lot.expires or at, lot.starts, lot.id))
    taken: list[tuple[int, int]] = []
    rest = units
    for lot in usable:
        if not rest:
            break
        k = min(lot.remaining, rest)
        taken.append((lot.id, k))
        rest -= k
    return taken, rest


def first_year_subscription(fee: Decimal, activated: date) -> Decimal:
    """BA-8-SUBSCRIPTION, the documented rule: the year of activation is billed pro rata from the activation
    day to 31 December included (days / days of that year); each later calendar year in full."""
    days_in_year = 366 if calendar.isleap(activated.year) else 365
    days = (date(activated.year, 12, 31) - activated).days + 1
    return money(cents(fee * days / days_in_year))  # rounded once, to the cent, as invoiced


def earliest_delivery(submitted: date) -> date:
    return submitted + timedelta(days=ORDER_LEAD_DAYS)


def check_order(*, units: int, packages: dict[str, str], requested: date | None, today: date) -> None:
    """BA-8-PREPAID: a package of the tariff, delivered at least 14 days after the order is submitted."""
    if not isinstance(units, int) or units <= 0:
        raise RuleError(gettext_noop("Order a positive number of units."), field="units", rule="BA-8-PREPAID")
    if str(units) not in packages:
        raise RuleError(
            gettext_noop("There is no package of %(units)s units; packages: %(packages)s."),
            field="units",
            rule="BA-8-PREPAID",
            params={"units": units, "packages": ", ".join(sorted(packages, key=int))},
        )
    if requested is None:
        raise RuleError(gettext_noop("Give the requested delivery date."), field="requested_delivery")
    earliest = earliest_delivery(today)
    if requested < earliest:
        raise RuleError(
            gettext_noop("The delivery date must be at least 14 days after the order: %(earliest)s at the earliest."),
            field="requested_delivery",
            rule="BA-8-PREPAID",
            params={"earliest": earliest.isoformat()},
        )


ORDER_TRANSITIONS = {
    ("submitted", "confirmed"),
    ("submitted", "rejected"),
    ("confirmed", "delivered"),
    ("confirmed", "rejected"),
}


def check_order_transition(current: str, target: str) -> None:
    if (current, target) not in ORDER_TRANSITIONS:
        raise RuleError(
            gettext_noop("An order that is %(current)s cannot become %(target)s."),
            field="status",
            params={"current": current, "target": target},
        )

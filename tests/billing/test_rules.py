"""The pure rules of billing: money, drawing pre-paid units, the first year, order forms (BA-8-*)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tocsin.billing import domain
from tocsin.organisations.domain import Kind, RuleError

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_money_is_decimal_to_a_hundredth_of_a_cent_and_never_a_float():
    assert domain.money(Decimal("0.055") * 3) == Decimal("0.1650")
    assert domain.cents(Decimal("0.165")) == Decimal("0.17")  # half up, once, on the statement
    assert domain.vat(Decimal("250.00"), Decimal("0.21")) == Decimal("52.50")
    with pytest.raises(TypeError):
        domain.money(0.055)  # type: ignore[arg-type]


def test_a_transaction_balances_in_each_currency():
    domain.check_balanced(
        [domain.Entry("receivable", "EUR", Decimal(1)), domain.Entry("revenue:x", "EUR", Decimal(-1))]
    )
    with pytest.raises(ValueError):
        domain.check_balanced([domain.Entry("prepaid", "UNIT", Decimal(5)), domain.Entry("units:issued", "UNIT", 4)])
    with pytest.raises(ValueError):  # units never balance money
        domain.check_balanced([domain.Entry("prepaid", "UNIT", Decimal(5)), domain.Entry("revenue:x", "EUR", -5)])


def test_ba_8_prepaid_units_are_drawn_from_the_lot_that_expires_first_and_the_rest_is_postpaid():
    lots = [
        domain.Lot(id=1, remaining=100, starts=T0, expires=T0 + timedelta(days=700)),
        domain.Lot(id=2, remaining=50, starts=T0, expires=T0 + timedelta(days=30)),
        domain.Lot(id=3, remaining=500, starts=T0 - timedelta(days=400), expires=T0 - timedelta(days=1)),  # expired
        domain.Lot(id=4, remaining=500, starts=T0 + timedelta(days=1), expires=None),  # not yet
    ]
    assert domain.draw(lots, 120, T0) == ([(2, 50), (1, 70)], 0)
    assert domain.draw(lots, 200, T0) == ([(2, 50), (1, 100)], 50)  # BA-8-POSTPAID: the rest
    assert domain.draw([], 7, T0) == ([], 7)
    with pytest.raises(ValueError):
        domain.draw(lots, -1, T0)


def test_ba_8_subscription_first_year_is_pro_rata_to_the_day():
    fee = Decimal("788.88")
    assert domain.first_year_subscription(fee, date(2026, 1, 1)) == Decimal("788.8800")
    assert domain.first_year_subscription(fee, date(2026, 12, 31)) == Decimal("2.16")  # 788.88 / 365
    assert domain.first_year_subscription(fee, date(2026, 7, 1)) == Decimal("397.68")  # docs/billing.md's example
    assert domain.first_year_subscription(fee, date(2028, 7, 1)) == domain.cents(fee * 184 / 366)  # leap year
    assert domain.first_year_subscription(fee, date(2026, 12, 13)) == Decimal("41.06")  # rounded once, not twice


def test_ba_8_install_nothing_but_the_agreed_fees_exists_and_only_alerting_entities_are_billed():
    assert "installation" not in domain.KINDS and "setup" not in domain.KINDS
    assert domain.check_billed(Kind.MUNICIPALITY) and domain.check_billed(Kind.POLICE_ZONE)
    assert not domain.check_billed(Kind.CRISIS_CENTRE)
    assert not domain.check_billed(Kind.ALARM_CENTRAL)


PACKAGES = {"5000": "0.0500", "10000": "0.0480"}


@pytest.mark.parametrize(
    ("units", "requested", "field"),
    [
        (0, date(2026, 12, 31), "units"),
        (-5000, date(2026, 12, 31), "units"),
        (1234, date(2026, 12, 31), "units"),  # not a package
        (5000, None, "requested_delivery"),
        (5000, date(2026, 11, 20), "requested_delivery"),  # in the past
        (5000, date(2026, 12, 6), "requested_delivery"),  # 13 days after
    ],
)
def test_ba_8_prepaid_order_forms_are_refused_naming_the_field(units, requested, field):
    with pytest.raises(RuleError) as exc:
        domain.check_order(units=units, packages=PACKAGES, requested=requested, today=date(2026, 11, 23))
    assert exc.value.field == field


def test_ba_8_prepaid_delivery_at_least_two_weeks_after_the_order_names_the_earliest_date():
    domain.check_order(units=5000, packages=PACKAGES, requested=date(2026, 12, 7), today=date(2026, 11, 23))
    with pytest.raises(RuleError) as exc:
        domain.check_order(units=5000, packages=PACKAGES, requested=date(2026, 12, 6), today=date(2026, 11, 23))
    assert exc.value.rule == "BA-8-PREPAID" and exc.value.params["earliest"] == "2026-12-07"


def test_an_order_moves_forward_only():
    domain.check_order_transition("submitted", "confirmed")
    domain.check_order_transition("confirmed", "delivered")
    for current, target in [("delivered", "rejected"), ("rejected", "confirmed"), ("submitted", "delivered")]:
        with pytest.raises(RuleError):
            domain.check_order_transition(current, target)

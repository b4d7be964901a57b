"""The ledger with real sends: activation, a package, three alerts of mixed channels through the loopback
SMSC and SMTP server, a correction — and the month reconciles exactly (BA-8-ACTIVATION, BA-8-SUBSCRIPTION,
BA-8-POSTPAID, BA-8-PREPAID, BA-8-INSTALL)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from tests.alerts.test_launch import _citizen
from tests.conftest import drain_mail_queue
from tests.delivery.test_sms_smpp import _drain
from tests.organisations.factories import UserFactory
from tocsin.alerts import services as alerts
from tocsin.billing import domain, selectors, services
from tocsin.billing.models import LedgerEntry, LedgerTransaction, OrderForm
from tocsin.delivery.models import Delivery
from tocsin.organisations import services as organisations
from tocsin.organisations.domain import RuleError
from tocsin.organisations.models import Organisation
from tocsin.organisations.services import AccessDenied

pytestmark = pytest.mark.django_db(transaction=True)
AREA = {"type": "municipalities", "nis_codes": ["41081"]}
TEXTS = {"nl": {"headline": "Brand", "sms": "Brand in Zottegem: ramen dicht.", "email_body": "Ramen dicht."}}


def _activated(cc_admin, name="Gemeente Zottegem", nis="41081") -> Organisation:
    org = organisations.organisation_create(actor=cc_admin, name=name, kind="municipality",
                                            admin_email=f"admin@{nis}.be", admin_name="Admin")  # fmt: skip
    return organisations.organisation_activate(actor=cc_admin, organisation_id=org.pk, nis_code=nis,
                                               sms_sender="Zottegem", languages=["nl"])  # fmt: skip


def _launch(operator, channels):
    alert = alerts.alert_create(actor=operator, event="Brand", channels=channels, texts=TEXTS,
                                targets={"areas": [AREA]})  # fmt: skip
    preview = alerts.alert_preview(actor=operator, alert_id=alert.pk)
    alert = alerts.alert_launch(actor=operator, alert_id=alert.pk, confirmation=preview["confirmation"])
    _drain(timeout=10)
    return alert


def _sum(org, account, currency):
    return sum(e.amount for e in LedgerEntry.objects.filter(organisation=org, account=account, currency=currency))


def test_ba_8_a_month_with_activation_package_three_alerts_and_a_correction_reconciles(cc_admin, register, peers):
    today = timezone.localdate()
    services.tariff_add(actor=cc_admin, valid_from=today, activation_units=2)  # to see pre-paid run out
    org = _activated(cc_admin)
    admin = org.members.get()
    operator = UserFactory(organisation=org, email="operator@zottegem.be", roles=["operator"])
    for i in range(3):
        _citizen(register, f"P{i}", "nl", f"+3247050000{i + 1}", f"p{i}@example.be")

    # BA-8-ACTIVATION: the fee and its included units; BA-8-SUBSCRIPTION: this year, pro rata.
    kinds = list(LedgerTransaction.objects.filter(organisation=org).values_list("kind", flat=True).order_by("pk"))
    assert kinds == ["activation", "activation", "subscription"]
    subscription = domain.first_year_subscription(Decimal("788.88"), today)
    assert _sum(org, "receivable", "EUR") == Decimal("200.00") + subscription
    assert services.prepaid_units(org.pk) == 2

    first = _launch(operator, ["sms", "email"])  # 3 SMS units (e-mail costs nothing): 2 pre-paid, 1 post-paid
    assert services.usage_charge() == 3
    usage = LedgerTransaction.objects.get(kind="usage", alert_id=first.pk)
    assert (usage.units, usage.prepaid_units, usage.postpaid_units) == (3, 2, 1)
    assert services.usage_charge() == 0  # idempotent

    # BA-8-PREPAID: a package ordered, confirmed by the supplier, delivered.
    admin.roles = ["admin"]
    admin.save()
    from tests.organisations.factories import totp_device

    totp_device(admin)
    order = services.order_submit(actor=admin, units="5000", requested_delivery=today + timedelta(days=14))
    drain_mail_queue()  # the order form goes to the supplier and the team, as PDF
    services.order_decide(actor=cc_admin, order_id=order.pk, status="confirmed")
    services.order_decide(actor=cc_admin, order_id=order.pk, status="delivered")
    assert services.prepaid_units(org.pk) == 5000

    second = _launch(operator, ["sms"])
    third = _launch(operator, ["sms", "email"])
    services.usage_charge()
    assert services.prepaid_units(org.pk) == 5000 - 6

    # A correction: the activation fee was not due (say) — reversed, never edited.
    activation = LedgerTransaction.objects.filter(organisation=org, kind="activation").order_by("pk").first()
    services.ledger_reverse(actor=cc_admin, transaction_id=activation.pk, reason="fee waived by decision 12")
    with pytest.raises(RuleError):
        services.ledger_reverse(actor=cc_admin, transaction_id=activation.pk, reason="twice")

    assert selectors.reconcile(today.strftime("%Y-%m")) == []  # units billed = units submitted, exactly
    submitted = sum(d.units for d in Delivery.objects.all())
    assert submitted == 9 and sum(t.units for t in LedgerTransaction.objects.filter(kind="usage")) == 9

    statement = selectors.statement(org, today.strftime("%Y-%m"))
    assert [u["alert_id"] for u in statement["usage"]] == [first.pk, second.pk, third.pk]
    assert statement["usage"][0]["amount"] == Decimal("0.06")  # 1 post-paid unit at 0.055 EUR, to the cent
    expected_net = domain.cents(subscription) + Decimal("250.00") + Decimal("0.06")  # 200 - 200 reversed
    assert statement["net"] == expected_net
    assert statement["vat"] == domain.cents(expected_net * Decimal("0.21"))
    assert statement["total"] == statement["net"] + statement["vat"]
    assert statement["closing_units"] == 5000 - 6 and statement["units_in"] == 5002

    # Every transaction balances, in each currency; the ledger refuses edits and deletions.
    for txn in LedgerTransaction.objects.prefetch_related("entries"):
        domain.check_balanced(domain.Entry(e.account, e.currency, e.amount) for e in txn.entries.all())
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEntry.objects.filter(organisation=org).update(amount=0)
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerTransaction.objects.filter(organisation=org).delete()


def test_ba_8_postpaid_an_alert_is_never_held_back_for_lack_of_credit(cc_admin, register, peers):
    """BA-8-POSTPAID: with no pre-paid unit left the alert goes, billed post-paid; administrators are warned
    once that the balance is low."""
    from tocsin.organisations.models import Notice

    services.tariff_add(actor=cc_admin, valid_from=timezone.localdate(), activation_units=0)
    org = _activated(cc_admin)
    operator = UserFactory(organisation=org, email="operator@zottegem.be", roles=["operator"])
    _citizen(register, "An", "nl", "+32470500009")
    alert = alerts.alert_create(actor=operator, event="Brand", channels=["sms"], texts=TEXTS,
                                targets={"areas": [AREA]})  # fmt: skip
    preview = alerts.alert_preview(actor=operator, alert_id=alert.pk)
    assert preview["cost"]["postpaid_units"] == 1 and preview["cost"]["postpaid_amount"] == Decimal("0.06")
    alerts.alert_launch(actor=operator, alert_id=alert.pk, confirmation="1")
    _drain(timeout=10)
    services.usage_charge()
    usage = LedgerTransaction.objects.get(kind="usage")
    assert usage.postpaid_units == 1 and _sum(org, "receivable", "EUR") > Decimal("200")
    notices = Notice.objects.filter(user__organisation=org, subject__startswith="Low pre-paid")
    assert notices.count() == 1
    services.low_balance_check(org.pk)
    assert notices.count() == 1  # once, until the balance went back above the threshold


def test_ba_8_install_the_crisis_centre_and_alarm_side_are_never_billed(cc_admin, crisis_centre):
    org = organisations.organisation_create(actor=cc_admin, name="Alarmcentrale NV", kind="alarm_central",
                                            admin_email="a@ac.be", admin_name="A")  # fmt: skip
    assert services.activation_book(org) is None and services.activation_book(crisis_centre) is None
    assert not LedgerTransaction.objects.exists()


def test_ba_8_subscription_each_year_once(cc_admin):
    org = _activated(cc_admin)
    year = timezone.localdate().year
    assert services.subscriptions_book(year) == 0  # booked with the activation
    assert services.subscriptions_book(year + 1) == 1
    assert services.subscriptions_book(year + 1) == 0
    fees = LedgerTransaction.objects.filter(organisation=org, kind="subscription").order_by("period")
    assert [t.period for t in fees] == [str(year), str(year + 1)]
    assert _sum(org, "receivable", "EUR") == (
        Decimal("200") + domain.first_year_subscription(Decimal("788.88"), timezone.localdate()) + Decimal("788.88")
    )


def test_ba_8_prepaid_bad_orders_change_nothing_and_one_entity_never_sees_anothers(cc_admin, make_org):
    org = _activated(cc_admin)
    admin = org.members.get()
    from tests.organisations.factories import totp_device

    totp_device(admin)
    today = timezone.localdate()
    for units, day in [("0", today + timedelta(days=20)), ("-5", today + timedelta(days=20)),
                       ("777", today + timedelta(days=20)), ("5000", today + timedelta(days=13)),
                       ("5000", today - timedelta(days=1)), ("abc", today + timedelta(days=20))]:  # fmt: skip
        with pytest.raises(RuleError):
            services.order_submit(actor=admin, units=units, requested_delivery=day)
    assert not OrderForm.objects.exists()
    order = services.order_submit(actor=admin, units="5000", requested_delivery=today + timedelta(days=14))
    services.order_decide(actor=cc_admin, order_id=order.pk, status="confirmed")
    with pytest.raises(RuleError):  # a confirmed order is delivered or rejected, never submitted again
        services.order_decide(actor=cc_admin, order_id=order.pk, status="confirmed")
    with pytest.raises(RuleError):
        services.order_decide(actor=cc_admin, order_id=order.pk, status="rejected")  # a reason is needed
    other = _activated(cc_admin, name="Stad Gent", nis="44021")
    other_admin = other.members.get()
    totp_device(other_admin)
    with pytest.raises(Exception) as exc:
        selectors.order_get(actor=other_admin, order_id=order.pk)
    assert type(exc.value).__name__ == "NotFound"
    with pytest.raises(Exception) as exc:
        selectors.billing_org(actor=other_admin, organisation_id=org.pk)
    assert type(exc.value).__name__ == "NotFound"
    with pytest.raises(AccessDenied):
        services.order_decide(actor=admin, order_id=order.pk, status="delivered")


def test_ba_8_postpaid_reconcile_exits_non_zero_on_any_difference(cc_admin, register, peers, capsys):
    """`tocsin billing reconcile` proves units billed = units submitted; a usage booking reversed without a
    new one leaves a difference, named, and the command fails."""
    from tocsin.cli import main

    org = _activated(cc_admin)
    operator = UserFactory(organisation=org, email="operator@zottegem.be", roles=["operator"])
    _citizen(register, "An", "nl", "+32470500008")
    alert = _launch(operator, ["sms"])
    month = timezone.localdate().strftime("%Y-%m")
    assert main(["billing", "reconcile", "--month", month]) == 0
    usage = LedgerTransaction.objects.get(kind="usage", alert_id=alert.pk)
    services.ledger_reverse(actor=cc_admin, transaction_id=usage.pk, reason="test of the reconciliation")
    # A reversed usage is not charged again behind the reconciliation's back: it must show, named.
    assert main(["billing", "reconcile", "--month", month]) == 1
    out = capsys.readouterr().out
    assert f"alert={alert.pk}" in out and "submitted=1 billed=0" in out


def test_ba_8_postpaid_exercises_cost_like_alerts_unless_the_tariff_says_otherwise(cc_admin, register, peers):
    from tocsin.audiences import services as audiences

    services.tariff_add(actor=cc_admin, valid_from=timezone.localdate(), exercise_charged=False)
    org = _activated(cc_admin)
    operator = UserFactory(organisation=org, email="operator@zottegem.be", roles=["operator"])
    test_list = audiences.contact_list_create(actor=operator, name="Test", is_test=True)
    audiences.contact_create(actor=operator, list_id=test_list.pk, name="Tester", mobile="0470500007")
    alert = alerts.alert_create(actor=operator, event="Oefening", channels=["sms"], texts=TEXTS, status="Exercise",
                                targets={"lists": [test_list.pk]})  # fmt: skip
    alerts.alert_launch(actor=operator, alert_id=alert.pk, confirmation="1")
    _drain(timeout=10)
    services.usage_charge()
    usage = LedgerTransaction.objects.get(kind="usage")
    assert usage.units == 1 and not usage.entries.exists() and services.prepaid_units(org.pk) == 1000
    assert selectors.reconcile() == []  # counted, not charged


def test_ba_8_prepaid_the_order_form_reaches_the_supplier_and_the_team_as_pdf(cc_admin, settings, mailoutbox):
    from tests.organisations.factories import totp_device

    settings.TOCSIN_BILLING_SUPPLIER_EMAIL = "orders@supplier.example"
    org = _activated(cc_admin)
    admin = org.members.get()
    totp_device(admin)
    day = timezone.localdate() + timedelta(days=30)
    order = services.order_submit(actor=admin, units=10000, requested_delivery=day, reference="PO-77")
    drain_mail_queue()
    message = next(m for m in mailoutbox if order.number in m.subject)
    assert set(message.to) == {"orders@supplier.example", "cc-admin@example.be"}
    name, content, mimetype = message.attachments[0]
    assert name == f"{order.number}.pdf" and mimetype == "application/pdf" and content.startswith(b"%PDF-")


def test_review_fixes_refuse_what_would_corrupt_the_books(cc_admin):
    """Bad months, a tariff already in force, NaN or infinite amounts, reversing units already used: each
    refused with the field named, nothing written. A credit is booked with its reason."""
    from tocsin.billing.models import PackageLot, Tariff

    for month in ("9999-12", "2026-13", "26-1", "x", "1000-01"):
        with pytest.raises(RuleError) as exc:
            selectors.month_bounds(month)
        assert exc.value.field == "month"
    today = timezone.localdate()
    services.tariff_add(actor=cc_admin, valid_from=today, sms_unit_price="0.06")
    with pytest.raises(RuleError) as exc:
        services.tariff_add(actor=cc_admin, valid_from=today, sms_unit_price="0.01")
    assert exc.value.field == "valid_from"
    for bad in ("NaN", "Infinity", "-1", "0.00001", "abc"):
        with pytest.raises(RuleError):
            services.tariff_add(actor=cc_admin, valid_from=today + timedelta(days=1), sms_unit_price=bad)
    with pytest.raises(RuleError):
        services.tariff_add(actor=cc_admin, valid_from=today + timedelta(days=1), vat_rate="21")
    assert Tariff.objects.filter(valid_from__gt=today).count() == 0

    org = _activated(cc_admin)
    lot = PackageLot.objects.get(organisation=org)
    units_txn = LedgerTransaction.objects.filter(entries__lot=lot, kind="activation").distinct().get()
    services._book(org.pk, "usage", services._lot_entries(org.pk, lot.pk, -10, "units:used"), units=10)
    with pytest.raises(RuleError) as exc:  # 10 of its units were used: taking back 1,000 would go negative
        services.ledger_reverse(actor=cc_admin, transaction_id=units_txn.pk, reason="wrong lot")
    assert exc.value.field == "transaction" and services.prepaid_units(org.pk) == 990

    before = _sum(org, "receivable", "EUR")
    services.ledger_credit(actor=cc_admin, organisation_id=org.pk, amount="12.50", reason="goodwill, outage")
    assert _sum(org, "receivable", "EUR") == before - Decimal("12.50")
    with pytest.raises(RuleError):
        services.ledger_credit(actor=cc_admin, organisation_id=org.pk, amount="0", reason="nothing")

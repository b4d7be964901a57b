"""Billing: tariffs, an append-only double-entry ledger per entity, pre-paid lots, order forms."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone


def _packages() -> dict[str, str]:
    # Demo figures (configurable): package size in units → preferential unit price excl. VAT.
    return {"5000": "0.0500", "10000": "0.0480", "50000": "0.0450"}


class Tariff(models.Model):
    """Prices from a date on (excl. VAT); the one in force is the latest that has started. Never edited once
    in force: a new tariff is added instead. BE-Alert's public figures are the defaults."""

    valid_from = models.DateField(unique=True)
    sms_unit_price = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0.0550"))
    voice_unit_price = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0.0550"))
    subscription_fee = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("788.88"))
    activation_fee = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("200.00"))
    activation_units = models.PositiveIntegerField(default=1000)
    activation_units_days = models.PositiveIntegerField(default=365)  # how long the included units are valid
    packages = models.JSONField(default=_packages)  # {"5000": "0.0500", …}: units → unit price
    package_days = models.PositiveIntegerField(default=730)  # how long a delivered package is valid
    vat_rate = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal("0.2100"))
    exercise_charged = models.BooleanField(default=True)  # exercise and test sends cost like others
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-valid_from"]


class PackageLot(models.Model):
    """Pre-paid units of one entity: the activation's included units, or a delivered package."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=12)  # activation | package
    units = models.PositiveIntegerField()
    starts = models.DateTimeField()
    expires = models.DateTimeField(null=True, blank=True)
    order = models.OneToOneField(
        "billing.OrderForm", null=True, blank=True, on_delete=models.PROTECT, related_name="lot"
    )
    created_at = models.DateTimeField(default=timezone.now)


class LedgerTransaction(models.Model):
    """One booking, balanced in each currency by its entries. Append-only (a database trigger): a mistake
    is corrected by a reversing transaction, never by an edit."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12)  # domain.KINDS
    at = models.DateTimeField(default=timezone.now)
    memo = models.CharField(max_length=300, blank=True)
    period = models.CharField(max_length=10, blank=True)  # activation: "activation"; subscription: the year
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    # Usage: what was charged, for the statement and the reconciliation.
    alert_id = models.IntegerField(null=True, blank=True)
    request_id = models.IntegerField(null=True, blank=True)
    channel = models.CharField(max_length=10, blank=True)
    units = models.IntegerField(default=0)
    prepaid_units = models.IntegerField(default=0)
    postpaid_units = models.IntegerField(default=0)
    created_by = models.ForeignKey("organisations.User", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")  # fmt: skip

    class Meta:
        indexes = [models.Index(fields=["organisation", "at"]), models.Index(fields=["request_id"])]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "kind", "period"],
                condition=models.Q(kind__in=["activation", "subscription"]),
                name="billing_booked_once",
            )
        ]


class LedgerEntry(models.Model):
    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    # receivable (EUR the entity owes), prepaid (UNIT the entity holds, per lot); the platform's side:
    # revenue:<kind> (EUR), units:issued / units:used / units:expired (UNIT)
    account = models.CharField(max_length=30)
    organisation = models.ForeignKey("organisations.Organisation", null=True, on_delete=models.PROTECT,
                                     related_name="+")  # fmt: skip
    lot = models.ForeignKey(PackageLot, null=True, blank=True, on_delete=models.PROTECT, related_name="entries")
    currency = models.CharField(max_length=4)  # EUR | UNIT
    amount = models.DecimalField(max_digits=18, decimal_places=4)

    class Meta:
        indexes = [models.Index(fields=["organisation", "account"])]


class OrderForm(models.Model):
    """A bestelbon for a package of pre-paid units (BA-8-PREPAID)."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    number = models.CharField(max_length=20, unique=True)
    units = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=4)
    requested_delivery = models.DateField()
    reference = models.CharField(max_length=100, blank=True)  # the entity's own purchase reference
    status = models.CharField(max_length=10, default="submitted")  # submitted confirmed delivered rejected
    reason = models.CharField(max_length=300, blank=True)
    submitted_at = models.DateTimeField(default=timezone.now)
    submitted_by = models.ForeignKey("organisations.User", on_delete=models.PROTECT, related_name="+")
    status_at = models.DateTimeField(null=True, blank=True)
    status_by = models.ForeignKey("organisations.User", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")  # fmt: skip

    class Meta:
        ordering = ["-submitted_at"]


class BillingProfile(models.Model):
    """An entity's billing settings: the pre-paid balance under which its administrators are warned."""

    organisation = models.OneToOneField("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    low_balance_units = models.PositiveIntegerField(null=True, blank=True)  # none: the platform's default
    warned = models.BooleanField(default=False)  # warned since the balance last went below the threshold

"""The registry of alarm systems (meldpunt alarmsystemen), Royal Decree of 25 April 2007.

A system is registered by its user (KB-7-USER) or by the alarm central or
internal alarm service that manages it (KB-7-ARC). Every write is a version
(who, when, what, and how it stood against the KB-7 deadline); versions are
never edited.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin.alarms.domain import (
    DEFAULT_ARN_PATTERN,
    DEFAULT_USER_NUMBER_PATTERN,
    PropertyNature,
    RiskNature,
    Status,
    SystemType,
    VersionKind,
)

SYSTEM_TYPE_CHOICES = [
    (SystemType.GOODS.value, _("Goods alarm")),
    (SystemType.PERSONAL_FIXED.value, _("Fixed personal alarm")),
    (SystemType.PERSONAL_MOBILE.value, _("Mobile personal alarm")),
]
PROPERTY_CHOICES = [
    (PropertyNature.DWELLING.value, _("House")),
    (PropertyNature.APARTMENT.value, _("Apartment")),
    (PropertyNature.SHOP.value, _("Shop")),
    (PropertyNature.OFFICE.value, _("Office")),
    (PropertyNature.INDUSTRIAL.value, _("Industrial building")),
    (PropertyNature.AGRICULTURAL.value, _("Farm")),
    (PropertyNature.PUBLIC_BUILDING.value, _("Public building")),
    (PropertyNature.SCHOOL.value, _("School")),
    (PropertyNature.HEALTHCARE.value, _("Healthcare")),
    (PropertyNature.BANK.value, _("Bank")),
    (PropertyNature.OTHER.value, _("Other")),
]
RISK_CHOICES = [
    (RiskNature.BURGLARY.value, _("Burglary")),
    (RiskNature.HOLD_UP.value, _("Hold-up")),
    (RiskNature.AGGRESSION.value, _("Aggression")),
    (RiskNature.VANDALISM.value, _("Vandalism")),
    (RiskNature.OTHER.value, _("Other")),
]


class RegistryConfig(models.Model):
    """The administration's number formats (KB-7-ARC): one row."""

    user_number_pattern = models.CharField(max_length=200, default=DEFAULT_USER_NUMBER_PATTERN)
    arn_pattern = models.CharField(max_length=200, default=DEFAULT_ARN_PATTERN)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey("organisations.User", null=True, on_delete=models.PROTECT, related_name="+")


class AlarmReportNumber(models.Model):
    """An alarm-report number, assigned by the administration to one central (KB-7-ARC)."""

    number = models.CharField(max_length=40, unique=True)
    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(default=timezone.now)
    assigned_by = models.ForeignKey("organisations.User", null=True, on_delete=models.PROTECT, related_name="+")
    withdrawn_at = models.DateTimeField(null=True, blank=True)


class AlarmSystem(models.Model):
    reference = models.CharField(max_length=12, unique=True)
    # The alarm central or internal alarm service that manages it (KB-7-ARC); none: the user registers (KB-7-USER).
    central = models.ForeignKey(
        "organisations.Organisation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # (central, status) and (central, user number) lead with it
    )
    status = models.CharField(max_length=14, default=Status.ACTIVE.value, choices=[(s.value, s.value) for s in Status])
    # Installation site: a row of the address register, copied with its place.
    site_name = models.CharField(_("name of the site"), max_length=200)
    site_address_id = models.BigIntegerField()
    site_text = models.CharField(max_length=300)
    site_postcode = models.CharField(max_length=4)
    site_nis = models.CharField(max_length=5)
    site_lon = models.FloatField()
    site_lat = models.FloatField()
    site_phone = models.CharField(_("phone of the site"), max_length=20)
    # The user.
    user_name = models.CharField(_("user's name"), max_length=200)
    user_address = models.CharField(_("user's address"), max_length=200)
    user_mobile = models.CharField(_("user's mobile"), max_length=20, blank=True)
    user_email = models.CharField(_("user's e-mail"), max_length=254)
    property_nature = models.CharField(_("nature of the property"), max_length=20, choices=PROPERTY_CHOICES)
    risk_nature = models.CharField(_("nature of the risk"), max_length=20, choices=RISK_CHOICES)
    system_type = models.CharField(_("type of system"), max_length=20, choices=SYSTEM_TYPE_CHOICES)
    in_building = models.BooleanField(default=True)
    publicly_accessible = models.BooleanField(default=False)
    # Components (KB-2, KB-17, KB-18).
    siren = models.BooleanField(default=False)
    siren_alarm_s = models.PositiveIntegerField(default=0)
    siren_sabotage_s = models.PositiveIntegerField(default=0)
    light = models.BooleanField(default=False)
    light_until_switch_off = models.BooleanField(default=False)
    notification_system = models.BooleanField(default=False)
    first_use = models.DateField(_("first use"))
    renewed_on = models.DateField(null=True, blank=True)
    installer = models.CharField(_("installing security company"), max_length=200, blank=True)
    access_code_handed = models.BooleanField(default=False)  # KB-5 / KB-26
    visual_verification = models.BooleanField(default=False)  # KB-24
    # KB-11 exception: a system in a police station or the National Bank may signal the emergency number
    # directly (set by the registry administration only).
    direct_signal_exception = models.BooleanField(default=False, db_default=False)
    components_safe = models.BooleanField(default=True)  # KB-9
    contacts = models.JSONField(default=list)  # [{name, phone, has_access, knows_system}]
    # Only for a system a central manages (KB-7-ARC).
    user_number = models.CharField(_("user number"), max_length=40, blank=True)
    alarm_report_number = models.CharField(_("alarm-report number"), max_length=40, blank=True)
    client_informed_on = models.DateField(null=True, blank=True)  # KB-4
    # Lifecycle.
    registered_at = models.DateTimeField(default=timezone.now)
    registration_late_days = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)
    out_of_use = models.DateField(null=True, blank=True)
    deregistered_at = models.DateTimeField(null=True, blank=True)
    # KB-8.
    last_maintenance = models.DateField(null=True, blank=True)
    maintenance_due = models.DateField()
    # A central stopped managing a system still in use: its user registers it within 10 days (KB-7-USER).
    handover_due = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["central", "user_number"],
                condition=models.Q(central__isnull=False, status="active"),
                name="alarms_user_number_unique_per_central",
            ),
        ]
        indexes = [
            models.Index(fields=["user_number"]),
            models.Index(fields=["alarm_report_number"]),
            models.Index(fields=["site_address_id"]),
            # A user finds the systems no central manages by the contact they signed in with; a central's
            # imports never touch these two.
            models.Index(fields=["user_email"], condition=models.Q(central__isnull=True), name="alarms_user_email"),
            models.Index(fields=["user_mobile"], condition=models.Q(central__isnull=True), name="alarms_user_mobile"),
            models.Index(fields=["maintenance_due"], condition=models.Q(status="active"), name="alarms_maint_due"),
            models.Index(fields=["central", "status"]),
        ]

    def __str__(self) -> str:
        return self.reference


class SystemVersion(models.Model):
    """One write to a system: who, when, what (``changes``: field → [old, new]) and its KB-7 deadline."""

    system = models.ForeignKey(
        AlarmSystem, on_delete=models.CASCADE, related_name="versions", db_index=False
    )  # (system, number) is unique: that index serves
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=14, choices=[(k.value, k.value) for k in VersionKind])
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(
        "organisations.User", null=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )  # people are deactivated, never deleted
    by_label = models.CharField(max_length=254)  # "user <e-mail>", "central <name>", "registry <name>"
    event_on = models.DateField()
    due_on = models.DateField(null=True, blank=True)
    late_days = models.PositiveIntegerField(default=0)
    changes = models.JSONField(default=dict)

    class Meta:
        ordering = ["system", "number"]
        constraints = [models.UniqueConstraint(fields=["system", "number"], name="alarms_version_unique")]
        indexes = [models.Index(fields=["late_days", "at"], condition=models.Q(late_days__gt=0), name="alarms_late")]


class Sketch(models.Model):
    """KB-21: the situation sketch of a fixed personal alarm's building, with related user numbers."""

    system = models.OneToOneField(AlarmSystem, on_delete=models.CASCADE, related_name="sketch")
    content = models.BinaryField()
    content_type = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    related_user_numbers = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    uploaded_at = models.DateTimeField(default=timezone.now)
    uploaded_by = models.ForeignKey("organisations.User", null=True, on_delete=models.PROTECT, related_name="+")


class Maintenance(models.Model):
    """KB-8: a yearly maintenance, by the user or by a security company."""

    system = models.ForeignKey(AlarmSystem, on_delete=models.CASCADE, related_name="maintenances")
    done_on = models.DateField()
    by_company = models.BooleanField(default=False)
    company = models.ForeignKey("organisations.Organisation", null=True, on_delete=models.PROTECT, related_name="+")
    company_name = models.CharField(max_length=200, blank=True)
    notes = models.CharField(max_length=500, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey("organisations.User", null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-done_on", "-pk"]


class RemoteConsent(models.Model):
    """KB-6: the user's prior written consent to remote actions by one third party."""

    system = models.ForeignKey(AlarmSystem, on_delete=models.CASCADE, related_name="consents")
    party = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    party_kind = models.CharField(max_length=20)  # domain.Party
    actions = ArrayField(models.CharField(max_length=10))
    purposes = ArrayField(models.CharField(max_length=14))
    given_on = models.DateField()
    document = models.BinaryField()
    document_name = models.CharField(max_length=200)
    document_type = models.CharField(max_length=40)
    document_sha256 = models.CharField(max_length=64)
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey("organisations.User", null=True, on_delete=models.PROTECT, related_name="+")
    withdrawn_at = models.DateTimeField(null=True, blank=True)


class RemoteActionRecord(models.Model):
    """Every remote action asked for, allowed or refused (KB-6), with its purpose."""

    system = models.ForeignKey(AlarmSystem, on_delete=models.CASCADE, related_name="remote_actions")
    party = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    by = models.ForeignKey("organisations.User", null=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=10)
    purpose = models.CharField(max_length=14)
    note = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(default=timezone.now)
    allowed = models.BooleanField()
    refusal = models.CharField(max_length=300, blank=True)
    consent = models.ForeignKey(RemoteConsent, null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-at", "-pk"]


class InformationRecord(models.Model):
    """KB-4: a central or security company informed its client of the decree's rules at contract signature."""

    system = models.ForeignKey(
        AlarmSystem, on_delete=models.CASCADE, related_name="information", db_index=False
    )  # (system, organisation) is unique: that index serves
    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    informed_on = models.DateField()
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        "organisations.User", null=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["system", "organisation"], name="alarms_information_unique"),
        ]


class Reminder(models.Model):
    """A reminder sent before (or after) a deadline, once per system, kind and due date."""

    system = models.ForeignKey(AlarmSystem, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=24)  # maintenance_soon, maintenance_overdue, handover
    due_on = models.DateField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["system", "kind", "due_on"], name="alarms_reminder_once")]


class UserCode(models.Model):
    """A one-time sign-in code for an alarm-system user (KB-7-USER): only its hashes are kept."""

    contact = models.CharField(max_length=254)  # e-mail or E.164 mobile
    code_hash = models.CharField(max_length=64)
    link_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    request_id = models.BigIntegerField(null=True, blank=True)

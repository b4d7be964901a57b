from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tocsin.organisations.domain import Kind, Role, Status, entity_type, requires_2fa

KIND_CHOICES = [
    (Kind.CRISIS_CENTRE.value, _("Crisis centre")),
    (Kind.MUNICIPALITY.value, _("Municipality")),
    (Kind.GOVERNOR.value, _("Governor's emergency-planning service")),
    (Kind.POLICE_ZONE.value, _("Police zone")),
    (Kind.OTHER_TYPE2.value, _("Other type-2 entity")),
    (Kind.ALARM_CENTRAL.value, _("Alarm central")),
    (Kind.INTERNAL_ALARM_SERVICE.value, _("Internal alarm service")),
    (Kind.SECURITY_COMPANY.value, _("Security company")),
    (Kind.EMERGENCY_CENTRE.value, _("Emergency centre 101/112")),
    (Kind.REGISTRY_ADMIN.value, _("Registry administration")),
]
STATUS_CHOICES = [
    (Status.REQUESTED.value, _("Requested")),
    (Status.ACTIVE.value, _("Active")),
    (Status.SUSPENDED.value, _("Suspended")),
    (Status.TERMINATED.value, _("Terminated")),
]
ROLE_CHOICES = [
    (Role.ADMIN.value, _("Administrator")),
    (Role.OPERATOR.value, _("Operator")),
    (Role.VIEWER.value, _("Viewer")),
    (Role.ARC_OPERATOR.value, _("Alarm-central operator")),
    (Role.EC_OPERATOR.value, _("Emergency-centre operator")),
]


class Organisation(models.Model):
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=32, choices=KIND_CHOICES)
    status = models.CharField(_("status"), max_length=16, choices=STATUS_CHOICES, default=Status.REQUESTED.value)
    status_reason = models.TextField(_("reason"), blank=True)
    bin_option = models.BooleanField(_("BIN option"), default=False)
    # Activation parameters (BA-8-ACTIVATION) and recognition (KB-3).
    nis_code = models.CharField(_("NIS code"), max_length=5, blank=True)
    sms_sender = models.CharField(_("SMS sender name"), max_length=11, blank=True)
    languages = ArrayField(models.CharField(max_length=2), default=list, blank=True)
    recognition_reference = models.CharField(_("recognition reference"), max_length=100, blank=True)
    contact_email = models.EmailField(_("contact e-mail"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    # Bumped on suspension: sessions opened before it are closed (BA-7.4).
    access_epoch = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(kind=Kind.CRISIS_CENTRE.value),
                name="one_crisis_centre",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_crisis_centre(self) -> bool:
        return self.kind == Kind.CRISIS_CENTRE.value

    @property
    def entity_type(self) -> int | None:
        return entity_type(Kind(self.kind))

    @property
    def is_active(self) -> bool:
        return self.status == Status.ACTIVE.value


class OrganisationEvent(models.Model):
    """The lifecycle history of an organisation: never edited, only added to."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    from_status = models.CharField(max_length=16, blank=True, choices=STATUS_CHOICES)
    to_status = models.CharField(max_length=16, choices=STATUS_CHOICES)
    reason = models.TextField(blank=True)
    by = models.ForeignKey("organisations.User", null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["at", "pk"]


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person; belongs to exactly one organisation (BA-7.1)."""

    email = models.EmailField(_("e-mail"), unique=True)
    full_name = models.CharField(_("full name"), max_length=200)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="members")
    roles = ArrayField(models.CharField(max_length=16, choices=ROLE_CHOICES), default=list)
    language = models.CharField(max_length=2, default="nl")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    failed_logins = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["full_name"]

    class Meta:
        ordering = ["full_name"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def needs_2fa(self) -> bool:
        return requires_2fa(self.roles)

    @property
    def role_labels(self) -> list[str]:
        labels = dict(ROLE_CHOICES)
        return [str(labels.get(r, r)) for r in self.roles]

    def has_role(self, *roles: Role) -> bool:
        return any(r.value in self.roles for r in roles)


class Invitation(models.Model):
    """A one-time link with which a person sets their own password (BA-7.4)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations")
    # The link is an HMAC of this nonce with SECRET_KEY: the database alone gives no usable link.
    nonce = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class ApiToken(models.Model):
    """A per-user API token; only its SHA-256 is stored, the secret is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class ConditionsVersion(models.Model):
    """A version of the conditions published by the crisis centre (BA-9)."""

    number = models.PositiveIntegerField(unique=True)
    title = models.CharField(max_length=200)
    text = models.TextField()
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-number"]


class Agreement(models.Model):
    """An entity's agreement: no end date; records which conditions it accepted (BA-9)."""

    organisation = models.OneToOneField(Organisation, on_delete=models.PROTECT, related_name="agreement")
    accepted_version = models.ForeignKey(ConditionsVersion, null=True, on_delete=models.PROTECT, related_name="+")
    accepted_at = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)


class AgreementDecision(models.Model):
    ACCEPT = "accept"
    REFUSE = "refuse"
    TERMINATE = "terminate"
    CHOICES = [(ACCEPT, _("Accepted")), (REFUSE, _("Refused")), (TERMINATE, _("Terminated"))]

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="agreement_decisions")
    version = models.ForeignKey(ConditionsVersion, on_delete=models.PROTECT, related_name="decisions")
    decision = models.CharField(max_length=16, choices=CHOICES)
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "version"], name="one_decision_per_version"),
        ]


class SecurityDirective(models.Model):
    """An extra security directive of the crisis centre (BA-7.4)."""

    title = models.CharField(_("title"), max_length=200)
    text = models.TextField(_("text"))
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-published_at"]


class DirectiveAcknowledgement(models.Model):
    directive = models.ForeignKey(SecurityDirective, on_delete=models.PROTECT, related_name="acknowledgements")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["directive", "organisation"], name="one_ack_per_directive"),
        ]


class Notice(models.Model):
    """A message in a person's inbox on the dashboard (e.g. new conditions to decide on)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notices")
    # English templates with %(name)s fields, translated for the reader (gettext) with ``params``.
    subject = models.CharField(max_length=200)
    body = models.TextField()
    params = models.JSONField(default=dict)
    link = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def rendered_subject(self) -> str:
        return gettext(self.subject) % self.params if self.params else gettext(self.subject)

    def rendered_body(self) -> str:
        return gettext(self.body) % self.params if self.params else gettext(self.body)

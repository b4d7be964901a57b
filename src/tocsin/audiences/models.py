"""Predefined contact lists (BA-7-LISTS) and BIN groups with their delegated senders (BA-7-BIN).

Every row hangs off an organisation; reads and writes go through
``selectors``/``services``, which take the acting user (invariant 4).
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin.organisations.domain import LANGS
from tocsin.organisations.models import Organisation, User

LANGUAGE_CHOICES = [(lang, lang) for lang in LANGS]


class ContactList(models.Model):
    """A predefined list of key actors (schools, care homes, utilities…) owned by one entity."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="contact_lists")
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    # The entity's test list: exercises and tests reach it and nobody else.
    is_test = models.BooleanField(_("test list (exercises and tests)"), default=False)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint("organisation", Lower("name"), name="audiences_list_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    """A person or a desk on a list; phones in E.164, at least one channel."""

    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(_("name"), max_length=200)
    organisation = models.CharField(_("organisation or role"), max_length=200, blank=True)
    mobile = models.CharField(_("mobile"), max_length=16, blank=True)
    landline = models.CharField(_("landline"), max_length=16, blank=True)
    email = models.CharField(_("e-mail"), max_length=254, blank=True)
    language = models.CharField(_("language"), max_length=2, choices=LANGUAGE_CHOICES, default="nl")
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            # The identity of a contact within a list: a re-import updates it instead of doubling it.
            models.UniqueConstraint(
                fields=["contact_list", "mobile"], condition=~models.Q(mobile=""), name="audiences_contact_mobile"
            ),
            models.UniqueConstraint(
                "contact_list", Lower("email"), condition=~models.Q(email=""), name="audiences_contact_email"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class BinGroup(models.Model):
    """A neighbourhood information network (BA-7-BIN): citizens join it with its invitation code."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="bin_groups")
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    # 80 random bits (domain.invitation_code_new); renewed when a code leaks.
    code = models.CharField(max_length=16, unique=True)
    coordinator = models.ForeignKey(User, on_delete=models.PROTECT, related_name="bin_groups_coordinated")
    police_officer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="bin_groups_policed")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint("organisation", Lower("name"), name="audiences_bin_name_unique"),
            models.CheckConstraint(
                condition=~models.Q(coordinator=models.F("police_officer")), name="audiences_bin_two_people"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class BinMembership(models.Model):
    """A citizen's registration in a BIN group. Entities see only counts of these (BA-7.4)."""

    group = models.ForeignKey(BinGroup, on_delete=models.CASCADE, related_name="memberships")
    # Erasing a registration erases its memberships with it.
    registration = models.ForeignKey("citizens.Registration", on_delete=models.CASCADE, related_name="+")
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "registration"], name="audiences_bin_member_unique"),
        ]
        indexes = [models.Index(fields=["registration"])]


class BinSender(models.Model):
    """A user delegated to send to a BIN group, with the two approvals BA-7-BIN asks for."""

    group = models.ForeignKey(BinGroup, on_delete=models.CASCADE, related_name="senders")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    nominated_at = models.DateTimeField(default=timezone.now)
    nominated_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    approved_by_coordinator_at = models.DateTimeField(null=True, blank=True)
    approved_by_coordinator = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    approved_by_police_at = models.DateTimeField(null=True, blank=True)
    approved_by_police = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["nominated_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="audiences_bin_sender_unique"),
        ]

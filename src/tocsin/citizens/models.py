"""Voluntary registrations of citizens (BA-7.3): contact points, addresses, consent, one-time codes.

Personal data lives only here. Entities never read these tables (BA-7.4):
they get counts through ``citizens.selectors``; erasure deletes the rows and
keeps an anonymous count (``Erasure``).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin.citizens.domain import AddressLabel, PointKind, RegistrationStatus


class Registration(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    language = models.CharField(_("language"), max_length=2, default="nl")
    status = models.CharField(
        max_length=12,
        choices=[(s.value, s.value) for s in RegistrationStatus],
        default=RegistrationStatus.PENDING.value,
    )
    # Deaf or hard of hearing: never called; text channels instead.
    deaf = models.BooleanField(_("deaf or hard of hearing"), default=False)
    opt_out_general = models.BooleanField(_("no messages of general interest"), default=False)
    opt_out_bin = models.BooleanField(_("no BIN messages"), default=False)
    consent_version = models.CharField(max_length=20)
    consent_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    paused_at = models.DateTimeField(null=True, blank=True)
    # Where the person signed up from (a municipality's promotion link), for anonymous statistics.
    referrer_nis = models.CharField(max_length=5, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status"])]


class ContactPoint(models.Model):
    registration = models.ForeignKey(Registration, on_delete=models.CASCADE, related_name="contact_points")
    kind = models.CharField(max_length=10, choices=[(k.value, k.value) for k in PointKind])
    value = models.CharField(max_length=254)  # E.164 for phones, lower-case domain for e-mail
    sms = models.BooleanField(default=False)
    voice = models.BooleanField(default=False)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["registration", "kind", "value"], name="citizens_point_unique"),
        ]
        indexes = [models.Index(fields=["value"])]


class CitizenAddress(models.Model):
    """One of up to five addresses of a registration, a copy of a register address with its place."""

    registration = models.ForeignKey(Registration, on_delete=models.CASCADE, related_name="addresses")
    label = models.CharField(max_length=10, choices=[(a.value, a.value) for a in AddressLabel])
    address_id = models.BigIntegerField(null=True)  # the register row it was chosen from
    text = models.CharField(max_length=300)
    postcode = models.CharField(max_length=4)
    nis_code = models.CharField(max_length=5)
    lon = models.FloatField()
    lat = models.FloatField()
    cell = models.IntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["cell"]),
            models.Index(fields=["nis_code"]),
            models.Index(fields=["postcode"]),
            models.Index(fields=["registration"]),
        ]


class OneTimeCode(models.Model):
    """A code sent to a contact point: to verify it, or to sign in. Only its hash is kept."""

    PURPOSES = [("verify", "verify"), ("sign_in", "sign in")]

    purpose = models.CharField(max_length=10, choices=PURPOSES)
    registration = models.ForeignKey(Registration, on_delete=models.CASCADE, related_name="+")
    contact_point = models.ForeignKey(ContactPoint, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64)
    link_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    # The send request that carried it: its text (with the code) is removed once the code is used or expired.
    request_id = models.BigIntegerField(null=True, blank=True)


class Throttle(models.Model):
    """Counters per key and time window (IP, number, prefix, proof-of-work seal), shared by every web process."""

    key = models.CharField(max_length=200)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="citizens_throttle_unique")]


class Erasure(models.Model):
    """What remains of erased registrations: a count per day and municipality, nothing personal."""

    day = models.DateField()
    nis_code = models.CharField(max_length=5, blank=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "nis_code"], name="citizens_erasure_unique")]

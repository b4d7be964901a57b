"""The alarm receiving centre's configuration (issue 8): the accounts its receiver takes signals for.

An account is what a panel sends in its SIA DC-09 frames (``#1234``); it belongs to one central and,
through the registry, to one alarm system (KB-7-ARC). A panel's zones map to detection codes (art. 1,
KB-14). The AES key of an encrypted panel is stored encrypted at rest.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ReceiverAccount(models.Model):
    central = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    account = models.CharField(max_length=16)  # upper-case hex, 3 to 16 characters
    system = models.ForeignKey(
        "alarms.AlarmSystem", null=True, blank=True, on_delete=models.PROTECT, related_name="receiver_accounts"
    )
    # AES key for the encrypted message forms: nonce + AES-GCM ciphertext under the platform's key (empty: none).
    key_sealed = models.BinaryField(default=b"", blank=True)
    encryption_required = models.BooleanField(default=False)
    # The timestamp window (DC-09: +20 s / -40 s by default) and the panel's clock zone when it is not UTC.
    ahead_s = models.PositiveIntegerField(default=20)
    behind_s = models.PositiveIntegerField(default=40)
    device_tz = models.CharField(max_length=64, default="UTC")
    # Supervision: a NULL message or a periodic test expected at least this often (None: not supervised).
    poll_interval_s = models.PositiveIntegerField(null=True, blank=True)
    # The last frame any copy of the receiver stored for this account (written by each copy every few
    # seconds): supervision reads it, so several receivers sharing the panels agree on who is late.
    last_seen = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["central", "account"], name="arc_account_unique")]

    def __str__(self) -> str:
        return f"#{self.account}"


class ZoneMap(models.Model):
    """A panel's zone (or user) number → the detection code the notification carries (KB-14)."""

    account = models.ForeignKey(ReceiverAccount, on_delete=models.CASCADE, related_name="zones")
    zone = models.CharField(max_length=8)
    detection_code = models.CharField(max_length=40)
    label = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "zone"], name="arc_zone_unique")]


class DiscoveredAccount(models.Model):
    """An account the receiver heard from but does not know: for the central to claim (or ignore)."""

    central = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    account = models.CharField(max_length=16)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    frames = models.PositiveIntegerField(default=1)
    source = models.CharField(max_length=64, blank=True)  # the last source address
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["central", "account"], name="arc_discovered_unique")]


class Signal(models.Model):
    """One frame a panel sent and the receiver acknowledged: committed before its ACK left (invariant 1).

    A frame re-sent by a panel (its ACK was lost) has the same digest: it is acknowledged again but
    stored once.
    """

    account = models.ForeignKey(ReceiverAccount, on_delete=models.PROTECT, related_name="signals")
    central = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField()
    message_id = models.CharField(max_length=12)  # SIA-DCS, ADM-CID, NULL
    encrypted = models.BooleanField(default=False)
    sequence = models.CharField(max_length=4)
    receiver = models.CharField(max_length=6, blank=True)
    prefix = models.CharField(max_length=6, blank=True)
    data = models.TextField(blank=True)
    extended = models.JSONField(default=list)
    panel_time = models.DateTimeField(null=True, blank=True)
    events = models.JSONField(default=list)  # parsed: [{code, zone, area, user, qualifier, kind, description}]
    source = models.CharField(max_length=64, blank=True)
    transport = models.CharField(max_length=3)  # tcp, udp
    digest = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "digest"], name="arc_signal_once")]
        indexes = [models.Index(fields=["account", "-received_at"], name="arc_signal_recent")]


class SupervisionFault(models.Model):
    """An account that missed its polling interval ("late to test"): raised by the receiver, cleared by the
    account's next frame; the operators' queue shows the open ones (issue 9)."""

    account = models.ForeignKey(ReceiverAccount, on_delete=models.CASCADE, related_name="faults")
    raised_at = models.DateTimeField()
    last_seen = models.DateTimeField(null=True, blank=True)  # the account's last frame before the fault
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=models.Q(cleared_at__isnull=True), name="arc_one_open_fault"
            )
        ]

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
    # Not yet read into alarm cases (issue 9): the case builder takes these, in order, and sets it false.
    pending = models.BooleanField(default=True, db_default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "digest"], name="arc_signal_once")]
        indexes = [
            models.Index(fields=["account", "-received_at"], name="arc_signal_recent"),
            models.Index(fields=["id"], condition=models.Q(pending=True), name="arc_signal_pending"),
        ]


class SupervisionFault(models.Model):
    """An account that missed its polling interval ("late to test"): raised by the receiver, cleared by the
    account's next frame; the operators' queue shows the open ones (issue 9)."""

    account = models.ForeignKey(ReceiverAccount, on_delete=models.CASCADE, related_name="faults")
    raised_at = models.DateTimeField()
    last_seen = models.DateTimeField(null=True, blank=True)  # the account's last frame before the fault
    cleared_at = models.DateTimeField(null=True, blank=True)
    cased = models.BooleanField(default=False, db_default=False)  # read into an alarm case (issue 9)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=models.Q(cleared_at__isnull=True), name="arc_one_open_fault"
            )
        ]


# ------------------------------------------------------------------------------------------ issue 9


class VerificationMethod(models.Model):
    """A verification method approved by ministerial decision (KB-13, KB-23), kept by the registry
    administration; its code is the verification code a notification states (KB-14)."""

    code = models.CharField(max_length=8, unique=True)
    name = models.CharField(max_length=200)
    goods = models.BooleanField(default=True)  # approved for goods alarms
    personal = models.BooleanField(default=True)  # approved for personal alarms
    active = models.BooleanField(default=True)
    decision = models.CharField(max_length=200, blank=True)  # the ministerial decision approving it
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class DirectNumber(models.Model):
    """KB-10: a direct emergency number the minister gave a central or internal alarm service; its
    structured notifications arrive at the emergency centre named here."""

    central = models.OneToOneField("organisations.Organisation", on_delete=models.CASCADE, related_name="direct_number")
    number = models.CharField(max_length=20)
    emergency_centre = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=200, blank=True)
    assigned_at = models.DateTimeField(default=timezone.now)
    assigned_by = models.ForeignKey("organisations.User", null=True, on_delete=models.PROTECT, related_name="+")


class AlarmCase(models.Model):
    """An alarm for the operators: the events of one account and kind, from the first until it is closed.
    A second zone of the same system joins the open case (sequential detection)."""

    OPEN, CLAIMED, CLOSED = "open", "claimed", "closed"

    central = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(ReceiverAccount, on_delete=models.PROTECT, related_name="cases")
    system = models.ForeignKey(
        "alarms.AlarmSystem", null=True, blank=True, on_delete=models.PROTECT, related_name="cases"
    )
    category = models.CharField(max_length=12)  # tocsin.arc.domain.Category
    priority = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    state = models.CharField(max_length=8, default=OPEN)
    opened_at = models.DateTimeField(default=timezone.now)
    first_signal_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    events = models.PositiveIntegerField(default=0)
    restored = models.BooleanField(default=False)  # every alarm in it has been restored
    claimed_by = models.ForeignKey(
        "organisations.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        "organisations.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    close_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "category"], condition=~models.Q(state="closed"), name="arc_one_open_case"
            )
        ]
        indexes = [
            models.Index(
                fields=["central", "priority", "opened_at"], condition=~models.Q(state="closed"), name="arc_queue"
            ),
            models.Index(fields=["central", "-updated_at"], name="arc_case_changed"),
        ]


class CaseEvent(models.Model):
    case = models.ForeignKey(AlarmCase, on_delete=models.CASCADE, related_name="case_events")
    signal = models.ForeignKey(Signal, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    code = models.CharField(max_length=8)
    zone = models.CharField(max_length=8, blank=True)
    family = models.CharField(max_length=8, blank=True)
    description = models.CharField(max_length=200, blank=True)
    detection_code = models.CharField(max_length=40, blank=True)  # KB-14, from the zone map
    zone_label = models.CharField(max_length=200, blank=True)
    restore = models.BooleanField(default=False)  # this event is a restore
    restored_at = models.DateTimeField(null=True, blank=True)  # this alarm was restored then


class CaseStep(models.Model):
    """One step of the case's action plan: done, or skipped with a reason."""

    case = models.ForeignKey(AlarmCase, on_delete=models.CASCADE, related_name="steps")
    step = models.CharField(max_length=20)
    position = models.PositiveSmallIntegerField()
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey("organisations.User", null=True, on_delete=models.PROTECT, related_name="+")
    skipped_reason = models.CharField(max_length=500, blank=True)
    outcome = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "step"], name="arc_step_once")]


class CaseCall(models.Model):
    """A call the operator made for the case: to the user, a contact person or the emergency number."""

    case = models.ForeignKey(AlarmCase, on_delete=models.CASCADE, related_name="calls")
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey("organisations.User", on_delete=models.PROTECT, related_name="+")
    callee = models.CharField(max_length=20)  # user, contact, emergency, fire_service, technician
    name = models.CharField(max_length=200, blank=True)
    number = models.CharField(max_length=20, blank=True)
    outcome = models.CharField(max_length=20)  # reached, no_answer, busy, voicemail, wrong_number
    note = models.CharField(max_length=2000, blank=True)


class CaseVerification(models.Model):
    case = models.ForeignKey(AlarmCase, on_delete=models.CASCADE, related_name="verifications")
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey("organisations.User", on_delete=models.PROTECT, related_name="+")
    method = models.ForeignKey(VerificationMethod, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=16)  # tocsin.arc.domain.Outcome
    finding = models.CharField(max_length=16, blank=True)  # tocsin.arc.domain.Finding
    note = models.CharField(max_length=2000, blank=True)


class CaseLog(models.Model):
    """The case's history as the operators read it (who did what, when)."""

    case = models.ForeignKey(AlarmCase, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey("organisations.User", null=True, on_delete=models.PROTECT, related_name="+")
    what = models.CharField(max_length=40)
    data = models.JSONField(default=dict)


class Notification(models.Model):
    """An alarm notification (alarmmelding) from a central to the emergency number: by phone, as a
    real-time conversation the operator records (KB-12), or structured to the desk through the
    central's direct emergency number (KB-10)."""

    SENT, ACKNOWLEDGED, DISPATCHED, CLOSED = "sent", "acknowledged", "dispatched", "closed"

    case = models.ForeignKey(AlarmCase, on_delete=models.PROTECT, related_name="notifications")
    central = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    emergency_centre = models.ForeignKey(
        "organisations.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    system = models.ForeignKey("alarms.AlarmSystem", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=8)  # goods, personal
    channel = models.CharField(max_length=8)  # tocsin.arc.domain.Channel
    items = models.JSONField(default=dict)  # KB-14 / KB-23, in the law's words
    extra = models.JSONField(default=dict)  # site, zones, position, images link, contacts
    missing = models.JSONField(default=list)  # KB-16: what the law's items lack
    delayed = models.BooleanField(default=False)  # KB-16: for delayed handling at the desk
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey("organisations.User", on_delete=models.PROTECT, related_name="+")
    first_signal_at = models.DateTimeField()
    # KB-12: the phone call's time, the emergency operator's name and the outcome, as recorded.
    call_at = models.DateTimeField(null=True, blank=True)
    call_with = models.CharField(max_length=200, blank=True)
    call_outcome = models.CharField(max_length=500, blank=True)
    state = models.CharField(max_length=14, default=SENT)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        "organisations.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_note = models.CharField(max_length=500, blank=True)
    outcome = models.CharField(max_length=24, blank=True)  # tocsin.arc.domain.DeskOutcome
    outcome_at = models.DateTimeField(null=True, blank=True)
    entered = models.BooleanField(default=False)
    entry_consent_by = models.CharField(max_length=200, blank=True)  # KB-19
    outcome_note = models.CharField(max_length=2000, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["emergency_centre", "state", "-created_at"], name="arc_desk_queue"),
            models.Index(fields=["central", "-created_at"], name="arc_notif_central"),
        ]

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tocsin.delivery.domain import Channel, Priority, State

STATE_CHOICES = [(s.value, s.value) for s in State]
CHANNEL_CHOICES = [
    (Channel.SMS.value, _("SMS")),
    (Channel.EMAIL.value, _("E-mail")),
    (Channel.VOICE.value, _("Voice call")),
]
# Area broadcasts reach every phone in an area: no deliveries per recipient, one message per operator / CBC.
GATEWAY_CHANNELS = [*CHANNEL_CHOICES, ("lbsms", _("Location-based SMS")), ("cb", _("Cell broadcast"))]


class Gateway(models.Model):
    """A way out: an SMSC over SMPP, a Kannel box, or an SMTP relay.

    ``organisation`` empty means platform-wide. ``rate_per_s`` and ``concurrency``
    hold across all workers together (a token bucket in this row, and one
    advisory lock per connection slot).
    """

    KINDS = [
        ("smpp", "SMPP 3.4"),
        ("kannel", "Kannel HTTP"),
        ("smtp", "SMTP"),
        ("sip", "SIP trunk (voice calls, G.711 over RTP)"),
        ("cap-https", "CAP 1.2 over HTTPS (an operator's location-based SMS)"),
        ("ecbe", "ECBE REST (osmo-cbc cell broadcast centre)"),
    ]
    HEALTH = [("unknown", _("Unknown")), ("ok", _("OK")), ("degraded", _("Degraded")), ("down", _("Down"))]

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=KINDS)
    channel = models.CharField(max_length=10, choices=GATEWAY_CHANNELS)
    organisation = models.ForeignKey(
        "organisations.Organisation", null=True, blank=True, on_delete=models.PROTECT, related_name="gateways"
    )
    config = models.JSONField(default=dict)
    rate_per_s = models.FloatField(default=100.0)
    concurrency = models.PositiveIntegerField(default=1)
    enabled = models.BooleanField(default=True)
    # Token bucket shared by all workers.
    tokens = models.FloatField(default=0.0)
    tokens_at = models.DateTimeField(default=timezone.now)
    health = models.CharField(max_length=10, choices=HEALTH, default="unknown")
    health_detail = models.TextField(blank=True)
    health_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class SendRequest(models.Model):
    """One message to many recipients, with one priority. Texts and gateways are frozen here."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey("organisations.User", null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    purpose = models.CharField(max_length=32)  # alert, verification, notice, order …
    priority = models.PositiveSmallIntegerField(default=Priority.INFORMATION)
    # {"nl": {"subject": …, "text": …, "html": …}, "fr": …}
    content = models.JSONField(default=dict)
    gateways = models.JSONField(default=dict)  # channel → gateway id, frozen at creation
    recipient_count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class Delivery(models.Model):
    """One recipient on one channel: the unit the workers claim, send and track."""

    id = models.BigAutoField(primary_key=True)
    # No FK indexes (the unique key starts with request, the claim index with gateway) and no FK
    # constraints: Django makes them deferred, and checking a million of them at COMMIT took half the
    # time of writing a send. The rows are written only by services.send_request_create, in the same
    # transaction as their request, for a gateway it has just read.
    request = models.ForeignKey(
        SendRequest, on_delete=models.PROTECT, related_name="deliveries", db_index=False, db_constraint=False
    )
    channel = models.CharField(max_length=10, choices=CHANNEL_CHOICES)
    recipient = models.CharField(max_length=254)
    language = models.CharField(max_length=2, default="nl")
    priority = models.PositiveSmallIntegerField()
    gateway = models.ForeignKey(
        Gateway, null=True, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    state = models.CharField(max_length=10, choices=STATE_CHOICES, default=State.QUEUED.value)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_by = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    gateway_message_id = models.CharField(max_length=80, blank=True)
    units = models.PositiveSmallIntegerField(default=0)  # billable: SMS parts, started minutes of a call, 0 for e-mail
    # The recipient confirmed: pressed 1 during a voice call.
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Set when a claim expired while the message may already have been with the gateway.
    possible_duplicate = models.BooleanField(default=False)
    queued_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    final_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # The idempotency key: one delivery per recipient and channel of a send request, whoever retries.
            models.UniqueConstraint(fields=["request", "channel", "recipient"], name="delivery_once"),
        ]
        indexes = [
            # The claim: queued rows of one gateway by priority then age (partial: finished rows cost nothing).
            models.Index(
                fields=["gateway", "priority", "next_attempt_at", "id"],
                name="delivery_claim",
                condition=models.Q(state="queued"),
            ),
            models.Index(fields=["lease_until"], name="delivery_lease", condition=models.Q(state="claimed")),
            models.Index(
                fields=["gateway", "gateway_message_id"],
                name="delivery_receipt",
                condition=~models.Q(gateway_message_id=""),
            ),
        ]


class PendingReceipt(models.Model):
    """A receipt that arrived before its delivery's message id was committed; applied when it is."""

    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="+")
    gateway_message_id = models.CharField(max_length=80)
    outcome = models.CharField(max_length=10)
    detail = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["gateway", "gateway_message_id"], name="pending_receipt")]


class InboundMessage(models.Model):
    """A mobile-originated SMS (a reply), kept for acknowledgements later."""

    gateway = models.ForeignKey(Gateway, on_delete=models.PROTECT, related_name="+")
    sender = models.CharField(max_length=32)
    recipient = models.CharField(max_length=32)
    text = models.TextField()
    received_at = models.DateTimeField(default=timezone.now)


class Attempt(models.Model):
    """One try of a delivery and how it went (voice calls: rang, answered, busy, no answer …)."""

    OUTCOMES = [
        ("acknowledged", _("Answered, confirmed with 1")),
        ("answered", _("Answered")),
        ("answering_machine", _("Answering machine: message left")),
        ("busy", _("Busy")),
        ("no_answer", _("No answer")),
        ("rejected", _("Refused by the network")),
        ("failed", _("Failed")),
    ]

    id = models.BigAutoField(primary_key=True)
    delivery_id = models.BigIntegerField()
    attempt = models.PositiveSmallIntegerField()
    worker = models.CharField(max_length=64)
    started_at = models.DateTimeField()
    ringing_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField()
    outcome = models.CharField(max_length=20, choices=OUTCOMES)
    sip_status = models.PositiveSmallIntegerField(null=True, blank=True)
    seconds_played = models.FloatField(default=0)
    detail = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["delivery_id", "attempt"], name="attempt_delivery")]


class Speech(models.Model):
    """A voice message rendered once per send request and language, shared by every worker."""

    request = models.ForeignKey(SendRequest, on_delete=models.CASCADE, related_name="+")
    language = models.CharField(max_length=2)
    text_sha256 = models.CharField(max_length=64)
    ulaw = models.BinaryField()
    alaw = models.BinaryField()
    seconds = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request", "language", "text_sha256"], name="speech_once")]

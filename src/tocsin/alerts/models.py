"""Alerts: one row per CAP message (Alert, Update, Cancel), with what it was launched with, frozen."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from tocsin.alerts.domain import State


class Alert(models.Model):
    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey("organisations.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey("organisations.User", null=True, on_delete=models.PROTECT, related_name="+")
    # Four eyes: a second person approves this version before launch (cleared by any change).
    approved_by = models.ForeignKey("organisations.User", null=True, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=12, choices=[(s.value, s.value) for s in State], default=State.DRAFT.value)
    # CAP 1.2
    identifier = models.CharField(max_length=100, unique=True)
    msg_type = models.CharField(max_length=10, default="Alert")  # Alert | Update | Cancel
    status = models.CharField(max_length=10, default="Actual")  # Actual | Exercise | Test
    references = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="follow_ups")
    category = models.CharField(max_length=12, default="Safety")
    event = models.CharField(max_length=200)
    urgency = models.CharField(max_length=12, default="Immediate")
    severity = models.CharField(max_length=12, default="Severe")
    certainty = models.CharField(max_length=12, default="Observed")
    response_types = models.JSONField(default=list)
    onset = models.DateTimeField(null=True, blank=True)
    expires = models.DateTimeField(null=True, blank=True)
    web = models.URLField(blank=True)
    contact = models.CharField(max_length=200, blank=True)
    # Messages of general interest respect the citizens' opt-out; emergencies reach everyone registered.
    general_interest = models.BooleanField(default=False)
    # {language: {headline, description, instruction, sms, email_subject, email_body}}
    texts = models.JSONField(default=dict)
    channels = models.JSONField(default=list)  # ["sms", "email"]
    # {"lists": [ids], "bin_groups": [ids], "areas": [area JSON as geo.domain.area_from_json takes it]}
    targets = models.JSONField(default=dict)
    # Frozen at launch: recipients per channel and language, texts, the CAP document, the send requests.
    launched_at = models.DateTimeField(null=True, blank=True)
    launched_by = models.ForeignKey("organisations.User", null=True, on_delete=models.PROTECT, related_name="+")
    snapshot = models.JSONField(default=dict)
    send_request_ids = models.JSONField(default=list)
    cap_xml = models.TextField(blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organisation", "-created_at"])]


class AlertPolicy(models.Model):
    """An entity's own rules for its alerts."""

    organisation = models.OneToOneField("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    # A second person of the entity approves every alert before it can be launched.
    four_eyes = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey("organisations.User", null=True, on_delete=models.PROTECT, related_name="+")


class AlertTemplate(models.Model):
    """An entity's own template for a recurring event: CAP values and texts, no targets."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    fields = models.JSONField(default=dict)  # event, category, urgency, severity, certainty, response_types, texts
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey("organisations.User", null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="alerts_template_name_unique")]


class AreaBroadcast(models.Model):
    """An alert handed to one area-broadcast gateway: a mobile operator's location-based SMS endpoint or a cell
    broadcast centre. The operator reports counts (cells, handsets reached), never numbers."""

    STATES = ("queued", "accepted", "broadcasting", "ended", "failed", "withdrawn")

    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="broadcasts")
    gateway = models.ForeignKey("delivery.Gateway", on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=10)  # lbsms | cb
    state = models.CharField(max_length=12, default="queued")
    # The operator's reference (lbsms) or the cell-broadcast message identifiers sent (cb).
    remote_ids = models.JSONField(default=list)
    counts = models.JSONField(default=dict)  # {cells, handsets, sent, delivered} as the operator reports them
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["alert", "gateway"], name="alerts_broadcast_once")]


class AlertAck(models.Model):
    """A recipient acknowledged an alert through the link in its e-mail (SMS replies are read from the
    inbound messages). One per delivery: the first answer counts, a call for help is never overwritten."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="+")
    delivery_id = models.BigIntegerField()
    channel = models.CharField(max_length=10, default="email")
    kind = models.CharField(max_length=8)  # ok | help
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["alert", "delivery_id"], name="alerts_ack_once")]


class FeedPartner(models.Model):
    """A partner (digital signage, media, an app) that receives every public alert's CAP document as it is
    launched, by an HTTPS POST signed with its own secret. Managed by the crisis centre."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=64)  # the HMAC key, shown once when the partner is added
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)


class PartnerPush(models.Model):
    """One alert pushed to one partner: tried until the partner answers 2xx, or five times."""

    partner = models.ForeignKey(FeedPartner, on_delete=models.CASCADE, related_name="pushes")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, default="queued")  # queued | pushed | failed
    attempts = models.PositiveSmallIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "alert"], name="alerts_push_once")]

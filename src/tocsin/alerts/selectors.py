"""Reads for alerts, always scoped to the acting organisation."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from tocsin.alerts.models import Alert
from tocsin.organisations.domain import gettext_noop
from tocsin.organisations.models import User
from tocsin.organisations.services import NotFound


def alert_list(*, actor: User) -> QuerySet[Alert]:
    return Alert.objects.filter(organisation_id=actor.organisation_id).order_by("-created_at")


def alert_get(*, actor: User, alert_id: int) -> Alert:
    alert = alert_list(actor=actor).filter(pk=alert_id).first()
    if alert is None:
        raise NotFound(gettext_noop("No such alert."))
    return alert


ACK_WORDS = {
    "ok": ("OK", "JA", "OUI", "YES", "GELEZEN", "LU"),
    "help": ("HELP", "HULP", "AIDE", "HILFE", "SOS"),
}


def alert_acks(*, alert: Alert) -> dict[str, int]:
    """Acknowledgements, counts only (BA-7.4): totals ``ok`` / ``help`` / ``other``, and per channel
    (``sms_…``: replies to the SMS, ``email_…``: the e-mail's link, ``voice_ok``: a 1 pressed in a call)."""
    from django.db.models import Count

    from tocsin.alerts.models import AlertAck
    from tocsin.delivery.models import Delivery

    sms = _sms_acks(alert)
    email = dict(AlertAck.objects.filter(alert=alert).values_list("kind").annotate(n=Count("id")).order_by())
    voice = Delivery.objects.filter(
        request_id__in=list(alert.send_request_ids or []), channel="voice", acknowledged_at__isnull=False
    ).count()
    out = {f"sms_{k}": v for k, v in sms.items()}
    out.update({"email_ok": email.get("ok", 0), "email_help": email.get("help", 0), "voice_ok": voice})
    out.update({"ok": sms["ok"] + out["email_ok"] + voice, "help": sms["help"] + out["email_help"],
                "other": sms["other"]})  # fmt: skip
    return out


def _sms_acks(alert: Alert) -> dict[str, int]:
    """Replies to the alert's SMS, per keyword (OK / HULP …), each person once: the first word of every reply
    received within two days of launch from a number the alert reached."""
    from django.db import connection

    if not alert.launched_at or not alert.send_request_ids:
        return {"ok": 0, "help": 0, "other": 0}
    sql = """
        SELECT upper(split_part(trim(i.text), ' ', 1)), ltrim(i.sender, '+')
        FROM delivery_inboundmessage i
        WHERE i.received_at >= %s AND i.received_at < %s + interval '2 days'
          AND ltrim(i.sender, '+') IN (
              SELECT ltrim(d.recipient, '+') FROM delivery_delivery d
              WHERE d.request_id = ANY(%s) AND d.channel = 'sms')
        ORDER BY i.received_at
    """
    seen: dict[str, str] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [alert.launched_at, alert.launched_at, list(alert.send_request_ids)])
        for word, sender in cursor.fetchall():
            kind = next((k for k, words in ACK_WORDS.items() if word.strip(".!") in words), "other")
            if seen.get(sender) != "help":  # a call for help is never overwritten by a later "OK"
                seen[sender] = kind
    counts = {"ok": 0, "help": 0, "other": 0}
    for kind in seen.values():
        counts[kind] += 1
    return counts


DELIVERY_STATES = ("queued", "claimed", "submitted", "delivered", "failed", "expired")


def alert_dashboard(*, alert: Alert) -> dict[str, Any]:
    """Everything the live dashboard shows of a launched alert: per channel and state the deliveries of its
    send requests, its area broadcasts with the operators' counts, and the acknowledgements."""
    from tocsin.alerts.broadcasts import broadcast_summary
    from tocsin.delivery.selectors import call_outcomes, progress, summarise

    channels: dict[str, dict[str, int]] = {}
    for request_id in alert.send_request_ids:
        for channel, states in progress(request_id=request_id).items():
            row = channels.setdefault(channel, dict.fromkeys(DELIVERY_STATES, 0))
            for state, n in states.items():
                row[state] = row.get(state, 0) + n
    summary = summarise(0, channels)
    area = broadcast_summary(alert)
    return {
        "alert": alert.pk,
        "state": alert.state,
        "channels": channels,
        "total": summary["total"],
        "ended": summary["ended"],
        "done": summary["ended"] == summary["total"] and not any(b["state"] == "queued" for b in area),
        "broadcasts": area,
        "acks": alert_acks(alert=alert),
        "calls": call_outcomes(list(alert.send_request_ids or [])),
    }

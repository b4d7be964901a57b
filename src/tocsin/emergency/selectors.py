"""What the emergency desk reads: its queue, one notification (audited), statistics per central."""

from __future__ import annotations

from statistics import median
from typing import Any

from django.db.models import Count, Q

from tocsin.alarms.services import Actor
from tocsin.arc import domain
from tocsin.arc.models import Notification
from tocsin.audit.services import audit_record
from tocsin.emergency.services import require_desk
from tocsin.organisations.domain import gettext_noop
from tocsin.organisations.models import Organisation
from tocsin.organisations.services import NotFound


def queue(*, actor: Actor, include_closed: bool = False) -> list[Notification]:
    """Complete notifications first (oldest first), then those for delayed handling (KB-16)."""
    member = require_desk(actor)
    rows = Notification.objects.filter(
        emergency_centre_id=member.organisation_id, channel=domain.Channel.DIRECT.value
    ).select_related("central", "system")
    if not include_closed:
        rows = rows.exclude(state=Notification.CLOSED)
    return list(rows.order_by("delayed", "created_at")[:500])


def queue_version(*, actor: Actor) -> tuple[int, str]:
    """Changes when the queue does (the live page compares it)."""
    member = require_desk(actor)
    rows = Notification.objects.filter(emergency_centre_id=member.organisation_id, channel=domain.Channel.DIRECT.value)
    latest = rows.order_by("-pk").values_list("pk", flat=True).first() or 0
    states = rows.exclude(state=Notification.CLOSED).values_list("pk", "state")
    return latest, ",".join(f"{pk}:{state}" for pk, state in states)


def notification(*, actor: Actor, notification_id: int, ip: str = "") -> Notification:
    member = require_desk(actor)
    row = (
        Notification.objects.filter(
            pk=notification_id, emergency_centre_id=member.organisation_id, channel=domain.Channel.DIRECT.value
        )
        .select_related("central", "system", "case")
        .first()
    )
    if row is None:
        raise NotFound(gettext_noop("No such notification."))
    audit_record(action="emergency.notification_read", actor=member, organisation_id=member.organisation_id,
                 object_type="notification", object_id=str(row.pk),
                 data={"ip": ip, "system": row.system.reference})  # fmt: skip
    return row


def statistics(*, actor: Actor) -> list[dict[str, Any]]:
    """Per central: notifications, share for delayed handling, false-alarm ratio, signal → notification."""
    member = require_desk(actor)
    rows = Notification.objects.filter(emergency_centre_id=member.organisation_id)
    per = rows.values("central_id").annotate(
        total=Count("pk"),
        delayed=Count("pk", filter=Q(delayed=True)),
        with_outcome=Count("pk", filter=~Q(outcome="")),
        false_alarms=Count("pk", filter=Q(outcome=domain.DeskOutcome.FALSE_ALARM.value)),
    )
    names = dict(Organisation.objects.filter(pk__in=[p["central_id"] for p in per]).values_list("pk", "name"))
    out = []
    for p in per:
        delays = [
            (created - first).total_seconds()
            for created, first in rows.filter(central_id=p["central_id"]).values_list("created_at", "first_signal_at")
        ]
        out.append({
            "central": names.get(p["central_id"], ""),
            "notifications": p["total"],
            "delayed_share": p["delayed"] / p["total"] if p["total"] else 0.0,
            "false_alarm_ratio": p["false_alarms"] / p["with_outcome"] if p["with_outcome"] else None,
            "median_signal_to_notification_s": median(delays) if delays else None,
        })  # fmt: skip
    return sorted(out, key=lambda r: r["central"])

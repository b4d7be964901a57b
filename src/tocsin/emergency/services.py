"""The emergency centre's desk (issue 9): structured alarm notifications from the centrals' direct
emergency numbers, acknowledged, dispatched and closed with an outcome that returns to the central.

Only members of the emergency centre the notification was sent to see or touch it (tenant isolation);
every read of a notification's personal data and every write is audited.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from tocsin.alarms.domain import FieldErrors
from tocsin.alarms.services import Actor, _check_member
from tocsin.arc import domain
from tocsin.arc.domain import DeskOutcome
from tocsin.arc.models import AlarmCase, CaseLog, Notification
from tocsin.audit.services import audit_record
from tocsin.organisations.domain import Kind, Role, RuleError, gettext_noop
from tocsin.organisations.models import User
from tocsin.organisations.services import AccessDenied, NotFound


def require_desk(actor: Actor) -> User:
    """An emergency centre's operators and administrators (two factors: they read personal data)."""
    member = actor.member
    if member is not None and member.organisation.kind != Kind.EMERGENCY_CENTRE.value:
        raise AccessDenied(gettext_noop("The desk is for the emergency centres' dispatchers."))
    return _check_member(actor, {Kind.EMERGENCY_CENTRE}, (Role.ADMIN, Role.EC_OPERATOR))


def _notification(member: User, notification_id: int) -> Notification:
    row = (
        Notification.objects.select_for_update()
        .filter(pk=notification_id, emergency_centre_id=member.organisation_id, channel=domain.Channel.DIRECT.value)
        .first()
    )
    if row is None:
        raise NotFound(gettext_noop("No such notification."))
    return row


def _back_to_central(row: Notification, member: User, what: str, **data: object) -> None:
    """The desk's steps show in the central's case history."""
    CaseLog.objects.create(case_id=row.case_id, by=None, what=f"desk_{what}",
                           data={"notification": row.pk, "desk": member.organisation.name, **data})  # fmt: skip
    AlarmCase.objects.filter(pk=row.case_id).update(updated_at=timezone.now())  # the central's pages see it
    audit_record(action=f"emergency.notification_{what}", actor=member, organisation_id=member.organisation_id,
                 object_type="notification", object_id=str(row.pk), data=data)  # fmt: skip


def acknowledge(*, actor: Actor, notification_id: int) -> Notification:
    member = require_desk(actor)
    with transaction.atomic():
        row = _notification(member, notification_id)
        if row.state != Notification.SENT:
            raise RuleError(gettext_noop("This notification is already acknowledged."), field="state")
        row.state, row.acknowledged_at, row.acknowledged_by = Notification.ACKNOWLEDGED, timezone.now(), member
        row.save(update_fields=["state", "acknowledged_at", "acknowledged_by"])
        _back_to_central(row, member, "acknowledged")
    return row


def dispatch(*, actor: Actor, notification_id: int, note: str = "") -> Notification:
    member = require_desk(actor)
    if len(note) > domain.MAX_REASON:
        raise FieldErrors([RuleError(gettext_noop("At most 500 characters."), field="note")])
    with transaction.atomic():
        row = _notification(member, notification_id)
        if row.state not in (Notification.SENT, Notification.ACKNOWLEDGED):
            raise RuleError(gettext_noop("A patrol was already dispatched or the notification is closed."),
                            field="state")  # fmt: skip
        now = timezone.now()
        if row.acknowledged_at is None:
            row.acknowledged_at, row.acknowledged_by = now, member
        row.state, row.dispatched_at, row.dispatch_note = Notification.DISPATCHED, now, note.strip()
        row.save(update_fields=["state", "acknowledged_at", "acknowledged_by", "dispatched_at", "dispatch_note"])
        _back_to_central(row, member, "dispatched", note=note.strip())
    return row


def record_outcome(
    *,
    actor: Actor,
    notification_id: int,
    outcome: str,
    entered: bool = False,
    entry_consent_by: str = "",
    note: str = "",
) -> Notification:
    """The outcome, returned to the central: intrusion confirmed, false alarm, nobody on site, siren or light
    neutralised (KB-19), person assisted, no dispatch."""
    member = require_desk(actor)
    errors: list[RuleError] = []
    try:
        chosen = DeskOutcome(outcome)
    except ValueError:
        errors.append(RuleError(gettext_noop("Choose the outcome."), field="outcome"))
        chosen = None
    if len(note) > domain.MAX_NOTE:
        errors.append(RuleError(gettext_noop("At most 2,000 characters."), field="note"))
    with transaction.atomic():
        row = _notification(member, notification_id)
        if row.state == Notification.CLOSED:
            raise RuleError(gettext_noop("This notification is closed."), field="state")
        if chosen is not None:
            errors += domain.check_outcome(
                outcome=chosen,
                property_nature=str(row.extra.get("property_nature", "")),
                entered=entered,
                entry_consent_by=entry_consent_by,
            )
        if errors:
            raise FieldErrors(errors)
        assert chosen is not None
        now = timezone.now()
        if row.acknowledged_at is None:
            row.acknowledged_at, row.acknowledged_by = now, member
        row.state, row.outcome, row.outcome_at = Notification.CLOSED, chosen.value, now
        row.entered, row.entry_consent_by, row.outcome_note = entered, entry_consent_by.strip()[:200], note.strip()
        row.save()
        _back_to_central(row, member, "outcome", outcome=chosen.value, entered=entered)
    return row

"""Reads of the operator console (issue 9): the central's queue of alarm cases, a cheap version of it for the
live stream, and one case with everything its operator needs.

Each read is scoped to the member's central (invariant 4): another central's case is "not found", exactly as
one that does not exist. Opening a case shows its registry record (the user, the site, the contact persons):
personal data, so each opening is written to the audit log (invariant 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Sum
from django.utils import timezone

from tocsin.alarms.models import AlarmSystem, RemoteConsent, Sketch
from tocsin.alarms.services import Actor, require_central
from tocsin.arc import handling
from tocsin.arc.models import (
    AlarmCase,
    CaseCall,
    CaseEvent,
    CaseLog,
    CaseStep,
    CaseVerification,
    Notification,
    Signal,
    VerificationMethod,
)
from tocsin.audit.services import audit_record
from tocsin.organisations.domain import gettext_noop
from tocsin.organisations.models import User
from tocsin.organisations.services import NotFound

QUEUE_SHOWN = 200  # rows of the queue on the page (the count says how many more are open)
SIGNALS_SHOWN = 10


@dataclass(frozen=True)
class QueueRow:
    """One open or claimed case as the queue shows it."""

    id: int
    category: str
    priority: int
    title: str
    state: str
    account: str
    reference: str  # the linked alarm system's registry reference ("" when the account is not linked)
    site_name: str
    events: int
    restored: bool
    claimed_by: str  # the operator's name ("" when nobody claimed it)
    claimed_by_id: int | None
    opened_at: datetime
    first_signal_at: datetime
    updated_at: datetime
    notified_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        """The row for the live stream's JSON (and the benchmark reading it)."""
        return {
            "id": self.id,
            "category": self.category,
            "priority": self.priority,
            "title": self.title,
            "state": self.state,
            "account": self.account,
            "reference": self.reference,
            "site_name": self.site_name,
            "events": self.events,
            "restored": self.restored,
            "claimed_by": self.claimed_by,
            "opened_at": self.opened_at.isoformat(),
            "first_signal_at": self.first_signal_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "notified": self.notified_at is not None,
        }


def _open_cases(member: User) -> Any:
    return AlarmCase.objects.filter(central_id=member.organisation_id).exclude(state=AlarmCase.CLOSED)


def queue(*, actor: Actor, limit: int = QUEUE_SHOWN) -> list[QueueRow]:
    """The central's open and claimed cases: fire first (priority), then the oldest first."""
    member = require_central(actor)
    rows = (
        _open_cases(member)
        .order_by("priority", "opened_at", "pk")
        .values(
            "pk",
            "category",
            "priority",
            "title",
            "state",
            "account__account",
            "system__reference",
            "system__site_name",
            "events",
            "restored",
            "claimed_by_id",
            "claimed_by__full_name",
            "opened_at",
            "first_signal_at",
            "updated_at",
            "notified_at",
        )[:limit]
    )
    return [
        QueueRow(
            id=r["pk"],
            category=r["category"],
            priority=r["priority"],
            title=r["title"],
            state=r["state"],
            account=r["account__account"],
            reference=r["system__reference"] or "",
            site_name=r["system__site_name"] or "",
            events=r["events"],
            restored=r["restored"],
            claimed_by=r["claimed_by__full_name"] or "",
            claimed_by_id=r["claimed_by_id"],
            opened_at=r["opened_at"],
            first_signal_at=r["first_signal_at"],
            updated_at=r["updated_at"],
            notified_at=r["notified_at"],
        )
        for r in rows
    ]


def queue_version(*, actor: Actor) -> str:
    """A value that changes whenever the queue does, read in one aggregate over the open cases (the partial index
    ``arc_queue``): their number (a new or a closed case), their events (a signal joins or restores a case), the
    latest change and the sum of who claimed them (claim, release, take-over).

    The live stream polls it several times a second; the queue itself is read only when it changed. The events and
    the claims are in it because two changes committed out of the order of their timestamps leave the latest
    ``updated_at`` unchanged.
    """
    member = require_central(actor)
    found = _open_cases(member).aggregate(
        n=Count("pk"), events=Sum("events"), latest=Max("updated_at"), claims=Sum("claimed_by_id")
    )
    latest = found["latest"].isoformat() if found["latest"] else "-"
    return f"{found['n']}:{found['events'] or 0}:{found['claims'] or 0}:{latest}"


def signals_through(*, actor: Actor) -> int:
    """The last signal read into the queue: every signal of the central up to this id has been read into its cases
    by the case builder (the first still pending, less one; with none pending, the latest). A benchmark measures
    from a signal's commit to the first live-queue message covering it.
    """
    member = require_central(actor)
    signals = Signal.objects.filter(central_id=member.organisation_id)
    pending = signals.filter(pending=True).order_by("id").values_list("id", flat=True).first()
    if pending is not None:
        return int(pending) - 1
    return int(signals.aggregate(last=Max("id"))["last"] or 0)


def queue_open_count(*, actor: Actor) -> int:
    return _open_cases(require_central(actor)).count()


@dataclass
class CaseView:
    """One case with everything its operator reads: the alarm, the plan, what was done, the registry record."""

    case: AlarmCase
    events: list[CaseEvent]
    steps: list[CaseStep]
    calls: list[CaseCall]
    verifications: list[CaseVerification]
    log: list[CaseLog]
    notifications: list[Notification]
    system: AlarmSystem | None  # None: the account is not linked, or the system is no longer the central's
    linked_elsewhere: bool  # the account's system is in the registry but no longer managed by this central
    has_sketch: bool  # KB-21
    consents: list[RemoteConsent]  # KB-6: the user's consents to this central, in force today
    signals: list[Signal]
    methods: list[VerificationMethod]  # KB-13 / KB-23: the approved methods for this kind of alarm

    @property
    def personal(self) -> bool:
        return self.system is not None and self.system.system_type != "goods"


def _case(member: User, case_id: int) -> AlarmCase:
    case = (
        AlarmCase.objects.filter(pk=case_id, central_id=member.organisation_id)
        .select_related("account", "claimed_by", "closed_by")
        .first()
    )
    if case is None:
        raise NotFound(gettext_noop("No such alarm case."))
    return case


def case_version(*, actor: Actor, case_id: int) -> str:
    """What changes whenever the case does: a new event, a colleague's action, the desk's answer (each touches
    the case's ``updated_at``), its state and who holds it. The open case page compares it every few seconds."""
    member = require_central(actor)
    row = (
        AlarmCase.objects.filter(pk=case_id, central_id=member.organisation_id)
        .values_list("updated_at", "state", "claimed_by_id", "events")
        .first()
    )
    if row is None:
        raise NotFound(gettext_noop("No such alarm case."))
    updated_at, state, claimed_by, events = row
    return f"{updated_at.isoformat()}:{state}:{claimed_by or 0}:{events}"


def verification_methods(*, personal: bool) -> list[VerificationMethod]:
    """The methods the minister approved for goods (KB-13) or personal alarms (KB-23), by code."""
    rows = VerificationMethod.objects.filter(active=True)
    rows = rows.filter(personal=True) if personal else rows.filter(goods=True)
    return list(rows.order_by("code"))


def case_detail(*, actor: Actor, case_id: int, ip: str | None = None) -> CaseView:
    """One case of the member's central, audited: it shows the system's registry record (personal data)."""
    member = require_central(actor)
    case = _case(member, case_id)
    system = (
        AlarmSystem.objects.filter(pk=case.system_id, central_id=member.organisation_id).first()
        if case.system_id
        else None
    )
    consents = (
        list(
            RemoteConsent.objects.filter(
                system=system, party_id=member.organisation_id, withdrawn_at=None, given_on__lte=timezone.localdate()
            )
            .defer("document")
            .order_by("-given_on", "-pk")
        )
        if system is not None
        else []
    )
    view = CaseView(
        case=case,
        events=list(CaseEvent.objects.filter(case=case).order_by("at", "pk")),
        steps=list(CaseStep.objects.filter(case=case).select_related("done_by").order_by("position")),
        calls=list(CaseCall.objects.filter(case=case).select_related("by").order_by("at", "pk")),
        verifications=list(
            CaseVerification.objects.filter(case=case).select_related("method", "by").order_by("at", "pk")
        ),
        log=list(CaseLog.objects.filter(case=case).select_related("by").order_by("at", "pk")),
        notifications=list(
            Notification.objects.filter(case=case)
            .select_related("emergency_centre", "created_by", "acknowledged_by")
            .order_by("created_at", "pk")
        ),
        system=system,
        linked_elsewhere=system is None and case.system_id is not None,
        has_sketch=system is not None and Sketch.objects.filter(system=system).exists(),
        consents=consents,
        signals=list(
            Signal.objects.filter(account_id=case.account_id, central_id=member.organisation_id).order_by(
                "-received_at", "-pk"
            )[:SIGNALS_SHOWN]
        ),
        methods=[],
    )
    view.methods = verification_methods(personal=view.personal)
    audit_record(
        action="arc.case_viewed",
        actor=member,
        organisation_id=member.organisation_id,
        object_type="alarm_case",
        object_id=str(case.pk),
        data={"system": system.reference if system else ""},
        ip=ip,
    )
    return view


def notification_preview(
    *, actor: Actor, case_id: int, channel: str, incident: str = "", ip: str | None = None
) -> dict[str, Any]:
    """What a notification of the case would state, and what the law refuses (``handling.notification_preview``).

    It shows the record's numbers and site: read as an opening of the case (audited).
    """
    member = require_central(actor)
    preview = handling.notification_preview(actor=actor, case_id=case_id, channel=channel, incident=incident)
    audit_record(
        action="arc.case_preview_viewed",
        actor=member,
        organisation_id=member.organisation_id,
        object_type="alarm_case",
        object_id=str(case_id),
        data={"channel": str(preview["channel"])},
        ip=ip,
    )
    return preview

"""What an alarm central's operator does with a case (issue 9): claim it, follow its action plan, call,
verify, act remotely with consent, notify the emergency number as the law allows, close it.

Every write is scoped to the operator's own central (another central's case is "not found"), checked
against the rules in ``tocsin.arc.domain`` (refusals name their rule and field, nothing is written), and
logged in the case's history and the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from tocsin.alarms.domain import FieldErrors
from tocsin.alarms.models import AlarmSystem, Sketch
from tocsin.alarms.services import Actor, remote_action, require_central
from tocsin.arc import domain
from tocsin.arc.domain import Channel, Finding, Outcome, Step
from tocsin.arc.models import (
    AlarmCase,
    CaseCall,
    CaseLog,
    CaseStep,
    CaseVerification,
    DirectNumber,
    Notification,
    Signal,
    VerificationMethod,
    ZoneMap,
)
from tocsin.audit.services import audit_record
from tocsin.organisations.domain import Kind, RuleError, gettext_noop
from tocsin.organisations.models import Organisation, User
from tocsin.organisations.services import NotFound

CALLEES = ("user", "contact", "emergency", "fire_service", "technician")
CALL_OUTCOMES = ("reached", "no_answer", "busy", "voicemail", "wrong_number")


def _case(member: User, case_id: int, *, lock: bool = True) -> AlarmCase:
    rows = AlarmCase.objects.filter(pk=case_id, central_id=member.organisation_id)
    case = (rows.select_for_update() if lock else rows).first()
    if case is None:
        raise NotFound(gettext_noop("No such alarm case."))
    return case


def _log(case: AlarmCase, member: User, what: str, **data: Any) -> None:
    now = timezone.now()
    CaseLog.objects.create(case=case, at=now, by=member, what=what, data=data)
    AlarmCase.objects.filter(pk=case.pk).update(updated_at=now)
    audit_record(action=f"arc.case_{what}", actor=member, organisation_id=member.organisation_id,
                 object_type="alarm_case", object_id=str(case.pk), data=data)  # fmt: skip


def _handling(member: User, case: AlarmCase) -> None:
    """Only the operator who claimed the case works on it (one at a time)."""
    if case.state == AlarmCase.CLOSED:
        raise RuleError(gettext_noop("This case is closed."), field="case")
    if case.claimed_by_id != member.pk:
        raise RuleError(gettext_noop("Claim the case first: one operator handles it at a time."), field="case")


def claim(*, actor: Actor, case_id: int, take_over: bool = False) -> AlarmCase:
    member = require_central(actor)
    with transaction.atomic():
        case = _case(member, case_id)
        if case.state == AlarmCase.CLOSED:
            raise RuleError(gettext_noop("This case is closed."), field="case")
        if case.claimed_by_id not in (None, member.pk) and not take_over:
            holder = User.objects.filter(pk=case.claimed_by_id).values_list("full_name", flat=True).first()
            raise RuleError(gettext_noop("%(name)s is handling this case."), field="case", params={"name": holder})
        previous = case.claimed_by_id
        case.claimed_by, case.claimed_at, case.state = member, timezone.now(), AlarmCase.CLAIMED
        case.save(update_fields=["claimed_by", "claimed_at", "state"])
        _log(case, member, "claimed", taken_over_from=previous if previous not in (None, member.pk) else None)
    return case


def release(*, actor: Actor, case_id: int) -> AlarmCase:
    member = require_central(actor)
    with transaction.atomic():
        case = _case(member, case_id)
        _handling(member, case)
        case.claimed_by, case.claimed_at, case.state = None, None, AlarmCase.OPEN
        case.save(update_fields=["claimed_by", "claimed_at", "state"])
        _log(case, member, "released")
    return case


def step_done(*, actor: Actor, case_id: int, step: str, outcome: str = "") -> CaseStep:
    member = require_central(actor)
    with transaction.atomic():
        case = _case(member, case_id)
        _handling(member, case)
        row = CaseStep.objects.filter(case=case, step=step).first()
        if row is None:
            raise RuleError(gettext_noop("This step is not in the case's plan."), field="step")
        if step == Step.VERIFY and not CaseVerification.objects.filter(case=case).exists():
            raise RuleError(gettext_noop("Record the verification (its method and what it found) to complete this "
                                         "step."), field="step", rule="KB-13")  # fmt: skip
        if step == Step.NOTIFY and case.notified_at is None:
            raise RuleError(gettext_noop("Notify through the notification form to complete this step, or skip it "
                                         "with a reason."), field="step")  # fmt: skip
        if len(outcome) > domain.MAX_REASON:
            raise FieldErrors([RuleError(gettext_noop("At most 500 characters."), field="outcome")])
        row.done_at, row.done_by, row.outcome, row.skipped_reason = timezone.now(), member, outcome.strip(), ""
        row.save()
        _log(case, member, "step_done", step=step, outcome=outcome.strip())
    return row


def step_skip(*, actor: Actor, case_id: int, step: str, reason: str) -> CaseStep:
    member = require_central(actor)
    errors = domain.check_skip(reason)
    if errors:
        raise FieldErrors(errors)
    with transaction.atomic():
        case = _case(member, case_id)
        _handling(member, case)
        row = CaseStep.objects.filter(case=case, step=step).first()
        if row is None:
            raise RuleError(gettext_noop("This step is not in the case's plan."), field="step")
        row.skipped_reason, row.done_at = reason.strip(), None
        row.save()
        _log(case, member, "step_skipped", step=step, reason=reason.strip())
    return row


def call_logged(
    *, actor: Actor, case_id: int, callee: str, outcome: str, name: str = "", number: str = "", note: str = ""
) -> CaseCall:
    """Every call to the user, a contact person or a service, with its outcome."""
    member = require_central(actor)
    errors = []
    if callee not in CALLEES:
        errors.append(RuleError(gettext_noop("Choose who was called."), field="callee"))
    if outcome not in CALL_OUTCOMES:
        errors.append(RuleError(gettext_noop("Choose the call's outcome."), field="outcome"))
    if len(note) > domain.MAX_NOTE:
        errors.append(RuleError(gettext_noop("At most 2,000 characters."), field="note"))
    if errors:
        raise FieldErrors(errors)
    with transaction.atomic():
        case = _case(member, case_id)
        _handling(member, case)
        call = CaseCall.objects.create(case=case, by=member, callee=callee, name=name.strip()[:200],
                                       number=number.strip()[:20], outcome=outcome, note=note.strip())  # fmt: skip
        _log(case, member, "call", callee=callee, name=call.name, outcome=outcome)
    return call


def _method(code: str) -> VerificationMethod | None:
    return VerificationMethod.objects.filter(code=(code or "").strip().upper()).first()


def _as_domain(
    row: CaseVerification | None, method: VerificationMethod, outcome: str, finding: str
) -> domain.Verification:
    return domain.Verification(
        method=method.code,
        outcome=Outcome(outcome),
        finding=Finding(finding) if finding else None,
        approved_for_goods=method.goods,
        approved_for_personal=method.personal,
        active=method.active,
    )


def verify(
    *, actor: Actor, case_id: int, method: str, outcome: str, finding: str = "", note: str = ""
) -> CaseVerification:
    """KB-13 / KB-23: how the alarm was verified, by an approved method, and what it established."""
    member = require_central(actor)
    errors: list[RuleError] = []
    row = _method(method)
    if row is None:
        errors.append(RuleError(gettext_noop("Choose an approved verification method."), field="method"))
    if outcome not in {o.value for o in Outcome}:
        errors.append(RuleError(gettext_noop("Choose what the verification found."), field="outcome"))
    if finding and finding not in {f.value for f in Finding}:
        errors.append(RuleError(gettext_noop("Choose what the verification established."), field="finding"))
    if errors:
        raise FieldErrors(errors)
    assert row is not None
    with transaction.atomic():
        case = _case(member, case_id)
        _handling(member, case)
        personal = AlarmSystem.objects.filter(pk=case.system_id or 0).exclude(system_type="goods").exists()
        check = domain.check_verification(
            personal=personal,
            method=_as_domain(None, row, outcome, finding if outcome == Outcome.CONFIRMED else ""),
            note=note,
        )
        if check:
            raise FieldErrors(check)
        record = CaseVerification.objects.create(
            case=case, by=member, method=row, outcome=outcome,
            finding=finding if outcome == Outcome.CONFIRMED else "", note=note.strip(),
        )  # fmt: skip
        CaseStep.objects.filter(case=case, step=Step.VERIFY).update(
            done_at=timezone.now(), done_by=member, outcome=f"{row.code}: {outcome}", skipped_reason=""
        )
        _log(case, member, "verified", method=row.code, outcome=outcome, finding=record.finding)
    return record


def direct_number(central: Organisation | int) -> DirectNumber | None:
    central_id = central if isinstance(central, int) else central.pk
    return DirectNumber.objects.filter(central_id=central_id).select_related("emergency_centre").first()


def emergency_centre_for(system: AlarmSystem) -> Organisation | None:
    """The emergency centre of the site's province (its NIS code), else a national one."""
    from tocsin.geo.models import Municipality

    province = Municipality.objects.filter(nis_code=system.site_nis).values_list("province_id", flat=True).first() or ""
    centres = Organisation.objects.filter(kind=Kind.EMERGENCY_CENTRE.value)
    found = centres.filter(nis_code=province).first() if province else None
    return found or centres.filter(nis_code="").first()


def _extended(signal_ids: list[int]) -> dict[str, Any]:
    """What the panel sent that helps the police: a position (mobile personal alarms), an images link (KB-24)."""
    out: dict[str, Any] = {}
    rows = Signal.objects.filter(pk__in=signal_ids).exclude(extended=[]).order_by("-received_at")
    for extended in rows.values_list("extended", flat=True):
        for letter, value in extended or []:
            key = {"X": "longitude", "Y": "latitude", "V": "images"}.get(letter)
            if key and key not in out:
                out[key] = value
    return out


def notification_preview(*, actor: Actor, case_id: int, channel: str, incident: str = "") -> dict[str, Any]:
    """What a notification would state and whether the law allows it, without sending it."""
    member = require_central(actor)
    case = _case(member, case_id, lock=False)
    return _notification_parts(case, channel, incident)


def _notification_parts(case: AlarmCase, channel: str, incident: str) -> dict[str, Any]:
    if case.system_id is None:
        raise RuleError(gettext_noop("This account is not linked to a registered alarm system."), field="system",
                        rule="KB-7-ARC")  # fmt: skip
    system = AlarmSystem.objects.get(pk=case.system_id)
    if system.central_id != case.central_id or system.status != "active":
        raise RuleError(gettext_noop("Your central no longer manages this system: it cannot notify for it."),
                        field="system", rule="KB-7-ARC")  # fmt: skip
    try:
        chosen = Channel(channel)
    except ValueError:
        raise FieldErrors([RuleError(gettext_noop("Choose how to notify."), field="channel")]) from None
    number = direct_number(case.central_id)
    verifications = [
        _as_domain(v, v.method, v.outcome, v.finding)
        for v in CaseVerification.objects.filter(case=case).select_related("method").order_by("at")
    ]
    request = domain.NotificationRequest(
        system_type=system.system_type, channel=chosen, verifications=verifications,
        direct_number=number.number if number else None, direct_signal_exception=system.direct_signal_exception,
    )  # fmt: skip
    supporting, errors = domain.check_notification(request)
    events = list(case.case_events.filter(restore=False).order_by("at", "pk"))
    # KB-14: a zone mapped since the case opened counts (the map is read again now).
    mapped = dict(ZoneMap.objects.filter(account_id=case.account_id).values_list("zone", "detection_code"))
    for e in events:
        e.detection_code = e.detection_code or mapped.get(e.zone, "")
    codes = sorted({e.detection_code for e in events if e.detection_code})
    unmapped = sorted({e.zone for e in events if e.zone and not e.detection_code})
    extra = {
        "site": _site_with_town(system), "site_name": system.site_name, "site_phone": system.site_phone,
        "lon": system.site_lon, "lat": system.site_lat, "system_type": system.system_type,
        "property_nature": system.property_nature, "reference": system.reference,
        "contacts": [{"name": c.get("name", ""), "phone": c.get("phone", "")} for c in system.contacts or []],
        "zones": [{"zone": e.zone, "code": e.code, "label": e.zone_label, "detection_code": e.detection_code}
                  for e in events],
        # KB-21: whether the desk may open the situation sketch (its content is not read here)
        "sketch": system.system_type == "personal_fixed" and Sketch.objects.filter(system=system).exists(),
        **_extended([e.signal_id for e in events if e.signal_id]),
    }  # fmt: skip
    data = domain.dataset(
        system_type=system.system_type,
        alarm_report_number=system.alarm_report_number,
        user_number=system.user_number,
        verification=supporting,
        detection_codes=codes,
        incident=incident,
        extra={**extra, "zones_without_detection_code": unmapped},
    )
    missing = domain.missing_items(data)
    if unmapped and system.system_type != "personal_mobile" and "detection_code" not in missing:
        missing.append("detection_code")  # KB-16: a zone in alarm whose detection code the notification lacks
    return {
        "system": system,
        "channel": chosen,
        "direct_number": number,
        "errors": errors,
        "dataset": data,
        "missing": missing,
    }


def _site_with_town(system: AlarmSystem) -> str:
    """The site's address with its municipality's name (the register's label ends at the postcode)."""
    from tocsin.geo.models import Municipality

    town = Municipality.objects.filter(nis_code=system.site_nis).values_list("name_nl", "name_fr", "name_de",
                                                                             "languages").first()  # fmt: skip
    if town is None:
        return system.site_text
    name_nl, name_fr, name_de, languages = town
    first = (languages or "nl").split(",")[0].strip()
    name = {"nl": name_nl, "fr": name_fr, "de": name_de}.get(first) or name_nl or name_fr
    return f"{system.site_text} {name}".strip() if name and name not in system.site_text else system.site_text


def notify(
    *,
    actor: Actor,
    case_id: int,
    channel: str,
    incident: str = "",
    call_at: datetime | None = None,
    call_with: str = "",
    call_outcome: str = "",
) -> Notification:
    """Notify the emergency number, only as the law allows (refused with the article named otherwise).

    By phone (KB-12), the notification is the script the operator reads in a real-time conversation; the
    call's time and the emergency operator's name are recorded with it. Through the direct emergency
    number (KB-10) it arrives structured on the emergency centre's desk.
    """
    member = require_central(actor)
    with transaction.atomic():
        case = _case(member, case_id)
        _handling(member, case)
        parts = _notification_parts(case, channel, incident)
        errors: list[RuleError] = list(parts["errors"])
        chosen: Channel = parts["channel"]
        if chosen is Channel.PHONE:
            if not call_with.strip():
                errors.append(RuleError(gettext_noop("Name the emergency operator you spoke with (a real-time "
                                                     "conversation)."), field="call_with", rule="KB-12"))  # fmt: skip
            if call_at is not None and call_at > timezone.now():
                errors.append(RuleError(gettext_noop("The call cannot be in the future."), field="call_at"))
        if errors:
            raise FieldErrors(errors)
        system: AlarmSystem = parts["system"]
        data: domain.DataSet = parts["dataset"]
        number: DirectNumber | None = parts["direct_number"]
        centre = number.emergency_centre if chosen is Channel.DIRECT and number else emergency_centre_for(system)
        now = timezone.now()
        notification = Notification.objects.create(
            case=case, central_id=case.central_id, emergency_centre=centre, system=system, kind=data.kind,
            channel=chosen.value, items=dict(data.items), extra=dict(data.extra), missing=parts["missing"],
            delayed=bool(parts["missing"]), created_at=now, created_by=member, first_signal_at=case.first_signal_at,
            call_at=(call_at or now) if chosen is Channel.PHONE else None, call_with=call_with.strip()[:200],
            call_outcome=call_outcome.strip()[:500],
            state=Notification.SENT if chosen is Channel.DIRECT else Notification.CLOSED,
        )  # fmt: skip
        case.notified_at = now
        case.save(update_fields=["notified_at"])
        CaseStep.objects.filter(case=case, step=Step.NOTIFY).update(
            done_at=now, done_by=member, outcome=chosen.value, skipped_reason=""
        )
        _log(case, member, "notified", notification=notification.pk, channel=chosen.value,
             missing=parts["missing"])  # fmt: skip
    return notification


def remote(*, actor: Actor, case_id: int, action: str, purpose: str, note: str = "") -> Any:
    """KB-6: arm, disarm or read the system remotely, only with the user's consent covering it."""
    member = require_central(actor)
    case = _case(member, case_id, lock=False)
    _handling(member, case)
    if case.system_id is None:
        raise RuleError(gettext_noop("This account is not linked to a registered alarm system."), field="system")
    reference = AlarmSystem.objects.filter(pk=case.system_id).values_list("reference", flat=True).get()
    record = remote_action(actor=actor, reference=reference, action=action, purpose=purpose, note=note)
    with transaction.atomic():
        _log(case, member, "remote", action=action, purpose=purpose, allowed=record.allowed)
    return record


def close(*, actor: Actor, case_id: int, reason: str) -> AlarmCase:
    member = require_central(actor)
    with transaction.atomic():
        case = _case(member, case_id)
        _handling(member, case)
        steps = [domain.StepState(s.step, s.done_at is not None, s.skipped_reason) for s in case.steps.all()]
        errors = domain.check_close(steps, reason)
        if len(reason) > domain.MAX_REASON:
            errors.append(RuleError(gettext_noop("At most 500 characters."), field="reason"))
        if errors:
            raise FieldErrors(errors)
        case.state, case.closed_at, case.closed_by, case.close_reason = (
            AlarmCase.CLOSED, timezone.now(), member, reason.strip(),
        )  # fmt: skip
        case.save(update_fields=["state", "closed_at", "closed_by", "close_reason"])
        _log(case, member, "closed", reason=reason.strip())
    return case

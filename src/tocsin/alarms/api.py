"""The registry of alarm systems through the API: for alarm centrals (KB-7-ARC: idempotent upsert by
(central, user number), bulk CSV with a per-row report, deregistration, hand-over, sketches, consents,
remote actions, maintenance), for the emergency centre and the police (audited lookup), and for the
registry administration (late list, statistics, number formats, alarm-report numbers).

The same services and selectors as the portal. Bad input: 422 with one item per field, each naming
its rule where one applies; another central's system: 404.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from tocsin.alarms import domain, selectors, services
from tocsin.alarms.models import AlarmSystem
from tocsin.alarms.services import as_member
from tocsin.organisations.domain import RuleError, gettext_noop
from tocsin.organisations.models import User

router = Router(tags=["alarms"])

Flag = bool | str | None
Seconds = int | str | None


class ContactIn(Schema):
    name: str = ""
    phone: str = ""
    has_access: Flag = True
    knows_system: Flag = True


class SystemIn(Schema):
    """A system's data (KB-7-USER, KB-7-ARC). The site is a register address id, or street, house
    number, box and postcode. Dates are YYYY-MM-DD."""

    user_number: str = Field(default="", max_length=40)
    alarm_report_number: str = Field(default="", max_length=40)
    site_name: str = Field(default="", max_length=300)
    site_address_id: int | None = None
    site_street: str = Field(default="", max_length=200)
    site_house_number: str = Field(default="", max_length=20)
    site_box: str = Field(default="", max_length=40)
    site_postcode: str = Field(default="", max_length=10)
    site_phone: str = Field(default="", max_length=40)
    user_name: str = Field(default="", max_length=300)
    user_address: str = Field(default="", max_length=300)
    user_mobile: str = Field(default="", max_length=40)
    user_email: str = Field(default="", max_length=300)
    property_nature: str = Field(default="", max_length=40)
    risk_nature: str = Field(default="", max_length=40)
    system_type: str = Field(default="", max_length=40)
    in_building: Flag = True
    publicly_accessible: Flag = False
    siren: Flag = False
    siren_alarm_s: Seconds = 0
    siren_sabotage_s: Seconds = 0
    light: Flag = False
    light_until_switch_off: Flag = False
    notification_system: Flag = False
    first_use: str = Field(default="", max_length=20)
    renewed_on: str = Field(default="", max_length=20)
    installer: str = Field(default="", max_length=300)
    access_code_handed: Flag = False
    visual_verification: Flag = False
    components_safe: Flag = False
    client_informed_on: str = Field(default="", max_length=20)
    contacts: list[ContactIn] = Field(default_factory=list, max_length=10)
    changed_on: str = Field(default="", max_length=20, description="date of the change (KB-7), default today")


class ContactOut(Schema):
    name: str
    phone: str
    has_access: bool
    knows_system: bool


class SystemOut(Schema):
    reference: str
    status: str
    user_number: str
    alarm_report_number: str
    site_name: str
    site_address_id: int
    site_text: str
    site_postcode: str
    site_nis: str
    site_phone: str
    user_name: str
    user_address: str
    user_mobile: str
    user_email: str
    property_nature: str
    risk_nature: str
    system_type: str
    in_building: bool
    publicly_accessible: bool
    siren: bool
    siren_alarm_s: int
    siren_sabotage_s: int
    light: bool
    light_until_switch_off: bool
    notification_system: bool
    first_use: date
    renewed_on: date | None
    installer: str
    access_code_handed: bool
    visual_verification: bool
    components_safe: bool
    client_informed_on: date | None
    contacts: list[ContactOut]
    version: int
    registered_at: datetime
    registration_late_days: int
    out_of_use: date | None
    last_maintenance: date | None
    maintenance_due: date
    handover_due: date | None


class UpsertOut(Schema):
    result: str  # created, updated, unchanged
    system: SystemOut


class VersionOut(Schema):
    number: int
    kind: str
    at: datetime
    by: str
    event_on: date
    due_on: date | None
    late_days: int
    changes: dict[str, Any]


class RowOut(Schema):
    line: int
    status: str
    user_number: str
    reference: str
    errors: list[dict[str, Any]]


class ImportOut(Schema):
    counts: dict[str, int]
    rows: list[RowOut]


class DateIn(Schema):
    date: str = Field(default="", max_length=20)


class MaintenanceIn(Schema):
    done_on: str = Field(max_length=20)
    notes: str = Field(default="", max_length=500)
    site_postcode: str = Field(default="", max_length=10, description="security companies: the site's postcode")
    company_name: str = Field(default="", max_length=200)


class InformationIn(Schema):
    informed_on: str = Field(max_length=20)
    site_postcode: str = Field(default="", max_length=10)


class DocumentIn(Schema):
    content_type: str = Field(max_length=40, description="application/pdf, image/png or image/jpeg")
    name: str = Field(default="", max_length=200)
    content_base64: str = Field(max_length=15_000_000)


class SketchIn(DocumentIn):
    related_user_numbers: list[str] = Field(default_factory=list, max_length=20)


class ConsentIn(DocumentIn):
    party_id: int
    actions: list[str] = Field(max_length=4)
    purposes: list[str] = Field(max_length=3)
    given_on: str = Field(max_length=20)


class ConsentOut(Schema):
    id: int
    party: str
    actions: list[str]
    purposes: list[str]
    given_on: date
    document_sha256: str
    withdrawn_at: datetime | None


class RemoteActionIn(Schema):
    action: str = Field(max_length=10, description="program, read, arm, disarm")
    purpose: str = Field(max_length=14, description="repair, manage_alarm, verify")
    note: str = Field(default="", max_length=500)
    site_postcode: str = Field(default="", max_length=10, description="security companies: the site's postcode")


class RemoteActionOut(Schema):
    id: int
    action: str
    purpose: str
    allowed: bool
    at: datetime
    consent_id: int | None


class LookupOut(Schema):
    reference: str
    central: str
    system: SystemOut
    has_sketch: bool


class LateOut(Schema):
    reference: str
    what: str
    due_on: date
    late_days: int
    site_text: str
    central_id: int | None


class ConfigIn(Schema):
    user_number_pattern: str = Field(max_length=200)
    arn_pattern: str = Field(max_length=200)


class ArnIn(Schema):
    organisation_id: int
    number: str = Field(max_length=40)


class ArnOut(Schema):
    number: str
    organisation_id: int
    organisation: str
    assigned_at: datetime


def _ip(request: HttpRequest) -> str | None:
    from tocsin.web.views import client_ip

    return client_ip(request)


def _actor(request: HttpRequest) -> services.Actor:
    user: User = request.auth  # type: ignore[attr-defined]
    return as_member(user)


def _out(system: AlarmSystem) -> SystemOut:
    return SystemOut.model_validate(
        {**{f: getattr(system, f) for f in SystemOut.model_fields if f != "contacts"}, "contacts": system.contacts}
    )


def _decode(payload: DocumentIn, name: str) -> bytes:
    try:
        return base64.b64decode(payload.content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise RuleError(gettext_noop("The file is not valid base64."), field=name) from None


def _values(payload: SystemIn) -> dict[str, Any]:
    values = payload.model_dump(exclude={"changed_on"})
    if values.get("site_address_id") is None:
        values.pop("site_address_id", None)
    return values


# --- centrals ---------------------------------------------------------------------------------


@router.get("/alarms/systems", response=list[SystemOut], summary="The systems your central manages")
def systems(request: HttpRequest, q: str = "", status: str = "active", page: int = 1) -> list[SystemOut]:
    items, _total = selectors.system_list(actor=_actor(request), query=q, status=status, page=page)
    return [_out(s) for s in items]


@router.put(
    "/alarms/systems/by-user-number/{user_number}",
    response={200: UpsertOut, 201: UpsertOut},
    summary="Register or change the system with this user number (idempotent, KB-7-ARC)",
)
def system_upsert(request: HttpRequest, user_number: str, payload: SystemIn) -> Status:
    values = _values(payload)
    values["user_number"] = user_number
    system, result = services.system_upsert(actor=_actor(request), values=values, changed_on=payload.changed_on or None)
    return Status(201 if result == "created" else 200, UpsertOut(result=result, system=_out(system)))


@router.get("/alarms/systems/{reference}", response=SystemOut)
def system_detail(request: HttpRequest, reference: str) -> SystemOut:
    return _out(selectors.system_get(actor=_actor(request), reference=reference, ip=_ip(request)).system)


@router.get("/alarms/systems/{reference}/versions", response=list[VersionOut], summary="Who changed what, when")
def system_versions(request: HttpRequest, reference: str) -> list[VersionOut]:
    view = selectors.system_get(actor=_actor(request), reference=reference, ip=_ip(request))
    return [
        VersionOut(number=v.number, kind=v.kind, at=v.at, by=v.by_label, event_on=v.event_on, due_on=v.due_on,
                   late_days=v.late_days, changes=v.changes)
        for v in view.versions
    ]  # fmt: skip


@router.post("/alarms/systems/{reference}/deregister", response=SystemOut, summary="Taken out of use (KB-7)")
def system_deregister(request: HttpRequest, reference: str, payload: DateIn) -> SystemOut:
    return _out(services.system_deregister(actor=_actor(request), reference=reference, out_of_use=payload.date))


@router.post(
    "/alarms/systems/{reference}/release",
    response=SystemOut,
    summary="Stop managing a system still in use: its user registers it within 10 days",
)
def system_release(request: HttpRequest, reference: str, payload: DateIn) -> SystemOut:
    return _out(services.system_release(actor=_actor(request), reference=reference, released_on=payload.date or None))


@router.post(
    "/alarms/import",
    response=ImportOut,
    summary="Bulk CSV (text/csv body): register, change or deregister, with a per-row report",
)
def systems_import(request: HttpRequest) -> ImportOut:
    # Read from the stream, up to the import's own limit (Django's 2.5 MB cap on request.body is for forms).
    data = request.read(domain.MAX_IMPORT_BYTES + 1)
    if len(data) > domain.MAX_IMPORT_BYTES:
        raise RuleError(gettext_noop("The file is larger than 100 MB."), field="file")
    report = services.import_csv(actor=_actor(request), data=data)
    from tocsin.i18n import localise

    return ImportOut(
        counts=report.counts,
        rows=[
            RowOut(line=r.line, status=r.status, user_number=r.user_number, reference=r.reference,
                   errors=[{"field": e.field, "rule": e.rule, "msg": localise(e)} for e in r.errors])
            for r in report.rows
        ],
    )  # fmt: skip


@router.put("/alarms/systems/{reference}/sketch", summary="The situation sketch of a fixed personal alarm (KB-21)")
def sketch_upload(request: HttpRequest, reference: str, payload: SketchIn) -> dict[str, Any]:
    sketch = services.sketch_upload(
        actor=_actor(request), reference=reference, content=_decode(payload, "sketch"),
        content_type=payload.content_type, name=payload.name, related_user_numbers=payload.related_user_numbers,
    )  # fmt: skip
    return {"name": sketch.name, "related_user_numbers": sketch.related_user_numbers}


@router.post("/alarms/systems/{reference}/consents", response={201: ConsentOut}, summary="A written consent (KB-6)")
def consent_add(request: HttpRequest, reference: str, payload: ConsentIn) -> Status:
    row = services.consent_add(
        actor=_actor(request), reference=reference, party_id=payload.party_id, actions=payload.actions,
        purposes=payload.purposes, given_on=payload.given_on, document=_decode(payload, "document"),
        document_type=payload.content_type, document_name=payload.name,
    )  # fmt: skip
    return Status(201, ConsentOut(id=row.pk, party=row.party.name, actions=row.actions, purposes=row.purposes,
                           given_on=row.given_on, document_sha256=row.document_sha256, withdrawn_at=None))  # fmt: skip


@router.post(
    "/alarms/systems/{reference}/remote-actions",
    response={201: RemoteActionOut},
    summary="Record a remote action before taking it: refused without a covering consent (KB-6)",
)
def remote_action(request: HttpRequest, reference: str, payload: RemoteActionIn) -> Status:
    row = services.remote_action(
        actor=_actor(request), reference=reference, action=payload.action, purpose=payload.purpose, note=payload.note,
        site_postcode=payload.site_postcode,
    )  # fmt: skip
    out = RemoteActionOut(
        id=row.pk, action=row.action, purpose=row.purpose, allowed=row.allowed, at=row.at, consent_id=row.consent_id
    )
    return Status(201, out)


@router.post("/alarms/systems/{reference}/maintenance", response={201: dict[str, Any]}, summary="Yearly (KB-8)")
def maintenance(request: HttpRequest, reference: str, payload: MaintenanceIn) -> Status:
    row = services.maintenance_record(
        actor=_actor(request), reference=reference, done_on=payload.done_on, notes=payload.notes,
        site_postcode=payload.site_postcode, company_name=payload.company_name,
    )  # fmt: skip
    system = AlarmSystem.objects.only("maintenance_due").get(pk=row.system_id)
    return Status(201, {"done_on": row.done_on.isoformat(), "maintenance_due": system.maintenance_due.isoformat()})


@router.post("/alarms/systems/{reference}/information", summary="The client was informed of the rules (KB-4)")
def information(request: HttpRequest, reference: str, payload: InformationIn) -> dict[str, Any]:
    row = services.information_record(
        actor=_actor(request), reference=reference, informed_on=payload.informed_on, site_postcode=payload.site_postcode
    )
    return {"informed_on": row.informed_on.isoformat()}


# --- the emergency centre and the police ----------------------------------------------------


@router.get("/alarms/lookup", response=list[LookupOut], summary="Find a system (audited, a reason is required)")
def lookup(
    request: HttpRequest, reason: str, user_number: str = "", alarm_report_number: str = "", address: str = ""
) -> list[LookupOut]:
    from tocsin.organisations.models import Organisation
    from tocsin.web.views import client_ip

    found = selectors.lookup(
        actor=_actor(request), user_number=user_number, alarm_report_number=alarm_report_number, address=address,
        reason=reason, ip=client_ip(request),
    )  # fmt: skip
    names = dict(
        Organisation.objects.filter(pk__in={s.central_id for s in found if s.central_id}).values_list("pk", "name")
    )
    sketches = set(
        AlarmSystem.objects.filter(pk__in=[s.pk for s in found], sketch__isnull=False).values_list("pk", flat=True)
    )
    return [
        LookupOut(reference=s.reference, central=names.get(s.central_id or 0, ""), system=_out(s),
                  has_sketch=s.pk in sketches)
        for s in found
    ]  # fmt: skip


# --- the registry administration --------------------------------------------------------------


@router.get(
    "/alarms/late", response=list[LateOut], summary="Late declarations, hand-overs and maintenance (KB-7, KB-8)"
)
def late(request: HttpRequest) -> list[LateOut]:
    return [
        LateOut(reference=i.system.reference, what=i.what, due_on=i.due_on, late_days=i.late_days,
                site_text=i.system.site_text, central_id=i.system.central_id)
        for i in selectors.late_list(actor=_actor(request))
    ]  # fmt: skip


@router.get("/alarms/statistics", summary="Counts by type, region, province, municipality")
def statistics(request: HttpRequest) -> dict[str, Any]:
    return selectors.statistics(actor=_actor(request))


@router.put("/alarms/config", summary="The number formats (KB-7-ARC)")
def config_set(request: HttpRequest, payload: ConfigIn) -> dict[str, str]:
    row = services.config_set(
        actor=_actor(request), user_number_pattern=payload.user_number_pattern, arn_pattern=payload.arn_pattern
    )
    return {"user_number_pattern": row.user_number_pattern, "arn_pattern": row.arn_pattern}


@router.get("/alarms/arns", response=list[ArnOut], summary="Alarm-report numbers (yours, or all for the registry)")
def arns(request: HttpRequest) -> list[ArnOut]:
    return [
        ArnOut(number=a.number, organisation_id=a.organisation_id, organisation=a.organisation.name,
               assigned_at=a.assigned_at)
        for a in selectors.arn_list(actor=_actor(request))
    ]  # fmt: skip


@router.post("/alarms/arns", response={201: ArnOut}, summary="Assign an alarm-report number to a central")
def arn_assign(request: HttpRequest, payload: ArnIn) -> Status:
    a = services.arn_assign(actor=_actor(request), organisation_id=payload.organisation_id, number=payload.number)
    return Status(201, ArnOut(number=a.number, organisation_id=a.organisation_id, organisation=a.organisation.name,
                       assigned_at=a.assigned_at))  # fmt: skip

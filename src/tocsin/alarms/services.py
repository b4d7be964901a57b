"""Writes for the registry of alarm systems (meldpunt alarmsystemen).

Who writes: the user of a system no central manages (signed in with a
one-time code: ``Actor.user``), the alarm central or internal alarm service
that manages it (KB-7-ARC: ``Actor.member`` of such an organisation), the
registry administration (corrections), security companies (maintenance,
information, remote actions under consent). Every write to a system is a
``SystemVersion`` in the same transaction, with its KB-7 deadline.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone, translation
from django.utils.translation import gettext

from tocsin.alarms import domain
from tocsin.alarms.domain import FieldErrors, Party, Status, SystemType, VersionKind
from tocsin.alarms.models import (
    AlarmReportNumber,
    AlarmSystem,
    InformationRecord,
    Maintenance,
    RegistryConfig,
    Reminder,
    RemoteActionRecord,
    RemoteConsent,
    Sketch,
    SystemVersion,
    UserCode,
)
from tocsin.audit.services import audit_record
from tocsin.delivery.domain import Channel, Priority, RecipientError, normalise_email, normalise_phone
from tocsin.geo import domain as geo_domain
from tocsin.geo.models import Address, PostalCode
from tocsin.organisations.domain import ALARM_CENTRALS, Kind, Role, RuleError, gettext_noop
from tocsin.organisations.models import Organisation, User
from tocsin.organisations.services import AccessDenied, NotFound, access_check

SIGN_IN_SALT = "tocsin.alarms.sign-in"
CODE_TTL_S = 15 * 60
CODE_ATTEMPTS = 5
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
DOCUMENT_TYPES = {"application/pdf": b"%PDF", "image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8\xff"}


@dataclass(frozen=True)
class Actor:
    """Who acts on the registry: a member of an organisation, or a system's user signed in by code."""

    member: User | None = None
    user_contact: str = ""

    @property
    def label(self) -> str:
        if self.member is not None:
            return f"{self.member.organisation.name} ({self.member.email})"
        return f"user {self.user_contact}"

    @property
    def kind(self) -> Kind | None:
        return Kind(self.member.organisation.kind) if self.member is not None else None


def as_user(contact: str) -> Actor:
    return Actor(user_contact=contact)


def as_member(user: User) -> Actor:
    return Actor(member=user)


def _today() -> date:
    return timezone.localdate()


# --- who may do what -----------------------------------------------------------------------


def _check_member(
    actor: Actor, kinds: Iterable[Kind], roles: Iterable[Role] = (Role.ADMIN, Role.OPERATOR, Role.ARC_OPERATOR)
) -> User:
    member = actor.member
    if member is None:
        raise AccessDenied(gettext_noop("Sign in first."))
    access_check(member)
    if Kind(member.organisation.kind) not in set(kinds):
        raise AccessDenied(gettext_noop("Your organisation may not do this in the registry of alarm systems."))
    if not any(member.has_role(r) for r in roles):
        raise AccessDenied(gettext_noop("Your role does not allow this."))
    return member


def is_registry(user: User) -> bool:
    return user.organisation.kind == Kind.REGISTRY_ADMIN.value


def is_central(user: User) -> bool:
    return Kind(user.organisation.kind) in ALARM_CENTRALS


def require_registry(actor: Actor) -> User:
    return _check_member(actor, {Kind.REGISTRY_ADMIN})


def require_central(actor: Actor, *, write: bool = True) -> User:
    """A central's administrators and operators: they write, and read their clients' personal data (with
    two factors). A viewer signs in with one factor, so reads none of it (BA-7.4)."""
    return _check_member(actor, ALARM_CENTRALS, (Role.ADMIN, Role.ARC_OPERATOR))


def _system_for_write(actor: Actor, reference: str) -> AlarmSystem:
    """The system, locked, if the actor may change it: its user (unmanaged systems), its central, the registry.

    Anything else answers NotFound, exactly as a reference that does not exist (tenant isolation).
    """
    rows = AlarmSystem.objects.select_for_update().filter(reference=str(reference or "").upper()[:12])
    if actor.member is None:
        contact = actor.user_contact
        if not contact:
            raise AccessDenied(gettext_noop("Sign in first."))
        rows = rows.filter(central=None).filter(Q(user_email=contact) | Q(user_mobile=contact))
    else:
        member = actor.member
        access_check(member)
        if is_central(member):
            require_central(actor)
            rows = rows.filter(central_id=member.organisation_id)
        elif is_registry(member):
            require_registry(actor)
        else:
            raise NotFound(gettext_noop("No such alarm system."))
    system = rows.first()
    if system is None:
        raise NotFound(gettext_noop("No such alarm system."))
    return system


# --- configuration and numbers (KB-7-ARC) ------------------------------------------------


def config() -> RegistryConfig:
    row = RegistryConfig.objects.filter(pk=1).first()
    if row is None:
        row, _ = RegistryConfig.objects.get_or_create(pk=1)
    return row


def config_set(*, actor: Actor, user_number_pattern: str, arn_pattern: str) -> RegistryConfig:
    """KB-7-ARC: the administration fixes the composition of user numbers and alarm-report numbers."""
    member = require_registry(actor)
    errors = []
    try:
        user_number_pattern = domain.check_pattern(user_number_pattern, "user_number_pattern")
    except RuleError as exc:
        errors.append(exc)
    try:
        arn_pattern = domain.check_pattern(arn_pattern, "arn_pattern")
    except RuleError as exc:
        errors.append(exc)
    if errors:
        raise FieldErrors(errors)
    with transaction.atomic():
        row = config()
        old = {"user_number_pattern": row.user_number_pattern, "arn_pattern": row.arn_pattern}
        row.user_number_pattern = user_number_pattern
        row.arn_pattern = arn_pattern
        row.updated_at = timezone.now()
        row.updated_by = member
        row.save()
        audit_record(
            action="alarms.config_set",
            actor=member,
            object_type="registry_config",
            object_id=1,
            data={"old": old, "new": {"user_number_pattern": user_number_pattern, "arn_pattern": arn_pattern}},
        )
    return row


def arn_assign(*, actor: Actor, organisation_id: int, number: str) -> AlarmReportNumber:
    """KB-7-ARC: the administration assigns an alarm-report number to a central or internal alarm service."""
    member = require_registry(actor)
    org = Organisation.objects.filter(pk=organisation_id).first()
    if org is None or Kind(org.kind) not in ALARM_CENTRALS:
        raise RuleError(
            gettext_noop("Alarm-report numbers go to alarm centrals and internal alarm services only."),
            field="organisation_id",
            rule="KB-7-ARC",
        )
    number = domain.check_number(number, config().arn_pattern, "number", "alarm-report number")
    try:
        with transaction.atomic():
            row = AlarmReportNumber.objects.create(number=number, organisation=org, assigned_by=member)
            audit_record(
                action="alarms.arn_assigned",
                actor=member,
                organisation_id=org.pk,
                object_type="alarm_report_number",
                object_id=number,
            )
    except IntegrityError:
        raise RuleError(
            gettext_noop("This alarm-report number is assigned already."), field="number", rule="KB-7-ARC"
        ) from None
    return row


def _arns(org_id: int) -> set[str]:
    return set(
        AlarmReportNumber.objects.filter(organisation_id=org_id, withdrawn_at=None).values_list("number", flat=True)
    )


# --- the site address -------------------------------------------------------------------


def _known_postcodes() -> set[str]:
    return set(PostalCode.objects.values_list("code", flat=True).distinct())


def _site_fields(address: Address) -> dict[str, Any]:
    return {
        "site_address_id": address.pk,
        "site_text": address.label(),
        "site_postcode": address.postcode,
        "site_nis": address.municipality_id,
        "site_lon": address.lon,
        "site_lat": address.lat,
    }


def _match_street(candidates: list[Address], street: str, box: str) -> Address | None:
    key = geo_domain.search_key(street)
    box = box.strip().upper()
    for address in candidates:
        if (address.box or "").upper() != box:
            continue
        if key and f" {key} " in f" {address.search_key} ":
            return address
    return None


def resolve_site(values: Mapping[str, Any]) -> tuple[Address | None, list[RuleError]]:
    """The installation site in the address register: by its id (portal, API), or by street, house
    number, box and postcode (CSV, API)."""
    raw_id = values.get("site_address_id")
    if raw_id not in (None, ""):
        try:
            address = Address.objects.filter(pk=int(str(raw_id))).first()
        except ValueError:
            address = None
        if address is None:
            return None, [
                RuleError(gettext_noop("This address is not in the address register."), field="site_address_id")
            ]
        return address, []
    postcode = str(values.get("site_postcode") or "").strip()
    street = str(values.get("site_street") or "").strip()
    number = str(values.get("site_house_number") or "").strip().upper()
    box = str(values.get("site_box") or "").strip()
    errors = []
    if not postcode:
        errors.append(RuleError(gettext_noop("This field is required."), field="site_postcode", rule="KB-7-USER"))
    elif not PostalCode.objects.filter(code=postcode).exists():
        errors.append(
            RuleError(
                gettext_noop("Unknown postcode %(postcode)s."),
                field="site_postcode",
                params={"postcode": postcode[:10]},
            )
        )
    if not street:
        errors.append(RuleError(gettext_noop("This field is required."), field="site_street", rule="KB-7-USER"))
    if not number:
        errors.append(RuleError(gettext_noop("This field is required."), field="site_house_number", rule="KB-7-USER"))
    if errors:
        return None, errors
    candidates = list(Address.objects.filter(postcode=postcode, house_number__iexact=number)[:200])
    address = _match_street(candidates, street, box)
    if address is None:
        return None, [RuleError(gettext_noop("This address is not in the address register."), field="site_street")]
    return address, []


# --- registering, changing, deregistering (KB-7) -------------------------------------------


_FROM_BASE32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", REFERENCE_ALPHABET)


CENTRAL_LOCK = 7_001


def _central_lock(org_id: int) -> None:
    """Writes of a central's user numbers one at a time (an import holds it for its whole run), so the
    upsert by (central, user number) stays exact."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CENTRAL_LOCK, org_id])


def _new_reference() -> str:
    """``AS`` and 8 characters from 40 random bits, in an alphabet without 0/O or 1/I."""
    return "AS" + base64.b32encode(secrets.token_bytes(5)).decode().translate(_FROM_BASE32)


def _record(system: AlarmSystem) -> dict[str, Any]:
    """The system's data as SystemData.as_record writes it, to compare with a new record."""
    out: dict[str, Any] = {}
    for name in domain.DATA_FIELDS:
        value = getattr(system, name)
        out[name] = value.isoformat() if isinstance(value, date) else value
    out["contacts"] = list(system.contacts or [])
    return out


def _grandfathered(pattern: str, number: str) -> str:
    """The administration's pattern, or the number a system already has: a new pattern applies to new
    numbers, it does not lock the systems registered under the old one out of their changes."""
    return f"(?:{re.escape(number)})|(?:{pattern})" if number else pattern


def _validate(
    actor: Actor,
    values: Mapping[str, Any],
    *,
    managed: bool,
    today: date,
    current: AlarmSystem | None = None,
) -> tuple[domain.SystemData, Address]:
    """Every field checked at once (FieldErrors): the form's rules, the site in the register, the
    alarm-report number the central holds, a user number not taken at the central."""
    cfg = config()
    clean, errors = domain.system_errors(
        values,
        today=today,
        managed=managed,
        user_number_pattern=_grandfathered(cfg.user_number_pattern, current.user_number if current else ""),
        arn_pattern=_grandfathered(cfg.arn_pattern, current.alarm_report_number if current else ""),
    )
    central_id = current.central_id if current else (actor.member.organisation_id if actor.member else None)
    number = clean.get("user_number")
    if managed and central_id and number and (current is None or number != current.user_number):
        taken = AlarmSystem.objects.filter(central_id=central_id, user_number=number, status=Status.ACTIVE.value)
        if current is not None:
            taken = taken.exclude(pk=current.pk)
        if taken.exists():
            errors.append(_duplicate_user_number())
    address, site_errors = resolve_site(values)
    errors = site_errors + errors
    if managed and actor.member is not None and clean.get("alarm_report_number"):
        if is_central(actor.member) and clean["alarm_report_number"] not in _arns(actor.member.organisation_id):
            errors.append(
                RuleError(
                    gettext_noop("This alarm-report number is not one the administration assigned to you."),
                    field="alarm_report_number",
                    rule="KB-7-ARC",
                )
            )
    if actor.member is None and actor.user_contact not in (clean.get("user_email"), clean.get("user_mobile")):
        errors.append(
            RuleError(
                gettext_noop(
                    "Keep the e-mail address or mobile number you signed in with as the user's: "
                    "it is how you reach this registration."
                ),
                field="user_email",
            )
        )
    if errors:
        raise FieldErrors(errors)
    assert address is not None
    return domain.system_data(clean, address.pk), address


def _audit(
    action: str,
    system: AlarmSystem,
    *,
    actor: User | None,
    organisation_id: int | None,
    data: dict[str, Any] | None = None,
) -> None:
    """One entry of the audit chain about a system, in the caller's transaction."""
    audit_record(
        action=action,
        actor=actor,
        organisation_id=organisation_id,
        object_type="alarm_system",
        object_id=system.reference,
        data=data,
    )


def _version(
    system: AlarmSystem,
    *,
    actor: Actor,
    kind: VersionKind,
    event_on: date,
    changes: dict[str, Any],
    today: date,
) -> SystemVersion:
    if kind is VersionKind.CORRECTION:
        due, late = None, 0
    else:
        d = domain.deadline(event_on, today)
        due, late = d.due_on, d.late_days
    return SystemVersion.objects.create(
        system=system,
        number=system.version,
        kind=kind.value,
        by=actor.member,
        by_label=actor.label[:254],
        event_on=event_on,
        due_on=due,
        late_days=late,
        changes=changes,
    )


def _duplicate_user_number() -> RuleError:
    return RuleError(
        gettext_noop("This user number is already registered by your central."), field="user_number", rule="KB-7-ARC"
    )


def system_register(*, actor: Actor, values: Mapping[str, Any]) -> AlarmSystem:
    """Register a system (KB-7-USER by its user, KB-7-ARC by its central), checking every rule first.

    The registry's own administration does not register systems: it corrects them.
    """
    managed = actor.member is not None
    if managed:
        member = require_central(actor)
    today = _today()
    data, address = _validate(actor, values, managed=managed, today=today)
    record = data.as_record()
    try:
        with transaction.atomic():
            if managed:
                _central_lock(member.organisation_id)
            if (
                managed
                and AlarmSystem.objects.filter(
                    central_id=member.organisation_id, user_number=data.user_number, status=Status.ACTIVE.value
                ).exists()
            ):
                raise FieldErrors([_duplicate_user_number()])
            d = domain.deadline(data.first_use, today)
            system = AlarmSystem.objects.create(
                reference=_new_reference(),
                central_id=member.organisation_id if managed else None,
                **_columns(data),
                **_site_fields(address),
                registration_late_days=d.late_days,
                maintenance_due=domain.maintenance_due(data.first_use, None),
            )
            _version(
                system, actor=actor, kind=VersionKind.REGISTRATION, event_on=data.first_use, changes=record, today=today
            )
            if managed and data.client_informed_on:
                InformationRecord.objects.create(
                    system=system,
                    organisation_id=member.organisation_id,
                    informed_on=data.client_informed_on,
                    recorded_by=member,
                )
            _audit(
                "alarms.registered",
                system,
                actor=actor.member,
                organisation_id=system.central_id,
                data={"late_days": d.late_days, "by": actor.label if actor.member is None else ""},
            )
    except IntegrityError:
        raise FieldErrors([_duplicate_user_number()]) from None
    return system


def _columns(data: domain.SystemData) -> dict[str, Any]:
    values = {name: getattr(data, name) for name in domain.DATA_FIELDS if name != "site_address_id"}
    values["contacts"] = [
        {"name": c.name, "phone": c.phone, "has_access": c.has_access, "knows_system": c.knows_system}
        for c in data.contacts
    ]
    return values


def system_change(
    *, actor: Actor, reference: str, values: Mapping[str, Any], changed_on: Any = None
) -> tuple[AlarmSystem, SystemVersion | None]:
    """Change a system's data (KB-7: within 10 days of the change). Nothing changed: no version.

    The registry administration's changes are corrections: no deadline applies to them.
    """
    today = _today()
    with transaction.atomic():
        system = _system_for_write(actor, reference)
        if system.status != Status.ACTIVE.value:
            raise RuleError(gettext_noop("This system is deregistered: it cannot be changed."), field="reference")
        managed = system.central_id is not None
        if system.central_id is not None:
            _central_lock(system.central_id)
        merged = {**_record(system), **{k: v for k, v in values.items()}}
        if "site_address_id" not in values and any(
            k in values for k in ("site_street", "site_postcode", "site_house_number")
        ):
            merged.pop("site_address_id", None)
        if managed and not (actor.member and is_central(actor.member)):
            # A correction by the registry may not move a system to a number of another central.
            merged["user_number"], merged["alarm_report_number"] = system.user_number, system.alarm_report_number
        data, address = _validate(actor, merged, managed=managed, today=today, current=system)
        when, error = domain.parse_date(changed_on, "changed_on")
        if error:
            raise FieldErrors([error])
        kind = VersionKind.CORRECTION if actor.member is not None and is_registry(actor.member) else VersionKind.CHANGE
        event_on = domain.check_event_date(when, today=today, not_before=data.first_use, name="changed_on", kind=kind)
        changes = domain.diff(_record(system), data.as_record())
        handover = system.handover_due is not None and actor.member is None
        if not changes and not handover:
            return system, None
        if (
            managed
            and data.user_number != system.user_number
            and AlarmSystem.objects.filter(
                central_id=system.central_id, user_number=data.user_number, status=Status.ACTIVE.value
            )
            .exclude(pk=system.pk)
            .exists()
        ):
            raise FieldErrors([_duplicate_user_number()])
        for name, value in _columns(data).items():
            setattr(system, name, value)
        for name, value in _site_fields(address).items():
            setattr(system, name, value)
        system.maintenance_due = domain.maintenance_due(system.first_use, system.last_maintenance)
        system.version += 1
        system.updated_at = timezone.now()
        if handover and system.handover_due is not None:
            # The user takes over a system its central released (KB-7-USER): this is its registration.
            kind, event_on = VersionKind.REGISTRATION, system.handover_due - timedelta(days=domain.DEADLINE_DAYS)
            system.handover_due = None
        system.save()
        version = _version(system, actor=actor, kind=kind, event_on=event_on, changes=changes, today=today)
        if managed and data.client_informed_on and actor.member is not None and is_central(actor.member):
            InformationRecord.objects.update_or_create(
                system=system,
                organisation_id=actor.member.organisation_id,
                defaults={"informed_on": data.client_informed_on, "recorded_by": actor.member},
            )
        _audit(
            "alarms.changed",
            system,
            actor=actor.member,
            organisation_id=system.central_id,
            data={"fields": sorted(changes), "kind": kind.value, "late_days": version.late_days},
        )
    return system, version


def system_deregister(*, actor: Actor, reference: str, out_of_use: Any) -> AlarmSystem:
    """KB-7: deregistration within 10 days of taking the system out of use."""
    today = _today()
    when, error = domain.parse_date(out_of_use, "out_of_use", required=True)
    if error:
        raise FieldErrors([error])
    with transaction.atomic():
        system = _system_for_write(actor, reference)
        if system.status != Status.ACTIVE.value:
            raise RuleError(gettext_noop("This system is deregistered already."), field="reference")
        event_on = domain.check_event_date(
            when, today=today, not_before=system.first_use, name="out_of_use", kind=VersionKind.DEREGISTRATION
        )
        _deregister(system, actor=actor, event_on=event_on, today=today)
    return system


def _deregister(system: AlarmSystem, *, actor: Actor, event_on: date, today: date) -> SystemVersion:
    system.status = Status.DEREGISTERED.value
    system.out_of_use = event_on
    system.deregistered_at = timezone.now()
    system.handover_due = None
    system.version += 1
    system.updated_at = system.deregistered_at
    system.save()
    version = _version(
        system,
        actor=actor,
        kind=VersionKind.DEREGISTRATION,
        event_on=event_on,
        changes={
            "status": [Status.ACTIVE.value, Status.DEREGISTERED.value],
            "out_of_use": [None, event_on.isoformat()],
        },
        today=today,
    )
    _audit(
        "alarms.deregistered",
        system,
        actor=actor.member,
        organisation_id=system.central_id,
        data={"late_days": version.late_days},
    )
    return version


def system_release(*, actor: Actor, reference: str, released_on: Any = None) -> AlarmSystem:
    """A central stops managing a system that stays in use (contract ended): from then on its user
    registers it within 10 days (KB-7-USER); the registry reminds them and lists them when late."""
    member = require_central(actor)
    today = _today()
    when, error = domain.parse_date(released_on, "released_on")
    if error:
        raise FieldErrors([error])
    with transaction.atomic():
        system = _system_for_write(actor, reference)
        if system.status != Status.ACTIVE.value:
            raise RuleError(gettext_noop("This system is deregistered already."), field="reference")
        event_on = domain.check_event_date(
            when, today=today, not_before=system.first_use, name="released_on", kind=VersionKind.CHANGE
        )
        old = {
            "central": member.organisation.name,
            "user_number": system.user_number,
            "alarm_report_number": system.alarm_report_number,
        }
        system.central = None
        system.user_number = ""
        system.alarm_report_number = ""
        system.handover_due = event_on + timedelta(days=domain.DEADLINE_DAYS)
        system.version += 1
        system.updated_at = timezone.now()
        system.save()
        _version(
            system,
            actor=actor,
            kind=VersionKind.CHANGE,
            event_on=event_on,
            changes={k: [v, ""] for k, v in old.items()},
            today=today,
        )
        _audit("alarms.released", system, actor=member, organisation_id=member.organisation_id)
    return system


# --- bulk CSV for centrals (KB-7-ARC) -------------------------------------------------------


@dataclass
class RowResult:
    line: int
    status: str  # created, updated, unchanged, deregistered, refused
    user_number: str = ""
    reference: str = ""
    errors: list[RuleError] = field(default_factory=list)


@dataclass
class ImportReport:
    rows: list[RowResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.status] = out.get(r.status, 0) + 1
        return out


_INSERT_COLUMNS = (
    ("id", None),
    ("reference", None),
    ("central_id", None),
    ("status", None),
    *((name, name) for name in domain.DATA_FIELDS),
    ("site_text", None),
    ("site_postcode", None),
    ("site_nis", None),
    ("site_lon", None),
    ("site_lat", None),
    ("registered_at", None),
    ("registration_late_days", None),
    ("updated_at", None),
    ("version", None),
    ("maintenance_due", None),
)


def import_csv(
    *,
    actor: Actor,
    data: bytes | str,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Register, change or deregister every system in a central's CSV: an idempotent upsert by
    (central, user number). Each row is checked like a form; a refused row writes nothing and is
    reported with one message per field; the others are written in batches (COPY).
    """
    member = require_central(actor)
    if isinstance(data, bytes) and len(data) > domain.MAX_IMPORT_BYTES:
        raise RuleError(gettext_noop("The file is larger than 100 MB."), field="file")
    try:
        rows = domain.read_csv(data)
        first = next(rows, None)
    except UnicodeDecodeError:
        raise RuleError(gettext_noop("The file is not UTF-8 text."), field="file") from None
    report = ImportReport()
    if first is None:
        return report
    cfg = config()
    arns = _arns(member.organisation_id)
    postcodes = _known_postcodes()
    today = _today()
    batch: list[tuple[domain.CsvRow, dict[str, Any]]] = []
    if (data.count(b"\n") if isinstance(data, bytes) else data.count("\n")) > domain.MAX_IMPORT_ROWS + 1:
        raise RuleError(
            gettext_noop("At most %(max)s rows per file."), field="file", params={"max": domain.MAX_IMPORT_ROWS}
        )

    # Outside a caller's transaction, batches are written by two writer threads (each its own connection)
    # while this thread checks the next: PostgreSQL's work and Python's overlap. The central's lock,
    # held for the whole import, keeps every other write of its user numbers out meanwhile.
    writer = None if connection.in_atomic_block else _BatchWriter(member, actor, report, today)
    with connection.cursor() as cursor:
        if writer is None:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CENTRAL_LOCK, member.organisation_id])
        else:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [CENTRAL_LOCK, member.organisation_id])

    def flush(count: int) -> None:
        if writer is not None:
            writer.submit(list(batch))
        else:
            _import_batch(member, actor, batch, report, today)
        batch.clear()
        if progress:
            progress(count)

    import itertools

    try:
        _check_rows(itertools.chain([first], rows), report, flush, batch, batch_size, cfg, arns, postcodes, today)
    finally:
        if writer is not None:
            try:
                writer.close()
            finally:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [CENTRAL_LOCK, member.organisation_id])
    report.rows.sort(key=lambda r: r.line)
    audit_record(
        action="alarms.imported",
        actor=member,
        organisation_id=member.organisation_id,
        object_type="alarm_import",
        data=report.counts,
    )
    return report


class _BatchWriter:
    """Writer threads, each with its own connection, at most one batch each in flight.

    Batches of one file never share a user number (a repeated one is refused while checking), so they
    may be written in any order; the central's lock keeps other writers out.
    """

    THREADS = 2

    def __init__(self, member: User, actor: Actor, report: ImportReport, today: date):
        from concurrent.futures import Future, ThreadPoolExecutor

        self.args = (member, actor)
        self.report = report
        self.today = today
        self.pool = ThreadPoolExecutor(max_workers=self.THREADS, thread_name_prefix="alarms-import")
        self.pending: list[Future[None]] = []

    def _write(self, batch: list[tuple[domain.CsvRow, dict[str, Any]]]) -> None:
        _import_batch(*self.args, batch, self.report, self.today, locked=True)

    def submit(self, batch: list[tuple[domain.CsvRow, dict[str, Any]]]) -> None:
        if len(self.pending) >= self.THREADS:
            self.pending.pop(0).result()  # re-raises a writer's error here
        self.pending.append(self.pool.submit(self._write, batch))

    def close(self) -> None:
        import threading

        try:
            for future in self.pending:
                future.result()
        finally:
            # Each thread closes its own connection: a barrier makes every thread take one task.
            barrier = threading.Barrier(self.THREADS)

            def close_own() -> None:
                barrier.wait(timeout=30)
                connection.close()

            for future in [self.pool.submit(close_own) for _ in range(self.THREADS)]:
                future.result()
            self.pool.shutdown()


def _check_rows(
    rows: Iterable[domain.CsvRow],
    report: ImportReport,
    flush: Callable[[int], None],
    batch: list[tuple[domain.CsvRow, dict[str, Any]]],
    batch_size: int,
    cfg: RegistryConfig,
    arns: set[str],
    postcodes: set[str],
    today: date,
) -> None:
    seen: dict[str, int] = {}
    count = 0
    for row in rows:
        count += 1
        if count > domain.MAX_IMPORT_ROWS:
            raise RuleError(
                gettext_noop("At most %(max)s rows per file."), field="file", params={"max": domain.MAX_IMPORT_ROWS}
            )
        values = row.values
        clean, errors = domain.system_errors(
            values,
            today=today,
            managed=True,
            user_number_pattern=cfg.user_number_pattern,
            arn_pattern=cfg.arn_pattern,
        )
        number = clean.get("user_number", "")
        postcode = str(values.get("site_postcode") or "").strip()
        if not postcode:
            errors.insert(
                0, RuleError(gettext_noop("This field is required."), field="site_postcode", rule="KB-7-USER")
            )
        elif postcode not in postcodes:
            errors.insert(
                0,
                RuleError(
                    gettext_noop("Unknown postcode %(postcode)s."),
                    field="site_postcode",
                    params={"postcode": postcode[:10]},
                ),
            )
        for name in ("site_street", "site_house_number"):
            if not str(values.get(name) or "").strip():
                errors.append(RuleError(gettext_noop("This field is required."), field=name, rule="KB-7-USER"))
        if clean.get("alarm_report_number") and clean["alarm_report_number"] not in arns:
            errors.append(
                RuleError(
                    gettext_noop("This alarm-report number is not one the administration assigned to you."),
                    field="alarm_report_number",
                    rule="KB-7-ARC",
                )
            )
        for name in ("changed_on", "out_of_use"):
            when, error = domain.parse_date(values.get(name), name)
            if error:
                errors.append(error)
            elif when is not None:
                try:
                    domain.check_event_date(
                        when,
                        today=today,
                        not_before=clean.get("first_use"),
                        name=name,
                        kind=VersionKind.DEREGISTRATION if name == "out_of_use" else VersionKind.CHANGE,
                    )
                except RuleError as exc:
                    errors.append(exc)
                clean[name] = when
        if number and number in seen:
            errors.append(
                RuleError(
                    gettext_noop("This user number is given twice in the file (line %(line)s)."),
                    field="user_number",
                    rule="KB-7-ARC",
                    params={"line": seen[number]},
                )
            )
        elif number:
            seen[number] = row.line
        if errors:
            shown = number or str(values.get("user_number") or "").strip()[:40]
            report.rows.append(RowResult(row.line, "refused", shown, errors=errors))
            continue
        clean["_street"] = str(values.get("site_street") or "")
        clean["_number"] = str(values.get("site_house_number") or "").strip().upper()
        clean["_box"] = str(values.get("site_box") or "").strip()
        clean["_postcode"] = postcode
        batch.append((row, clean))
        if len(batch) >= batch_size:
            flush(count)
    flush(count)


# Streets repeat across a file: their register key is computed once each.
_street_key = lru_cache(maxsize=65536)(geo_domain.search_key)
_STREET_MATCHES = ("a.search_key = k.key", "position(' ' || k.key || ' ' IN ' ' || a.search_key || ' ') > 0")
_ADDRESS_SQL = (
    "WITH k AS (SELECT split_part(line, E'\\t', 1) AS postcode, split_part(line, E'\\t', 2) AS number, "
    "split_part(line, E'\\t', 3) AS box, split_part(line, E'\\t', 4) AS key "
    "FROM unnest(string_to_array(%%s, E'\\n')) AS line) "
    "SELECT DISTINCT ON (k.postcode, k.number, k.box, k.key) k.postcode, k.number, k.box, k.key, a.id, "
    "a.street_nl, a.street_fr, a.street_de, a.house_number, a.box, a.nis_code, a.lon, a.lat "
    "FROM k JOIN geo_address a ON a.postcode = k.postcode AND upper(a.house_number) = k.number "
    "AND upper(a.box) = k.box AND %s ORDER BY k.postcode, k.number, k.box, k.key, a.id"
)


def _addresses_for(
    batch: list[tuple[domain.CsvRow, dict[str, Any]]],
) -> dict[tuple[str, str, str, str], tuple[Any, ...]]:
    """The register address of each (postcode, house number, box, street key) of a batch, in one query:
    the street key must be a whole-word part of the address's street names (in any language)."""
    for _, c in batch:
        c["_key"] = (c["_postcode"], c["_number"], c["_box"].upper(), _street_key(c["_street"]))
    keys = sorted({c["_key"] for _, c in batch})
    keys = [k for k in keys if k[3]]
    found: dict[tuple[str, str, str, str], tuple[Any, ...]] = {}
    if not keys:
        return found
    # First the street named as the register writes it (one index probe), then, for the rest, a street
    # named in one of its languages (a word-bounded part of the register's key: "wetstraat" in
    # "rue de la loi wetstraat").
    for match in _STREET_MATCHES:
        # The keys travel as one text (a line per key, tab-separated): dumping four 2,000-element arrays
        # costs more than the query.
        lines = "\n".join("\t".join(part.replace("\t", " ").replace("\n", " ") for part in k) for k in keys)
        with connection.cursor() as cursor:
            cursor.execute(_ADDRESS_SQL % match, [lines])
            for row in cursor.fetchall():
                found[(row[0], row[1], row[2], row[3])] = row
        keys = [k for k in keys if k not in found]
        if not keys:
            break
    return found


def _site_from_row(row: tuple[Any, ...]) -> dict[str, Any]:
    street = row[5] or row[6] or row[7]
    number = row[8] + (f" bus {row[9]}" if row[9] else "")
    return {
        "site_address_id": row[4],
        "site_text": f"{street} {number}, {row[0]}",
        "site_postcode": row[0],
        "site_nis": row[10],
        "site_lon": row[11],
        "site_lat": row[12],
    }


def _import_batch(
    member: User,
    actor: Actor,
    batch: list[tuple[domain.CsvRow, dict[str, Any]]],
    report: ImportReport,
    today: date,
    *,
    locked: bool = False,
) -> None:
    if not batch:
        return
    addresses = _addresses_for(batch)
    ready: list[tuple[domain.CsvRow, dict[str, Any], dict[str, Any]]] = []
    for row, clean in batch:
        match = addresses.get(clean["_key"])
        site = _site_from_row(match) if match is not None else None
        if site is None:
            report.rows.append(
                RowResult(
                    row.line,
                    "refused",
                    clean["user_number"],
                    errors=[
                        RuleError(gettext_noop("This address is not in the address register."), field="site_street")
                    ],
                )
            )
            continue
        ready.append((row, clean, site))
    if not ready:
        return
    org_id = member.organisation_id
    now = timezone.now()
    with transaction.atomic():
        if not locked:
            _central_lock(org_id)
        numbers = [c["user_number"] for _, c, _ in ready]
        existing = {
            s.user_number: s
            for s in AlarmSystem.objects.select_for_update().filter(
                central_id=org_id,
                status=Status.ACTIVE.value,
                user_number__in=RawSQL("SELECT unnest(string_to_array(%s, E'\\n'))", ["\n".join(numbers)]),
            )
        }
        new_rows: list[tuple[domain.CsvRow, dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        for row, clean, site in ready:
            out_of_use = clean.pop("out_of_use", None)
            changed_on = clean.pop("changed_on", None)
            system = existing.get(clean["user_number"])
            if system is None:
                if out_of_use is not None and (
                    gone := AlarmSystem.objects.filter(
                        central_id=org_id,
                        user_number=clean["user_number"],
                        status=Status.DEREGISTERED.value,
                        out_of_use=out_of_use,
                    )
                    .values_list("reference", flat=True)
                    .first()
                ):
                    # The same file again: this system was deregistered already, as the row says.
                    report.rows.append(RowResult(row.line, "unchanged", clean["user_number"], gone))
                    continue
                if out_of_use is not None:
                    report.rows.append(
                        RowResult(
                            row.line,
                            "refused",
                            clean["user_number"],
                            errors=[
                                RuleError(
                                    gettext_noop("No registered system has this user number: nothing to deregister."),
                                    field="out_of_use",
                                    rule="KB-7-ARC",
                                )
                            ],
                        )
                    )
                    continue
                new_rows.append((row, clean, domain.record_of(clean, site["site_address_id"]), site))
                continue
            data = domain.system_data(clean, site["site_address_id"])
            changes = domain.diff(_record(system), data.as_record())
            if changes:
                for name, value in _columns(data).items():
                    setattr(system, name, value)
                for name, value in site.items():
                    setattr(system, name, value)
                system.maintenance_due = domain.maintenance_due(system.first_use, system.last_maintenance)
                system.version += 1
                system.updated_at = now
                system.save()
                _version(
                    system,
                    actor=actor,
                    kind=VersionKind.CHANGE,
                    event_on=changed_on or today,
                    changes=changes,
                    today=today,
                )
                if data.client_informed_on:
                    InformationRecord.objects.update_or_create(
                        system=system,
                        organisation_id=org_id,
                        defaults={"informed_on": data.client_informed_on, "recorded_by": member},
                    )
            if out_of_use is not None:
                _deregister(system, actor=actor, event_on=out_of_use, today=today)
                report.rows.append(RowResult(row.line, "deregistered", data.user_number, system.reference))
            else:
                report.rows.append(
                    RowResult(row.line, "updated" if changes else "unchanged", data.user_number, system.reference)
                )
        if new_rows:
            _insert_new(member, actor, new_rows, report, now, today)


_COPY_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _cell(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        # Most values need no escaping: two C-speed checks instead of a per-character translation.
        if value.isprintable() and "\\" not in value:
            return value
        return value.translate(_COPY_ESCAPE)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def _insert_new(
    member: User,
    actor: Actor,
    new_rows: list[tuple[domain.CsvRow, dict[str, Any], dict[str, Any], dict[str, Any]]],
    report: ImportReport,
    now: Any,
    today: date,
) -> None:
    """New systems, their first version and their KB-4 record, written with COPY (ids drawn first)."""
    import json

    org_id = member.organisation_id
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('alarms_alarmsystem', 'id')), "
            "nextval(pg_get_serial_sequence('alarms_systemversion', 'id')) FROM generate_series(1, %s)",
            [len(new_rows)],
        )
        id_pairs = cursor.fetchall()
        references = [_new_reference() for _ in new_rows]
        columns = [c for c, _ in _INSERT_COLUMNS]
        now_text = now.isoformat()
        label = _cell(actor.label[:254])
        systems: list[str] = []
        versions: list[str] = []
        informed: list[str] = []
        for (_row, clean, record, site), (system_id, version_id), reference in zip(
            new_rows, id_pairs, references, strict=True
        ):
            first_use: date = clean["first_use"]
            d = domain.deadline(first_use, today)
            contacts = json.dumps(record["contacts"], ensure_ascii=False)
            head = f"{system_id}\t{reference}\t{org_id}\tactive\t"
            body = "\t".join(
                _cell(contacts if name == "contacts" else record[name])
                if name != "site_address_id"
                else str(site["site_address_id"])
                for name in domain.DATA_FIELDS
            )
            tail = (
                f"\t{_cell(site['site_text'])}\t{site['site_postcode']}\t{site['site_nis']}\t{site['site_lon']!r}"
                f"\t{site['site_lat']!r}\t{now_text}\t{d.late_days}\t{now_text}\t1"
                f"\t{domain.maintenance_due(first_use, None).isoformat()}\n"
            )
            systems.append(head + body + tail)
            versions.append(
                f"{version_id}\t{system_id}\t1\tregistration\t{now_text}\t{member.pk}\t{label}\t"
                f"{record['first_use']}\t{d.due_on.isoformat()}\t{d.late_days}\t"
                f"{_cell(json.dumps(record, ensure_ascii=False))}\n"
            )
            if clean["client_informed_on"]:
                informed.append(f"{system_id}\t{org_id}\t{record['client_informed_on']}\t{now_text}\t{member.pk}\n")
        with cursor.cursor.copy(f"COPY alarms_alarmsystem ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write("".join(systems))
        with cursor.cursor.copy(
            "COPY alarms_systemversion (id, system_id, number, kind, at, by_id, by_label, event_on, due_on, late_days, "
            "changes) FROM STDIN"
        ) as copy:
            copy.write("".join(versions))
        if informed:
            with cursor.cursor.copy(
                "COPY alarms_informationrecord (system_id, organisation_id, informed_on, recorded_at, recorded_by_id) "
                "FROM STDIN"
            ) as copy:
                copy.write("".join(informed))
    for (row, clean, _record, _site), reference in zip(new_rows, references, strict=True):
        report.rows.append(RowResult(row.line, "created", clean["user_number"], reference))


# --- sketch (KB-21) -------------------------------------------------------------------------


def _check_document(content: bytes, content_type: str, *, limit: int, name: str) -> str:
    if not content:
        raise RuleError(gettext_noop("The file is empty."), field=name)
    if len(content) > limit:
        raise RuleError(gettext_noop("The file is too large."), field=name)
    magic = DOCUMENT_TYPES.get(content_type)
    if magic is None or not content.startswith(magic):
        raise RuleError(gettext_noop("Send a PDF, PNG or JPEG file."), field=name)
    return content_type


def sketch_upload(
    *,
    actor: Actor,
    reference: str,
    content: bytes,
    content_type: str,
    name: str,
    related_user_numbers: Iterable[str] = (),
) -> Sketch:
    """KB-21: the central adds a situation sketch of the building of a fixed personal alarm."""
    member = require_central(actor)
    _check_document(content, content_type, limit=domain.MAX_SKETCH_BYTES, name="sketch")
    cfg = config()
    related = [
        domain.check_number(n, cfg.user_number_pattern, "related_user_numbers", "user number")
        for n in related_user_numbers
        if str(n).strip()
    ][:20]
    with transaction.atomic():
        system = _system_for_write(actor, reference)
        if system.system_type != SystemType.PERSONAL_FIXED.value:
            raise RuleError(
                gettext_noop("A situation sketch is kept for fixed personal alarms only (KB-21, art. 21)."),
                field="sketch",
                rule="KB-21",
            )
        sketch, _ = Sketch.objects.update_or_create(
            system=system,
            defaults={
                "content": content,
                "content_type": content_type,
                "name": (name or "sketch")[:200],
                "related_user_numbers": related,
                "uploaded_at": timezone.now(),
                "uploaded_by": member,
            },
        )
        _audit("alarms.sketch_uploaded", system, actor=member, organisation_id=member.organisation_id)
    return sketch


# --- maintenance (KB-8) and information (KB-4) ----------------------------------------------


def _system_for_company(member: User, reference: str, site_postcode: str) -> AlarmSystem:
    """A security company names a system by its reference and its site's postcode (both on the certificate)."""
    system = (
        AlarmSystem.objects.select_for_update()
        .filter(reference=str(reference or "").upper()[:12], site_postcode=str(site_postcode or "").strip()[:4])
        .first()
    )
    if system is None:
        raise NotFound(gettext_noop("No such alarm system."))
    return system


def maintenance_record(
    *, actor: Actor, reference: str, done_on: Any, notes: str = "", site_postcode: str = "", company_name: str = ""
) -> Maintenance:
    """KB-8: a maintenance, by the user (or the central for them) or by a security company."""
    today = _today()
    when, error = domain.parse_date(done_on, "done_on", required=True)
    if error:
        raise FieldErrors([error])
    notes = (notes or "").strip()[:500]
    with transaction.atomic():
        member = actor.member
        if member is not None and member.organisation.kind == Kind.SECURITY_COMPANY.value:
            _check_member(actor, {Kind.SECURITY_COMPANY})
            system = _system_for_company(member, reference, site_postcode)
            by_company, company, company_label = True, member.organisation, member.organisation.name
        else:
            system = _system_for_write(actor, reference)
            company_label = (company_name or "").strip()[:200]
            by_company, company = bool(company_label), None
        if system.status != Status.ACTIVE.value:
            raise RuleError(gettext_noop("This system is deregistered."), field="reference")
        done = domain.check_maintenance(when, today=today, first_use=system.first_use)
        row = Maintenance.objects.create(
            system=system,
            done_on=done,
            by_company=by_company,
            company=company,
            company_name=company_label,
            notes=notes,
            recorded_by=member,
        )
        last = max(done, system.last_maintenance or done)
        AlarmSystem.objects.filter(pk=system.pk).update(
            last_maintenance=last, maintenance_due=domain.maintenance_due(system.first_use, last)
        )
        _audit(
            "alarms.maintenance",
            system,
            actor=member,
            organisation_id=company.pk if company else system.central_id,
            data={"done_on": done.isoformat(), "by_company": by_company},
        )
    return row


def information_record(*, actor: Actor, reference: str, informed_on: Any, site_postcode: str = "") -> InformationRecord:
    """KB-4: a central or security company records that it informed its client of the rules at contract signature."""
    member = _check_member(
        actor, ALARM_CENTRALS | {Kind.SECURITY_COMPANY}, (Role.ADMIN, Role.OPERATOR, Role.ARC_OPERATOR)
    )
    when, error = domain.parse_date(informed_on, "informed_on", required=True)
    if error:
        raise FieldErrors([error])
    assert when is not None
    if when > _today():
        raise RuleError(gettext_noop("This date cannot be in the future."), field="informed_on", rule="KB-4")
    with transaction.atomic():
        if is_central(member):
            system = _system_for_write(actor, reference)
        else:
            system = _system_for_company(member, reference, site_postcode)
        row, _ = InformationRecord.objects.update_or_create(
            system=system, organisation=member.organisation, defaults={"informed_on": when, "recorded_by": member}
        )
        _audit(
            "alarms.information",
            system,
            actor=member,
            organisation_id=member.organisation_id,
            data={"informed_on": when.isoformat()},
        )
    return row


# --- remote actions (KB-6) -------------------------------------------------------------------


def _party_kind(org: Organisation) -> Party:
    if org.kind == Kind.SECURITY_COMPANY.value:
        return Party.SECURITY_COMPANY
    if Kind(org.kind) in ALARM_CENTRALS:
        return Party.ALARM_CENTRAL
    raise RuleError(
        gettext_noop("Remote actions are for security companies and alarm centrals only (KB-6, art. 6)."),
        field="party_id",
        rule="KB-6",
    )


def consent_add(
    *,
    actor: Actor,
    reference: str,
    party_id: int,
    actions: list[str],
    purposes: list[str],
    given_on: Any,
    document: bytes,
    document_type: str,
    document_name: str,
) -> RemoteConsent:
    """KB-6: the user's prior written consent (an uploaded signed document) to one third party.

    Recorded by the user, or by the central that manages the system (it holds the signed original).
    """
    when, error = domain.parse_date(given_on, "given_on", required=True)
    if error:
        raise FieldErrors([error])
    assert when is not None
    if when > _today():
        raise RuleError(gettext_noop("This date cannot be in the future."), field="given_on", rule="KB-6")
    _check_document(document, document_type, limit=domain.MAX_CONSENT_BYTES, name="document")
    party = Organisation.objects.filter(pk=party_id, status="active").first()
    if party is None:
        raise RuleError(
            gettext_noop("Choose a registered security company or alarm central."), field="party_id", rule="KB-6"
        )
    kind = _party_kind(party)
    scope = domain.check_consent_scope(kind, actions, purposes)
    with transaction.atomic():
        system = _system_for_write(actor, reference)
        if actor.member is not None and is_registry(actor.member):
            raise AccessDenied(gettext_noop("Only the user, or the central for the user, records a consent."))
        row = RemoteConsent.objects.create(
            system=system,
            party=party,
            party_kind=kind.value,
            actions=sorted(a.value for a in scope.actions),
            purposes=sorted(p.value for p in scope.purposes),
            given_on=when,
            document=document,
            document_name=(document_name or "consent")[:200],
            document_type=document_type,
            document_sha256=hashlib.sha256(document).hexdigest(),
            recorded_by=actor.member,
        )
        _audit(
            "alarms.consent_added",
            system,
            actor=actor.member,
            organisation_id=system.central_id,
            data={"party": party.pk, "actions": row.actions, "purposes": row.purposes, "by": actor.label},
        )
    return row


def consent_withdraw(*, actor: Actor, reference: str, consent_id: int) -> RemoteConsent:
    """The user (or the central for the user) withdraws a consent; later remote actions under it are refused."""
    if actor.member is not None and is_registry(actor.member):
        raise AccessDenied(gettext_noop("Only the user, or the central for the user, withdraws a consent."))
    with transaction.atomic():
        system = _system_for_write(actor, reference)
        row = RemoteConsent.objects.select_for_update().filter(pk=consent_id, system=system, withdrawn_at=None).first()
        if row is None:
            raise NotFound(gettext_noop("No such consent."))
        row.withdrawn_at = timezone.now()
        row.save(update_fields=["withdrawn_at"])
        _audit(
            "alarms.consent_withdrawn",
            system,
            actor=actor.member,
            organisation_id=system.central_id,
            data={"consent": row.pk, "by": actor.label},
        )
    return row


def remote_action(
    *, actor: Actor, reference: str, action: str, purpose: str, note: str = "", site_postcode: str = ""
) -> RemoteActionRecord:
    """KB-6: record a remote action a central or security company is about to take; refused (and
    recorded as refused) without the user's prior written consent covering it and the decree's purpose.

    A central acts on the systems it manages; a security company names the system by its reference and
    its site's postcode (as on a maintenance certificate).
    """
    member = _check_member(
        actor, ALARM_CENTRALS | {Kind.SECURITY_COMPANY}, (Role.ADMIN, Role.OPERATOR, Role.ARC_OPERATOR)
    )
    party = member.organisation
    kind = _party_kind(party)
    rows = AlarmSystem.objects.filter(reference=str(reference or "").upper()[:12], status=Status.ACTIVE.value)
    if kind is Party.ALARM_CENTRAL:
        rows = rows.filter(central_id=party.pk)
    else:
        rows = rows.filter(site_postcode=str(site_postcode or "").strip()[:4])
    system = rows.first()
    if system is None:
        raise NotFound(gettext_noop("No such alarm system."))
    consents = list(
        RemoteConsent.objects.filter(system=system, party=party, withdrawn_at=None, given_on__lte=_today())
        .defer("document")
        .order_by("-given_on", "-pk")
    )
    consent: RemoteConsent | None = None
    refusal: RuleError | None = None
    # Any consent in force that covers the action; with none, the refusal names why (no consent, or
    # none covering it).
    candidates: list[RemoteConsent | None] = [*consents] or [None]
    for candidate in candidates:
        scope = (
            domain.ConsentScope(
                frozenset(domain.RemoteAction(a) for a in candidate.actions),
                frozenset(domain.RemotePurpose(p) for p in candidate.purposes),
            )
            if candidate is not None
            else None
        )
        try:
            domain.check_remote_action(kind, action, purpose, scope)
        except RuleError as exc:
            refusal = refusal or exc
            continue
        consent, refusal = candidate, None
        break
    with transaction.atomic():
        row = RemoteActionRecord.objects.create(
            system=system,
            party=party,
            by=member,
            action=str(action)[:10],
            purpose=str(purpose)[:14],
            note=(note or "").strip()[:500],
            allowed=refusal is None,
            refusal=refusal.message[:300] if refusal else "",
            consent=consent if refusal is None else None,
        )
        _audit(
            "alarms.remote_action" if refusal is None else "alarms.remote_action_refused",
            system,
            actor=member,
            organisation_id=party.pk,
            data={"action": row.action, "purpose": row.purpose},
        )
    if refusal is not None:
        raise refusal
    return row


# --- reminders (KB-7 hand-over, KB-8 maintenance) ------------------------------------------


def _crisis_centre_id() -> int | None:
    return Organisation.objects.filter(kind=Kind.CRISIS_CENTRE.value).values_list("pk", flat=True).first()


REMINDER_TEXTS = {
    "maintenance_soon": (
        gettext_noop("Your alarm system %(reference)s is due for its yearly maintenance"),
        gettext_noop(
            "Your alarm system %(reference)s at %(site)s must be maintained every year (Royal Decree of "
            "25 April 2007, art. 8). The next maintenance is due on %(due)s. Record it at %(url)s once done."
        ),
    ),
    "maintenance_overdue": (
        gettext_noop("The yearly maintenance of your alarm system %(reference)s is overdue"),
        gettext_noop(
            "Your alarm system %(reference)s at %(site)s was due for its yearly maintenance on %(due)s "
            "(Royal Decree of 25 April 2007, art. 8). Have it maintained and record it at %(url)s."
        ),
    ),
    "handover": (
        gettext_noop("Register your alarm system %(reference)s within 10 days"),
        gettext_noop(
            "Your alarm central no longer manages the alarm system %(reference)s at %(site)s. As its user you "
            "register it yourself by %(due)s (Royal Decree of 25 April 2007, art. 7): sign in at %(url)s, check the "
            "data and confirm."
        ),
    ),
}


def _portal_url() -> str:
    return f"{settings.BASE_URL.rstrip('/')}/alarm/"


def reminders_send(*, today: date | None = None) -> dict[str, int]:
    """Send the reminders due today, once each: maintenance in 30 days or overdue (KB-8), and the
    hand-over registrations of systems a central released (KB-7-USER)."""
    from tocsin.delivery.services import send_request_create

    today = today or _today()
    sender = _crisis_centre_id()
    sent = {"maintenance_soon": 0, "maintenance_overdue": 0, "handover": 0}
    if sender is None:
        return sent
    active = AlarmSystem.objects.filter(status=Status.ACTIVE.value)
    plans = [
        (
            "maintenance_soon",
            active.filter(
                maintenance_due__gte=today,
                maintenance_due__lte=today + timedelta(days=domain.MAINTENANCE_REMINDER_DAYS),
            ),
            "maintenance_due",
        ),
        ("maintenance_overdue", active.filter(maintenance_due__lt=today), "maintenance_due"),
        (
            "handover",
            active.exclude(handover_due=None).filter(handover_due__gte=today - timedelta(days=30)),
            "handover_due",
        ),
    ]
    for kind, rows, due_field in plans:
        done = Reminder.objects.filter(kind=kind).values("system_id", "due_on")
        rows = rows.exclude(pk__in=done.filter(due_on=F(f"system__{due_field}")).values("system_id"))
        for system in rows.iterator(chunk_size=500):
            due = getattr(system, due_field)
            with transaction.atomic():
                _, created = Reminder.objects.get_or_create(system=system, kind=kind, due_on=due)
                if not created:
                    continue
                subject, body = REMINDER_TEXTS[kind]
                params = {
                    "reference": system.reference,
                    "site": system.site_text,
                    "due": due.isoformat(),
                    "url": _portal_url(),
                }
                content = {}
                for language in ("nl", "fr", "de", "en"):
                    with translation.override(language):
                        content[language] = {"subject": gettext(subject) % params, "text": gettext(body) % params}
                language = _site_language(system.site_nis)
                try:
                    send_request_create(
                        organisation_id=sender,
                        created_by_id=None,
                        purpose=f"alarms:{kind}",
                        priority=Priority.INFORMATION,
                        content={language: content[language]},
                        recipients={Channel.EMAIL: [(system.user_email, language)]},
                    )
                except RuleError:
                    continue
                sent[kind] += 1
    return sent


def _site_language(nis: str) -> str:
    from tocsin.geo.models import Municipality

    langs = Municipality.objects.filter(pk=nis).values_list("languages", flat=True).first() or "nl"
    return langs.split(",")[0][:2] if langs else "nl"


# --- sign-in of alarm-system users (KB-7-USER) -------------------------------------------------


def _digest(*parts: object) -> str:
    text = ":".join(str(p) for p in parts)
    return hmac.new(settings.SECRET_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()


def normalise_contact(raw: str) -> str:
    value = (raw or "").strip()
    if not value:
        raise RuleError(gettext_noop("Give your e-mail address or mobile number."), field="contact")
    try:
        return normalise_email(value).lower() if "@" in value else normalise_phone(value)
    except RecipientError:
        raise RuleError(gettext_noop("This is not a mobile number or e-mail address."), field="contact") from None


def sign_in_start(*, contact: str, challenge: str, nonce: str, ip: str | None, language: str = "nl") -> str:
    """Send a one-time code (and, by e-mail, a link) to the e-mail address or mobile number.

    Sent whether or not a system is registered with it (a new user registers after signing in);
    guarded like the citizens' codes: proof of work and rate limits per address and per value.
    """
    from tocsin.citizens import services as citizens
    from tocsin.delivery.services import send_request_create

    value = normalise_contact(contact)
    citizens._limit_ip("sign_in_ip", ip)
    citizens._pow_redeem(challenge, nonce)
    citizens._limit_codes(value, "email" if "@" in value else "mobile", "alarm_sign_in")
    sender = _crisis_centre_id()
    if sender is None:
        raise RuleError(gettext_noop("The platform cannot send codes yet."), field="contact")
    code = f"{secrets.randbelow(1_000_000):06d}"
    link = secrets.token_urlsafe(24)
    with transaction.atomic():
        otc = UserCode.objects.create(
            contact=value,
            code_hash="",
            link_hash=_digest("alarm-link", link),
            expires_at=timezone.now() + timedelta(seconds=CODE_TTL_S),
        )
        UserCode.objects.filter(pk=otc.pk).update(code_hash=_digest("alarm-code", otc.pk, code))
        if language not in ("nl", "fr", "de", "en"):
            language = "nl"
        with translation.override(language):
            text = gettext(
                "Tocsin alarm registry: your sign-in code is %(code)s. It is valid for %(minutes)s minutes."
            ) % {
                "code": code,
                "minutes": CODE_TTL_S // 60,
            }
            subject = gettext("Your sign-in code for the registry of alarm systems")
            body = (
                text
                + "\n\n"
                + gettext("Or open this link to sign in: %(url)s")
                % {"url": f"{settings.BASE_URL.rstrip('/')}/alarm/sign-in/link/{link}/"}
            )
            body += "\n\n" + gettext("If you did not ask for this, ignore this message.")
        if "@" in value:
            content = {language: {"subject": subject, "text": body}}
            channel = Channel.EMAIL
        else:
            content = {language: {"text": text}}
            channel = Channel.SMS
        request = send_request_create(
            organisation_id=sender,
            created_by_id=None,
            purpose="alarms:sign_in",
            priority=Priority.VERIFICATION,
            content=content,
            recipients={channel: [(value, language)]},
            expires_at=otc.expires_at,
        )
        UserCode.objects.filter(pk=otc.pk).update(request_id=request.pk)
    return signing.dumps({"id": otc.pk}, salt=SIGN_IN_SALT, compress=True)


def _forget_text(request_id: int | None) -> None:
    from tocsin.delivery.models import SendRequest

    if request_id:
        SendRequest.objects.filter(pk=request_id, purpose="alarms:sign_in").update(
            content={"-": {"text": "(one-time code, removed after use)"}}
        )


def sign_in_finish(*, attempt: str, code: str) -> str:
    """The contact (e-mail or mobile) the code proves, or a RuleError on the code field."""
    try:
        data = signing.loads(attempt, salt=SIGN_IN_SALT, max_age=CODE_TTL_S)
    except signing.BadSignature:
        raise RuleError(gettext_noop("The sign-in has expired; start again."), field="attempt") from None
    otc = UserCode.objects.filter(pk=data.get("id")).first()
    if otc is not None:
        counted = UserCode.objects.filter(
            pk=otc.pk, used_at=None, expires_at__gt=timezone.now(), attempts__lt=CODE_ATTEMPTS
        ).update(attempts=F("attempts") + 1)
        if counted and hmac.compare_digest(otc.code_hash, _digest("alarm-code", otc.pk, str(code or "").strip())):
            if UserCode.objects.filter(pk=otc.pk, used_at=None).update(used_at=timezone.now()):
                _forget_text(otc.request_id)
                return otc.contact
    raise RuleError(gettext_noop("The code is wrong or has expired."), field="code")


def sign_in_link(*, link: str) -> str:
    otc = UserCode.objects.filter(link_hash=_digest("alarm-link", link), used_at=None).first()
    if otc is None or otc.expires_at < timezone.now():
        raise RuleError(gettext_noop("The sign-in link has expired or was used already."), field="link")
    if not UserCode.objects.filter(pk=otc.pk, used_at=None).update(used_at=timezone.now()):
        raise RuleError(gettext_noop("The sign-in link has expired or was used already."), field="link")
    _forget_text(otc.request_id)
    return otc.contact


def system_upsert(*, actor: Actor, values: Mapping[str, Any], changed_on: Any = None) -> tuple[AlarmSystem, str]:
    """KB-7-ARC through the API: register or change the system with this (central, user number).

    Idempotent: sending the same data again changes nothing and writes no version. Returns the
    system and ``created``, ``updated`` or ``unchanged``.
    """
    member = require_central(actor)
    number = str(values.get("user_number") or "").strip().upper()
    existing = (
        AlarmSystem.objects.filter(central_id=member.organisation_id, user_number=number, status=Status.ACTIVE.value)
        .values_list("reference", flat=True)
        .first()
        if number
        else None
    )
    if existing is None:
        try:
            return system_register(actor=actor, values=values), "created"
        except FieldErrors as exc:
            if not any(e.field == "user_number" and e.rule == "KB-7-ARC" for e in exc.errors) or not number:
                raise
            existing = (
                AlarmSystem.objects.filter(
                    central_id=member.organisation_id, user_number=number, status=Status.ACTIVE.value
                )
                .values_list("reference", flat=True)
                .first()
            )
            if existing is None:
                raise
    system, version = system_change(actor=actor, reference=existing, values=values, changed_on=changed_on)
    return system, "updated" if version is not None else "unchanged"

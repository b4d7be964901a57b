"""Reads of the registry of alarm systems: each scoped to who asks, personal-data reads audited.

A central sees only the systems it manages; a user only the unmanaged systems
registered with the e-mail address or mobile number they signed in with; the
registry administration sees all (audited); the emergency centre and the
police find a system by user number, alarm-report number or address, every
lookup audited with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from tocsin.alarms.domain import Status
from tocsin.alarms.models import (
    AlarmReportNumber,
    AlarmSystem,
    InformationRecord,
    Maintenance,
    RemoteActionRecord,
    RemoteConsent,
    Sketch,
    SystemVersion,
)
from tocsin.alarms.services import Actor, is_central, is_registry, require_central, require_registry
from tocsin.audit.services import audit_record
from tocsin.geo import domain as geo_domain
from tocsin.organisations.domain import Kind, Role, RuleError, gettext_noop
from tocsin.organisations.models import Organisation, User
from tocsin.organisations.services import AccessDenied, NotFound, access_check

LOOKUP_KINDS = frozenset({Kind.EMERGENCY_CENTRE, Kind.POLICE_ZONE, Kind.REGISTRY_ADMIN})
# Roles that see personal data, with two factors (a viewer has one).
LOOKUP_ROLES = frozenset({Role.ADMIN, Role.OPERATOR, Role.EC_OPERATOR})
PAGE = 50


def systems_visible(actor: Actor) -> QuerySet[AlarmSystem]:
    """Every system the actor may open: the base of every other read (tenant isolation)."""
    if actor.member is None:
        if not actor.user_contact:
            raise AccessDenied(gettext_noop("Sign in first."))
        return AlarmSystem.objects.filter(central=None).filter(
            Q(user_email=actor.user_contact) | Q(user_mobile=actor.user_contact)
        )
    member = actor.member
    access_check(member)
    if is_central(member):
        require_central(actor, write=False)
        return AlarmSystem.objects.filter(central_id=member.organisation_id)
    if is_registry(member):
        require_registry(actor)  # administrators and operators: two factors; a viewer reads no personal data
        return AlarmSystem.objects.all()
    raise AccessDenied(gettext_noop("Your organisation may not read the registry of alarm systems."))


def system_list(
    *, actor: Actor, query: str = "", status: str = "active", page: int = 1
) -> tuple[list[AlarmSystem], int]:
    """A page of systems, newest first, filtered by reference, user number, name, postcode or e-mail."""
    rows = systems_visible(actor)
    if status in (Status.ACTIVE.value, Status.DEREGISTERED.value):
        rows = rows.filter(status=status)
    query = (query or "").strip()[:100]
    if query:
        upper = query.upper()
        rows = rows.filter(
            Q(reference=upper)
            | Q(user_number=upper)
            | Q(site_postcode=query)
            | Q(user_email__iexact=query)
            | Q(user_name__icontains=query)
            | Q(site_name__icontains=query)
        )
    total = rows.count()
    page = max(1, int(page or 1))
    items = list(rows.order_by("-registered_at", "-pk")[(page - 1) * PAGE : page * PAGE])
    if actor.member is not None and is_registry(actor.member):
        # The administration reads everyone's data: each page it is shown is recorded.
        audit_record(
            action="alarms.searched" if query else "alarms.listed",
            actor=actor.member,
            object_type="alarm_system",
            data={
                "query": query,
                "found": total,
                "page": page,
                "status": status,
                "references": [s.reference for s in items],
            },
        )
    return items, total


@dataclass
class SystemView:
    system: AlarmSystem
    versions: list[SystemVersion]
    maintenances: list[Maintenance]
    consents: list[RemoteConsent]
    remote_actions: list[RemoteActionRecord]
    information: list[InformationRecord]
    has_sketch: bool
    central_name: str


def system_get(*, actor: Actor, reference: str, ip: str | None = None) -> SystemView:
    system = systems_visible(actor).filter(reference=str(reference or "").upper()[:12]).first()
    if system is None:
        raise NotFound(gettext_noop("No such alarm system."))
    if actor.member is not None and is_registry(actor.member):
        audit_record(
            action="alarms.viewed",
            actor=actor.member,
            object_type="alarm_system",
            object_id=system.reference,
            ip=ip,
        )
    return SystemView(
        system=system,
        versions=list(system.versions.select_related("by").order_by("-number")),
        maintenances=list(system.maintenances.all()[:20]),
        consents=list(system.consents.select_related("party").defer("document").order_by("-given_on")),
        remote_actions=list(system.remote_actions.select_related("party", "by")[:50]),
        information=list(system.information.select_related("organisation")),
        has_sketch=Sketch.objects.filter(system=system).exists(),
        central_name=Organisation.objects.filter(pk=system.central_id or 0).values_list("name", flat=True).first()
        or "",
    )


def consent_document(*, actor: Actor, reference: str, consent_id: int) -> RemoteConsent:
    system = systems_visible(actor).filter(reference=str(reference or "").upper()[:12]).first()
    consent = RemoteConsent.objects.filter(pk=consent_id, system=system).first() if system else None
    if consent is None:
        raise NotFound(gettext_noop("No such consent."))
    return consent


# --- the emergency centre and the police ---------------------------------------------------


def _lookup_actor(actor: Actor) -> User:
    member = actor.member
    if member is None:
        raise AccessDenied(gettext_noop("Sign in first."))
    access_check(member)
    if Kind(member.organisation.kind) not in LOOKUP_KINDS:
        raise AccessDenied(gettext_noop("Only the emergency centre, the police and the registry look systems up."))
    if not any(member.has_role(r) for r in LOOKUP_ROLES):
        raise AccessDenied(gettext_noop("Your role does not allow this."))
    return member


def lookup_sketch(*, actor: Actor, system_id: int, ip: str | None = None) -> Sketch:
    """KB-21: the situation sketch of a system a lookup showed, for the police's intervention; audited."""
    member = _lookup_actor(actor)
    sketch = (
        Sketch.objects.filter(system_id=system_id, system__status=Status.ACTIVE.value).select_related("system").first()
    )
    if sketch is None:
        raise NotFound(gettext_noop("No such alarm system."))
    audit_record(
        action="alarms.sketch_viewed",
        actor=member,
        organisation_id=member.organisation_id,
        object_type="alarm_system",
        object_id=sketch.system.reference,
        ip=ip,
    )
    return sketch


def lookup(
    *,
    actor: Actor,
    user_number: str = "",
    alarm_report_number: str = "",
    address: str = "",
    reason: str,
    ip: str | None = None,
) -> list[AlarmSystem]:
    """Find systems by user number (with or without the alarm-report number) or by address.

    Every lookup is audited: who, from where, what was asked, why, and how many systems it showed.
    """
    member = _lookup_actor(actor)
    reason = (reason or "").strip()
    if not reason:
        raise RuleError(gettext_noop("Give the reason for the lookup (an incident number)."), field="reason")
    number = (user_number or "").strip().upper()[:40]
    arn = (alarm_report_number or "").strip().upper()[:40]
    text = (address or "").strip()[:200]
    rows = AlarmSystem.objects.filter(status=Status.ACTIVE.value)
    if number:
        rows = rows.filter(user_number=number)
        if arn:
            rows = rows.filter(alarm_report_number=arn)
    elif arn:
        rows = rows.filter(alarm_report_number=arn)
    elif text:
        rows = _by_address(rows, text)
    else:
        raise RuleError(gettext_noop("Give a user number, an alarm-report number or an address."), field="user_number")
    found = list(rows.order_by("reference")[:50])
    audit_record(
        action="alarms.lookup",
        actor=member,
        organisation_id=member.organisation_id,
        object_type="alarm_system",
        object_id=found[0].reference if len(found) == 1 else "",
        data={
            "references": [s.reference for s in found],
            "user_number": number,
            "alarm_report_number": arn,
            "address": text,
            "reason": reason[:200],
            "found": len(found),
        },
        ip=ip,
    )
    return found


def _by_address(rows: QuerySet[AlarmSystem], text: str) -> QuerySet[AlarmSystem]:
    """``Kerkstraat 12, 9620`` or ``9620 Kerkstraat 12``: the postcode, then the house number and street."""
    postcode = ""
    number = ""
    words = []
    for token in text.replace(",", " ").split():
        if len(token) == 4 and token.isdigit() and not postcode:
            postcode = token
        elif token[0].isdigit() and not number:
            number = token.upper()
        else:
            words.append(token)
    if not postcode:
        raise RuleError(gettext_noop("Give the address with its postcode."), field="address")
    rows = rows.filter(site_postcode=postcode)
    if number:
        rows = rows.filter(Q(site_text__icontains=f" {number},") | Q(site_text__icontains=f" {number} bus"))
    key = geo_domain.search_key(" ".join(words)) if words else ""
    if key:
        from tocsin.geo.models import Address

        ids = Address.objects.filter(postcode=postcode, search_key__contains=key).values("pk")
        rows = rows.filter(site_address_id__in=ids)
    return rows


# --- the administration -------------------------------------------------------------------


@dataclass
class LateItem:
    system: AlarmSystem
    what: str  # registration, change, deregistration, handover, maintenance
    due_on: date
    late_days: int
    declared_at: Any = None


def late_counts(*, actor: Actor, today: date | None = None, days: int = 90) -> dict[str, int]:
    """How many of each kind ``late_list`` holds (it may show fewer)."""
    require_registry(actor)
    today = today or timezone.localdate()
    since = timezone.now() - timedelta(days=days)
    counts = dict(
        SystemVersion.objects.filter(late_days__gt=0, at__gte=since)
        .values_list("kind")
        .annotate(n=Count("pk"))
        .values_list("kind", "n")
    )
    active = AlarmSystem.objects.filter(status=Status.ACTIVE.value)
    counts["handover"] = active.filter(handover_due__lt=today).count()
    counts["maintenance"] = active.filter(maintenance_due__lt=today).count()
    return counts


def late_list(*, actor: Actor, today: date | None = None, days: int = 90, limit: int | None = 500) -> list[LateItem]:
    """KB-7 and KB-8 for the administration: what was declared late in the last ``days`` days, the
    hand-overs past their deadline, and the systems whose yearly maintenance is overdue; at most
    ``limit`` of each kind (None: all; ``late_counts`` tells how many there are)."""
    require_registry(actor)
    today = today or timezone.localdate()
    since = timezone.now() - timedelta(days=days)
    cut = slice(0, limit)
    items: list[LateItem] = []
    for v in (
        SystemVersion.objects.filter(late_days__gt=0, at__gte=since)
        .select_related("system")
        .order_by("-late_days")[cut]
    ):
        assert v.due_on is not None
        items.append(LateItem(v.system, v.kind, v.due_on, v.late_days, v.at))
    for s in AlarmSystem.objects.filter(status=Status.ACTIVE.value, handover_due__lt=today).order_by("handover_due")[
        cut
    ]:
        assert s.handover_due is not None
        items.append(LateItem(s, "handover", s.handover_due, (today - s.handover_due).days))
    for s in AlarmSystem.objects.filter(status=Status.ACTIVE.value, maintenance_due__lt=today).order_by(
        "maintenance_due"
    )[cut]:
        items.append(LateItem(s, "maintenance", s.maintenance_due, (today - s.maintenance_due).days))
    return items


def statistics(*, actor: Actor, today: date | None = None) -> dict[str, Any]:
    """Counts for the administration: by type, by region and province, managed or not, late, overdue."""
    require_registry(actor)
    from tocsin.geo.models import Municipality

    today = today or timezone.localdate()
    active = AlarmSystem.objects.filter(status=Status.ACTIVE.value)
    by_type = dict(active.values_list("system_type").annotate(n=Count("pk")).values_list("system_type", "n"))
    by_nis = dict(active.values_list("site_nis").annotate(n=Count("pk")).values_list("site_nis", "n"))
    places = {m.pk: m for m in Municipality.objects.filter(pk__in=list(by_nis)).select_related("province", "region")}
    by_province: dict[str, int] = {}
    by_region: dict[str, int] = {}
    for nis, n in by_nis.items():
        m = places.get(nis)
        if m is None:
            continue
        province = m.province.name_nl if m.province else m.region.name_nl
        by_province[province] = by_province.get(province, 0) + n
        by_region[m.region.name_nl] = by_region.get(m.region.name_nl, 0) + n
    year_ago = timezone.now() - timedelta(days=365)
    registrations = SystemVersion.objects.filter(kind="registration", at__gte=year_ago)
    return {
        "active": active.count(),
        "deregistered": AlarmSystem.objects.filter(status=Status.DEREGISTERED.value).count(),
        "managed": active.exclude(central=None).count(),
        "unmanaged": active.filter(central=None).count(),
        "by_type": by_type,
        "by_region": dict(sorted(by_region.items())),
        "by_province": dict(sorted(by_province.items())),
        "by_municipality": by_nis,
        "registrations_year": registrations.count(),
        "registrations_late_year": registrations.filter(late_days__gt=0).count(),
        "maintenance_overdue": active.filter(maintenance_due__lt=today).count(),
        "handover_overdue": active.filter(handover_due__lt=today).count(),
        "centrals": active.exclude(central=None).values("central").distinct().count(),
    }


def arn_list(*, actor: Actor) -> QuerySet[AlarmReportNumber]:
    member = actor.member
    if member is None:
        raise AccessDenied(gettext_noop("Sign in first."))
    access_check(member)
    rows = AlarmReportNumber.objects.select_related("organisation").order_by("number")
    if is_registry(member):
        return rows
    if is_central(member):
        return rows.filter(organisation_id=member.organisation_id, withdrawn_at=None)
    raise AccessDenied(gettext_noop("Your organisation may not read the registry of alarm systems."))


def centrals(*, actor: Actor) -> QuerySet[Organisation]:
    require_registry(actor)
    return Organisation.objects.filter(kind__in=[Kind.ALARM_CENTRAL.value, Kind.INTERNAL_ALARM_SERVICE.value])


def parties() -> QuerySet[Organisation]:
    """The third parties a user may give a remote-action consent to (KB-6)."""
    return Organisation.objects.filter(
        status="active",
        kind__in=[Kind.SECURITY_COMPANY.value, Kind.ALARM_CENTRAL.value, Kind.INTERNAL_ALARM_SERVICE.value],
    ).order_by("name")

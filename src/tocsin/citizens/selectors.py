"""Reads for citizens' registrations.

Entities see counts only (BA-7.4: no consulting or copying of personal data);
the one way to a person's record is ``registration_lookup``, for a
crisis-centre administrator with a stated reason that the audit log keeps.
Streaming the contact points of an area is for the delivery of an alert
(issue 5), inside the platform, never shown to anyone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count

from tocsin.audit.services import audit_record
from tocsin.citizens.domain import LANGUAGES, RegistrationStatus
from tocsin.citizens.models import CitizenAddress, ContactPoint, Registration
from tocsin.geo.domain import Area
from tocsin.geo.selectors import Place, area_filter
from tocsin.organisations.domain import TYPE1, Kind, Role, RuleError, gettext_noop
from tocsin.organisations.models import User
from tocsin.organisations.services import AccessDenied

CITIZEN_ADDRESSES = Place("citizens_citizenaddress")
K_ANONYMITY = 5  # no count below this is shown to an entity (a map cell, a drawn area)


def _may_see_counts(actor: User) -> None:
    org = actor.organisation
    if org.kind != Kind.CRISIS_CENTRE.value and Kind(org.kind) not in TYPE1:
        raise AccessDenied(
            gettext_noop("Only municipalities, governors and the crisis centre see citizen coverage (BA-4-T1)."),
            rule="BA-4-T1",
        )


@dataclass(frozen=True)
class Coverage:
    people: int
    addresses: int
    by_language: dict[str, int]
    by_channel: dict[str, int]
    suppressed: bool = False


def _k_anonymous(figures: Coverage) -> Coverage:
    """Any figure from 1 to 4 is reported as 0: an area drawn around one house must not tell whether
    someone there registered, nor their language or channels (BA-7.4)."""

    def k(n: int) -> int:
        return n if n >= K_ANONYMITY else 0

    every = [figures.people, figures.addresses, *figures.by_language.values(), *figures.by_channel.values()]
    suppressed = any(0 < n < K_ANONYMITY for n in every)
    languages = {language: k(n) for language, n in figures.by_language.items()}
    channels = {channel: k(n) for channel, n in figures.by_channel.items()}
    return Coverage(k(figures.people), k(figures.addresses), languages, channels, suppressed)


def coverage(*, actor: User, area: Area) -> Coverage:
    """How many active registrations have an address in ``area``, per language and channel — counts only."""
    _may_see_counts(actor)
    where = area_filter(area, CITIZEN_ADDRESSES, alias="a")
    sql = f"""
        WITH hit AS (
            SELECT a.registration_id, count(*) AS n
            FROM citizens_citizenaddress a WHERE {where.sql} GROUP BY a.registration_id
        )
        SELECT r.language, count(*), sum(hit.n),
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM citizens_contactpoint p WHERE
                   p.registration_id = r.id AND p.verified_at IS NOT NULL AND p.sms)),
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM citizens_contactpoint p WHERE
                   p.registration_id = r.id AND p.verified_at IS NOT NULL AND p.voice)),
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM citizens_contactpoint p WHERE
                   p.registration_id = r.id AND p.verified_at IS NOT NULL AND p.kind = 'email'))
        FROM hit JOIN citizens_registration r ON r.id = hit.registration_id
        WHERE r.status = %s
        GROUP BY r.language
    """  # noqa: S608 — the filter is built from trusted identifiers and parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [*where.params, RegistrationStatus.ACTIVE.value])
        rows = cursor.fetchall()
    by_language = {language: int(n) for language, n, *_ in rows}
    figures = Coverage(
        people=sum(by_language.values()),
        addresses=sum(int(r[2]) for r in rows),
        by_language=by_language,
        by_channel={
            "sms": sum(int(r[3]) for r in rows),
            "voice": sum(int(r[4]) for r in rows),
            "email": sum(int(r[5]) for r in rows),
        },
    )
    return figures if actor.organisation.kind == Kind.CRISIS_CENTRE.value else _k_anonymous(figures)


# An area of a city or a province holds hundreds of thousands of addresses: with the default 4 MB the
# bitmap of matching rows turns lossy and the hashes spill to disk (bench/geo.py: 2 s instead of 0.7 s).
AREA_WORK_MEM = "64MB"


def area_count(area: Area) -> tuple[int, int]:
    """(registered addresses, active people) in ``area``: the figure an alert's preview starts from."""
    where = area_filter(area, CITIZEN_ADDRESSES, alias="a")
    # The matching addresses first (by index), then the few registrations that are not active (by the status
    # index): no pass over every registration, whatever the planner guesses about the area's size.
    sql = f"""
        WITH hit AS MATERIALIZED (SELECT a.registration_id FROM citizens_citizenaddress a WHERE {where.sql})
        SELECT count(*), count(DISTINCT hit.registration_id) FILTER (WHERE idle.id IS NULL)
        FROM hit LEFT JOIN (SELECT id FROM citizens_registration WHERE status = ANY(%s)) idle
            ON idle.id = hit.registration_id
    """  # noqa: S608
    inactive = [s.value for s in RegistrationStatus if s is not RegistrationStatus.ACTIVE]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{AREA_WORK_MEM}'")
        cursor.execute(sql, [*where.params, inactive])
        addresses, people = cursor.fetchone()
    return int(addresses), int(people)


def area_contact_points(
    area: Area, *, general_interest: bool = False, batch: int = 20_000
) -> Iterator[tuple[str, str, str]]:
    """Stream (channel, value, language) for every verified contact point of an active registration in
    ``area``, each value once per channel, in the language of the earliest registration holding it; deaf
    people's voice points are never there. For the delivery engine only."""
    where = area_filter(area, CITIZEN_ADDRESSES, alias="a")
    opt_out = "AND NOT r.opt_out_general" if general_interest else ""
    # One row per value (a family's shared number comes once) with the channels any of its holders take; the
    # rows are expanded per channel here. Grouping half a million values is cheaper than sorting a million
    # (value, channel) rows for DISTINCT ON: 5.2 s -> 3.2 s for 1 M points in bench/geo.py. The language
    # rides along the earliest registration's id: min(id * n + language's index).
    n = len(LANGUAGES)
    sql = f"""
        SELECT p.value,
               bool_or(p.kind = 'email'),
               bool_or(p.kind <> 'email' AND p.sms),
               bool_or(p.voice AND NOT r.deaf),
               min(r.id * {n} + coalesce(array_position(%s::text[], r.language::text), 1) - 1) %% {n}
        FROM (SELECT DISTINCT a.registration_id FROM citizens_citizenaddress a WHERE {where.sql}) hit
        JOIN citizens_registration r ON r.id = hit.registration_id AND r.status = 'active' {opt_out}
        JOIN citizens_contactpoint p ON p.registration_id = r.id AND p.verified_at IS NOT NULL
        GROUP BY p.value
    """  # noqa: S608
    with transaction.atomic(), connection.connection.cursor(name="area_points") as cursor:
        connection.ensure_connection()
        with connection.cursor() as settings:
            settings.execute(f"SET LOCAL work_mem = '{AREA_WORK_MEM}'")  # the grouping stays in memory
        cursor.itersize = batch
        cursor.execute(sql, [list(LANGUAGES), *where.params])
        for value, email, sms, voice, language in cursor:
            if email:
                yield ("email", value, LANGUAGES[language])
            if sms:
                yield ("sms", value, LANGUAGES[language])
            if voice:
                yield ("voice", value, LANGUAGES[language])


def registrations_contact_points(
    registration_ids: list[int], *, bin_message: bool = False
) -> list[tuple[str, str, str]]:
    """(channel, value, language) for the verified points of these registrations (a BIN group's members),
    each value once per channel; active registrations only; never a deaf person's voice point."""
    rows = (
        ContactPoint.objects.filter(
            registration_id__in=registration_ids,
            registration__status=RegistrationStatus.ACTIVE.value,
            verified_at__isnull=False,
        )
        .order_by("registration_id", "id")
        .values_list("kind", "value", "sms", "voice", "registration__deaf", "registration__language")
    )
    if bin_message:
        rows = rows.filter(registration__opt_out_bin=False)
    seen: set[tuple[str, str]] = set()
    out = []
    for kind, value, sms, voice, deaf, language in rows:
        channels = (
            ["email"] if kind == "email" else [c for c, on in (("sms", sms), ("voice", voice and not deaf)) if on]
        )
        for channel in channels:
            if (channel, value) not in seen:
                seen.add((channel, value))
                out.append((channel, value, language))
    return out


def registration_export(registration: Registration) -> dict[str, Any]:
    """Everything Tocsin holds about the person (GDPR access), as JSON."""
    from tocsin.audiences.models import BinMembership

    points = ContactPoint.objects.filter(registration=registration).order_by("id")
    addresses = CitizenAddress.objects.filter(registration=registration).order_by("id")
    groups = BinMembership.objects.filter(registration=registration).select_related("group")
    audit_record(action="citizen.exported", object_type="registration", object_id=str(registration.public_id))
    return {
        "registration": {
            "id": str(registration.public_id),
            "name": registration.name,
            "language": registration.language,
            "status": registration.status,
            "deaf_or_hard_of_hearing": registration.deaf,
            "opt_out_general_interest": registration.opt_out_general,
            "opt_out_bin": registration.opt_out_bin,
            "consent": {"version": registration.consent_version, "at": registration.consent_at.isoformat()},
            "created_at": registration.created_at.isoformat(),
            "updated_at": registration.updated_at.isoformat(),
        },
        "contact_points": [
            {
                "id": p.pk,
                "kind": p.kind,
                "value": p.value,
                "sms": p.sms,
                "voice": p.voice,
                "verified_at": p.verified_at.isoformat() if p.verified_at else None,
            }
            for p in points
        ],
        "addresses": [
            {
                "label": a.label,
                "address": a.text,
                "postcode": a.postcode,
                "nis_code": a.nis_code,
                "lon": a.lon,
                "lat": a.lat,
            }
            for a in addresses
        ],
        "bin_groups": [{"group": m.group.name, "joined_at": m.joined_at.isoformat()} for m in groups],
    }


def registration_lookup(*, actor: User, contact: str, reason: str, ip: str | None = None) -> list[dict[str, Any]]:
    """A crisis-centre administrator looks a registration up by phone or e-mail, with a reason (BA-7.4).

    The reason and what was looked up are in the audit log, whatever the outcome.
    """
    from tocsin.delivery.domain import RecipientError, normalise_email, normalise_phone

    if actor.organisation.kind != Kind.CRISIS_CENTRE.value or not actor.has_role(Role.ADMIN):
        raise AccessDenied(
            gettext_noop("Only a crisis-centre administrator may look up a registration (BA-7.4)."), rule="BA-7.4"
        )
    reason = " ".join((reason or "").split())
    if len(reason) < 10:
        raise RuleError(
            gettext_noop("State why you need to see this registration (at least 10 characters)."),
            field="reason",
            rule="BA-7.4",
        )
    try:
        value = normalise_email(contact) if "@" in contact else normalise_phone(contact)
    except RecipientError:
        raise RuleError(gettext_noop("This is not a phone number or e-mail address."), field="contact") from None
    found = list(Registration.objects.filter(contact_points__value=value).distinct())
    audit_record(
        action="citizen.looked_up",
        actor=actor,
        organisation_id=actor.organisation_id,
        object_type="registration",
        object_id=",".join(str(r.public_id) for r in found),
        data={"reason": reason, "found": len(found)},
        ip=ip,
    )
    return [registration_export_unaudited(r) for r in found]


def registration_export_unaudited(registration: Registration) -> dict[str, Any]:
    points = ContactPoint.objects.filter(registration=registration).order_by("id")
    return {
        "id": str(registration.public_id),
        "name": registration.name,
        "language": registration.language,
        "status": registration.status,
        "created_at": registration.created_at.isoformat(),
        "contact_points": [{"kind": p.kind, "value": p.value, "verified": bool(p.verified_at)} for p in points],
        "addresses": list(CitizenAddress.objects.filter(registration=registration).values_list("text", flat=True)),
    }


def registration_counts() -> dict[str, int]:
    """Platform-wide counts per status, for the crisis centre's dashboard."""
    rows = Registration.objects.values_list("status").order_by().annotate(n=Count("id"))
    return {status: int(n) for status, n in rows}


def people_per_municipality() -> dict[str, int]:
    """Active registrations with an address in each municipality (a person counts once per municipality)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.nis_code, count(DISTINCT a.registration_id) FROM citizens_citizenaddress a "
            "JOIN citizens_registration r ON r.id = a.registration_id AND r.status = 'active' GROUP BY a.nis_code"
        )
        return {nis: int(n) for nis, n in cursor.fetchall()}


def people_per_cell(nis_code: str) -> list[tuple[int, int]]:
    """Active registrations per grid cell of a municipality; cells with fewer than K_ANONYMITY people are left out
    (a count of one or two would point at a house)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.cell, count(DISTINCT a.registration_id) FROM citizens_citizenaddress a "
            "JOIN citizens_registration r ON r.id = a.registration_id AND r.status = 'active' "
            "WHERE a.nis_code = %s GROUP BY a.cell HAVING count(DISTINCT a.registration_id) >= %s",
            [nis_code, K_ANONYMITY],
        )
        return [(int(c), int(n)) for c, n in cursor.fetchall()]

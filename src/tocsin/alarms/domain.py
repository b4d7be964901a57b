"""Pure rules of the registry of alarm systems (meldpunt alarmsystemen), Royal Decree of 25 April 2007.

No Django import: the portal, the API, the CSV import and the CLI all come
through ``check_system`` and the functions below, so each rule is enforced
once. Every rule cites its id in MISSION.md (KB-…).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from tocsin.delivery.domain import RecipientError, normalise_email, normalise_phone
from tocsin.organisations.domain import RuleError, gettext_noop

# Art. 28: the decree came into force four months after its publication in the
# Belgisch Staatsblad of 4 June 2007, i.e. on 4 October 2007 (KB-24, KB-26).
KB_IN_FORCE = date(2007, 10, 4)

DEADLINE_DAYS = 10  # KB-7: registration, change and deregistration within 10 days
MAINTENANCE_DAYS = 365  # KB-8: every year
MAINTENANCE_REMINDER_DAYS = 30  # reminded this long before the anniversary
SIREN_ALARM_MAX_S = 180  # KB-17: 3 minutes per alarm
SIREN_SABOTAGE_MAX_S = 480  # KB-17: 8 minutes, only on sabotage
MAX_CONTACTS = 5
MAX_TEXT = 200
MAX_SKETCH_BYTES = 5 * 1024 * 1024
MAX_CONSENT_BYTES = 10 * 1024 * 1024
MAX_IMPORT_BYTES = 100 * 1024 * 1024
MAX_IMPORT_ROWS = 200_000
MAX_PATTERN = 200

DEFAULT_USER_NUMBER_PATTERN = r"[0-9A-Z]{4,16}"
DEFAULT_ARN_PATTERN = r"[0-9A-Z]{3,8}"


class SystemType(StrEnum):
    """Art. 1: goods alarm (offences against property), personal alarm (against persons), fixed or mobile."""

    GOODS = "goods"
    PERSONAL_FIXED = "personal_fixed"
    PERSONAL_MOBILE = "personal_mobile"


class PropertyNature(StrEnum):
    DWELLING = "dwelling"
    APARTMENT = "apartment"
    SHOP = "shop"
    OFFICE = "office"
    INDUSTRIAL = "industrial"
    AGRICULTURAL = "agricultural"
    PUBLIC_BUILDING = "public_building"
    SCHOOL = "school"
    HEALTHCARE = "healthcare"
    BANK = "bank"
    OTHER = "other"


class RiskNature(StrEnum):
    BURGLARY = "burglary"
    HOLD_UP = "hold_up"
    AGGRESSION = "aggression"
    VANDALISM = "vandalism"
    OTHER = "other"


class Status(StrEnum):
    ACTIVE = "active"
    DEREGISTERED = "deregistered"


class VersionKind(StrEnum):
    REGISTRATION = "registration"
    CHANGE = "change"
    DEREGISTRATION = "deregistration"
    CORRECTION = "correction"  # by the registry administration: no KB-7 deadline applies to it


class RemoteAction(StrEnum):
    PROGRAM = "program"
    READ = "read"
    ARM = "arm"
    DISARM = "disarm"


class RemotePurpose(StrEnum):
    REPAIR = "repair"
    MANAGE_ALARM = "manage_alarm"
    VERIFY = "verify"


class Party(StrEnum):
    SECURITY_COMPANY = "security_company"
    ALARM_CENTRAL = "alarm_central"


# KB-6: what each third party may do remotely, and for which purpose only.
REMOTE_ALLOWED: dict[Party, tuple[frozenset[RemoteAction], frozenset[RemotePurpose]]] = {
    Party.SECURITY_COMPANY: (frozenset({RemoteAction.PROGRAM, RemoteAction.READ}), frozenset({RemotePurpose.REPAIR})),
    Party.ALARM_CENTRAL: (
        frozenset({RemoteAction.ARM, RemoteAction.DISARM, RemoteAction.READ}),
        frozenset({RemotePurpose.MANAGE_ALARM, RemotePurpose.VERIFY}),
    ),
}


# What KB-6 lets each party do, as the refusal says it.
REMOTE_LIMITS: dict[Party, str] = {
    Party.SECURITY_COMPANY: gettext_noop(
        "A security company may only program or read a system remotely, and only to repair it (KB-6, art. 6)."
    ),
    Party.ALARM_CENTRAL: gettext_noop(
        "An alarm central may only arm, disarm or read a system remotely, and only to manage an alarm for the "
        "user or to verify one (KB-6, art. 6)."
    ),
}


class FieldErrors(RuleError):
    """Several fields refused at once: each ``RuleError`` names its field (and rule)."""

    def __init__(self, errors: list[RuleError]):
        first = errors[0]
        super().__init__(first.template, field=first.field, rule=first.rule, params=first.params)
        self.errors = errors


@dataclass(frozen=True)
class Contact:
    """A contact person: acts for the user when absent (art. 1, contact person)."""

    name: str
    phone: str
    has_access: bool = True
    knows_system: bool = True


@dataclass(frozen=True)
class SystemData:
    """The data KB-7-USER and KB-7-ARC ask for, checked and normalised.

    ``site_address_id`` is a row of the address register; ``user_number`` and
    ``alarm_report_number`` are set only for a system a central manages.
    """

    site_name: str
    site_address_id: int
    site_phone: str
    user_name: str
    user_address: str
    user_email: str
    property_nature: str
    risk_nature: str
    system_type: str
    first_use: date
    user_mobile: str = ""
    in_building: bool = True
    publicly_accessible: bool = False
    siren: bool = False
    siren_alarm_s: int = 0
    siren_sabotage_s: int = 0
    light: bool = False
    light_until_switch_off: bool = False
    notification_system: bool = False
    renewed_on: date | None = None
    installer: str = ""
    access_code_handed: bool = False
    visual_verification: bool = False
    components_safe: bool = True
    contacts: tuple[Contact, ...] = ()
    user_number: str = ""
    alarm_report_number: str = ""
    client_informed_on: date | None = None

    def as_record(self) -> dict[str, Any]:
        """A JSON-friendly dict (dates as ISO strings): what a version stores and compares."""
        out: dict[str, Any] = {}
        for key in DATA_FIELDS:
            value = getattr(self, key)
            out[key] = value.isoformat() if isinstance(value, date) else value
        out["contacts"] = [
            {"name": c.name, "phone": c.phone, "has_access": c.has_access, "knows_system": c.knows_system}
            for c in self.contacts
        ]
        return out


DATA_FIELDS = tuple(f.name for f in fields(SystemData))


def _err(message: str, name: str, rule: str | None = None, **params: object) -> RuleError:
    return RuleError(message, field=name, rule=rule, params=params or None)


# --- numbers (KB-7-ARC) -----------------------------------------------------------------


def check_pattern(pattern: str, name: str) -> str:
    """A number format set by the administration: a regular expression the whole number must match."""
    pattern = (pattern or "").strip()
    if not pattern or len(pattern) > MAX_PATTERN:
        raise _err(gettext_noop("Give a pattern of 1 to %(max)s characters."), name, max=MAX_PATTERN)
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise _err(gettext_noop("This is not a valid pattern: %(error)s."), name, error=str(exc)) from None
    if compiled.fullmatch(""):
        raise _err(gettext_noop("The pattern must not accept an empty number."), name)
    # Nested quantifiers make a pattern slow on hostile input; the formats here never need them.
    if re.search(r"\)[*+?{]", pattern) and re.search(r"[*+}]\)", pattern):
        raise _err(gettext_noop("Nested repetitions are not allowed in a number pattern."), name)
    return pattern


@lru_cache(maxsize=32)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_NUMBER_MESSAGES = {
    "user number": (
        gettext_noop("The user number is required."),
        gettext_noop("The user number does not follow the format fixed by the administration (%(pattern)s)."),
    ),
    "alarm-report number": (
        gettext_noop("The alarm-report number is required."),
        gettext_noop("The alarm-report number does not follow the format fixed by the administration (%(pattern)s)."),
    ),
}


def check_number(value: str, pattern: str, name: str, label: str) -> str:
    """KB-7-ARC: a user number or alarm-report number (``label``) in the administration's format (upper
    case, trimmed)."""
    required, malformed = _NUMBER_MESSAGES[label]
    value = (value or "").strip().upper()
    if not value:
        raise _err(required, name, "KB-7-ARC")
    if len(value) > 40 or not _compiled(pattern).fullmatch(value):
        raise _err(malformed, name, "KB-7-ARC", pattern=pattern)
    return value


# --- the rules on one system ------------------------------------------------------------


def in_scope(*, system_type: str, siren: bool, light: bool, notification_system: bool, in_building: bool) -> bool:
    """KB-2: a system with no outdoor siren, outdoor light or notification system, or a goods alarm not
    installed in a building, is outside the decree (and the registry)."""
    if not (siren or light or notification_system):
        return False
    return not (system_type == SystemType.GOODS.value and not in_building)


def check_scope(*, system_type: str, siren: bool, light: bool, notification_system: bool, in_building: bool) -> None:
    if not (siren or light or notification_system):
        raise _err(
            gettext_noop(
                "A system with no outdoor siren, outdoor light or notification system is outside the decree: "
                "it is not registered (KB-2)."
            ),
            "components",
            "KB-2",
        )
    if system_type == SystemType.GOODS.value and not in_building:
        raise _err(
            gettext_noop(
                "A goods alarm not installed in a building is outside the decree: it is not registered (KB-2)."
            ),
            "in_building",
            "KB-2",
        )


def siren_errors(
    *, siren: bool, alarm_s: int, sabotage_s: int, light: bool, light_until_switch_off: bool
) -> list[RuleError]:
    """KB-17 (durations) and KB-18 (the flashing light that goes with a siren)."""
    errors: list[RuleError] = []
    if not siren:
        if alarm_s or sabotage_s:
            errors.append(_err(gettext_noop("Durations are given only for an outdoor siren."), "siren_alarm_s"))
        return errors
    if not 1 <= alarm_s <= SIREN_ALARM_MAX_S:
        errors.append(
            _err(
                gettext_noop("An outdoor siren sounds at most 3 minutes (180 s) per alarm (KB-17, art. 17)."),
                "siren_alarm_s",
                "KB-17",
            )
        )
    if sabotage_s and not alarm_s < sabotage_s <= SIREN_SABOTAGE_MAX_S:
        errors.append(
            _err(
                gettext_noop(
                    "A longer sound, at most 8 minutes (480 s), is allowed only on sabotage; "
                    "give 0 or a duration above the alarm duration (KB-17, art. 17)."
                ),
                "siren_sabotage_s",
                "KB-17",
            )
        )
    if not light:
        errors.append(
            _err(
                gettext_noop(
                    "A system with an outdoor siren also has a flashing or rotating light visible from the street "
                    "(KB-18, art. 18)."
                ),
                "light",
                "KB-18",
            )
        )
    elif not light_until_switch_off:
        errors.append(
            _err(
                gettext_noop("The outdoor light stays lit until the alarm is switched off (KB-18, art. 18)."),
                "light_until_switch_off",
                "KB-18",
            )
        )
    return errors


def needs_visual_verification(
    *, system_type: str, publicly_accessible: bool, first_use: date, renewed_on: date | None
) -> bool:
    """KB-24: a fixed personal alarm in a publicly accessible place, installed or renewed after the decree."""
    if system_type != SystemType.PERSONAL_FIXED.value or not publicly_accessible:
        return False
    return first_use >= KB_IN_FORCE or (renewed_on is not None and renewed_on >= KB_IN_FORCE)


def _text(
    values: Mapping[str, Any], name: str, *, required: bool = True, limit: int = MAX_TEXT
) -> tuple[str, RuleError | None]:
    value = values.get(name)
    text = "" if value is None else str(value).strip()
    if "\x00" in text:
        return "", _err(gettext_noop("This field holds a character that is not allowed."), name)
    if required and not text:
        return "", _err(gettext_noop("This field is required."), name, "KB-7-USER")
    if len(text) > limit:
        return "", _err(gettext_noop("At most %(max)s characters."), name, max=limit)
    return text, None


_TRUE = {"1", "true", "yes", "y", "ja", "oui", "on", "x"}
_FALSE = {"0", "false", "no", "n", "nee", "non", "off"}


def _flag(values: Mapping[str, Any], name: str, default: bool = False) -> tuple[bool, RuleError | None]:
    value = values.get(name)
    if value is None:
        return default, None
    if isinstance(value, bool):
        return value, None
    text = str(value).strip().lower()
    if not text:
        return default, None  # an empty cell: the field's default (a missing form checkbox comes as False)
    if text in _TRUE:
        return True, None
    if text in _FALSE:
        return False, None
    return default, _err(gettext_noop("Answer yes or no."), name)


def _int(values: Mapping[str, Any], name: str) -> tuple[int, RuleError | None]:
    value = values.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0, None
    if isinstance(value, bool):
        return 0, _err(gettext_noop("Give a whole number of seconds."), name)
    try:
        number = int(str(value).strip())
    except ValueError:
        return 0, _err(gettext_noop("Give a whole number of seconds."), name)
    if not 0 <= number <= 86_400:
        return 0, _err(gettext_noop("Give a whole number of seconds."), name)
    return number, None


def parse_date(value: Any, name: str, *, required: bool = False) -> tuple[date | None, RuleError | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            return None, _err(gettext_noop("This date is required."), name, "KB-7-USER")
        return None, None
    if isinstance(value, date):
        return value, None
    try:
        return date.fromisoformat(str(value).strip()[:10]), None
    except ValueError:
        return None, _err(gettext_noop("Give a date as YYYY-MM-DD."), name)


_CHOICES: dict[type[StrEnum], frozenset[str]] = {}


def _choice(values: Mapping[str, Any], name: str, enum: type[StrEnum]) -> tuple[str, RuleError | None]:
    value = str(values.get(name) or "").strip().lower()
    if not value:
        return "", _err(gettext_noop("This field is required."), name, "KB-7-USER")
    allowed = _CHOICES.get(enum)
    if allowed is None:
        allowed = _CHOICES[enum] = frozenset(e.value for e in enum)
    if value not in allowed:
        return "", _err(gettext_noop("Choose one of: %(choices)s."), name, choices=", ".join(e.value for e in enum))
    return value, None


@lru_cache(maxsize=65536)
def _phone_cached(raw: str) -> str:
    return normalise_phone(raw)


def _phone(values: Mapping[str, Any], name: str, *, required: bool) -> tuple[str, RuleError | None]:
    raw = str(values.get(name) or "").strip()
    if not raw:
        if required:
            return "", _err(gettext_noop("This field is required."), name, "KB-7-USER")
        return "", None
    try:
        return _phone_cached(raw), None
    except RecipientError:
        return "", _err(gettext_noop("This is not a valid phone number."), name)


def check_dates(*, first_use: date | None, today: date, name: str = "first_use") -> RuleError | None:
    if first_use is None:
        return None
    if first_use > today:
        return _err(
            gettext_noop("The first use cannot be in the future: register within 10 days after it (KB-7)."),
            name,
            "KB-7-USER",
        )
    if first_use.year < 1970:
        return _err(gettext_noop("This date is not plausible."), name)
    return None


def system_errors(
    values: Mapping[str, Any],
    *,
    today: date,
    managed: bool,
    user_number_pattern: str = DEFAULT_USER_NUMBER_PATTERN,
    arn_pattern: str = DEFAULT_ARN_PATTERN,
) -> tuple[dict[str, Any], list[RuleError]]:
    """Check every field of one system; returns the clean values (minus the site address, which the
    register resolves) and every problem found, one per field, each naming its rule where one applies.

    ``managed``: registered by an alarm central or internal alarm service (KB-7-ARC): the user number,
    the alarm-report number and the record of the client's information (KB-4) are then required.
    """
    errors: list[RuleError] = []
    clean: dict[str, Any] = {}

    def take(pair: tuple[Any, RuleError | None], name: str) -> None:
        value, error = pair
        clean[name] = value
        if error is not None:
            errors.append(error)

    for name in ("site_name", "user_name", "user_address"):
        take(_text(values, name), name)
    take(_text(values, "installer", required=False), "installer")
    take(_phone(values, "site_phone", required=True), "site_phone")
    take(_phone(values, "user_mobile", required=False), "user_mobile")
    raw_email = str(values.get("user_email") or "").strip()
    if not raw_email:
        errors.append(_err(gettext_noop("This field is required."), "user_email", "KB-7-USER"))
        clean["user_email"] = ""
    else:
        try:
            # Lower case whole: the address is how a user signs in and finds their systems.
            clean["user_email"] = normalise_email(raw_email).lower()
        except RecipientError:
            clean["user_email"] = ""
            errors.append(_err(gettext_noop("This is not an e-mail address."), "user_email"))
    take(_choice(values, "property_nature", PropertyNature), "property_nature")
    take(_choice(values, "risk_nature", RiskNature), "risk_nature")
    take(_choice(values, "system_type", SystemType), "system_type")
    for name, default in (
        ("in_building", True),
        ("publicly_accessible", False),
        ("siren", False),
        ("light", False),
        ("light_until_switch_off", False),
        ("notification_system", False),
        ("access_code_handed", False),
        ("visual_verification", False),
        ("components_safe", False),
    ):
        take(_flag(values, name, default), name)
    take(_int(values, "siren_alarm_s"), "siren_alarm_s")
    take(_int(values, "siren_sabotage_s"), "siren_sabotage_s")
    take(parse_date(values.get("first_use"), "first_use", required=True), "first_use")
    take(parse_date(values.get("renewed_on"), "renewed_on"), "renewed_on")
    take(parse_date(values.get("client_informed_on"), "client_informed_on"), "client_informed_on")

    first_use = clean["first_use"]
    error = check_dates(first_use=first_use, today=today)
    if error:
        errors.append(error)
    renewed = clean["renewed_on"]
    if renewed and (renewed > today or (first_use and renewed < first_use)):
        errors.append(_err(gettext_noop("The renewal date lies between the first use and today."), "renewed_on"))

    if not (clean["siren"] or clean["light"] or clean["notification_system"]) or clean["system_type"]:
        try:
            check_scope(
                system_type=clean["system_type"],
                siren=clean["siren"],
                light=clean["light"],
                notification_system=clean["notification_system"],
                in_building=clean["in_building"],
            )
        except RuleError as exc:
            errors.append(exc)
    errors.extend(
        siren_errors(
            siren=clean["siren"],
            alarm_s=clean["siren_alarm_s"],
            sabotage_s=clean["siren_sabotage_s"],
            light=clean["light"],
            light_until_switch_off=clean["light_until_switch_off"],
        )
    )
    if not clean["components_safe"]:
        errors.append(
            _err(
                gettext_noop(
                    "No component may hinder the emergency services or injure people: confirm it (KB-9, art. 9)."
                ),
                "components_safe",
                "KB-9",
            )
        )
    if (
        first_use
        and clean["system_type"]
        and not clean["visual_verification"]
        and needs_visual_verification(
            system_type=clean["system_type"],
            publicly_accessible=clean["publicly_accessible"],
            first_use=first_use,
            renewed_on=renewed,
        )
    ):
        errors.append(
            _err(
                gettext_noop(
                    "A fixed personal alarm in a publicly accessible place, installed or renewed since "
                    "4 October 2007, must allow visual verification (KB-24, art. 24)."
                ),
                "visual_verification",
                "KB-24",
            )
        )
    if clean["system_type"] == SystemType.PERSONAL_MOBILE.value:
        clean["in_building"] = False

    contacts, contact_errors = _contacts(values.get("contacts") or ())
    clean["contacts"] = contacts
    errors.extend(contact_errors)

    if managed:
        try:
            clean["user_number"] = check_number(
                str(values.get("user_number") or ""), user_number_pattern, "user_number", "user number"
            )
        except RuleError as exc:
            clean["user_number"] = ""
            errors.append(exc)
        try:
            clean["alarm_report_number"] = check_number(
                str(values.get("alarm_report_number") or ""), arn_pattern, "alarm_report_number", "alarm-report number"
            )
        except RuleError as exc:
            clean["alarm_report_number"] = ""
            errors.append(exc)
        informed = clean["client_informed_on"]
        if informed is None:
            errors.append(
                _err(
                    gettext_noop(
                        "Record the date the client was informed of the rules of the decree at contract signature "
                        "(KB-4, art. 4)."
                    ),
                    "client_informed_on",
                    "KB-4",
                )
            )
        elif informed > today:
            errors.append(_err(gettext_noop("This date cannot be in the future."), "client_informed_on", "KB-4"))
    else:
        clean["user_number"] = ""
        clean["alarm_report_number"] = ""
    return clean, errors


def _contacts(raw: Any) -> tuple[tuple[Contact, ...], list[RuleError]]:
    errors: list[RuleError] = []
    out: list[Contact] = []
    if not isinstance(raw, (list, tuple)):
        return (), [_err(gettext_noop("Give a list of contact persons."), "contacts")]
    if len(raw) > MAX_CONTACTS:
        return (), [_err(gettext_noop("At most %(max)s contact persons."), "contacts", max=MAX_CONTACTS)]
    for i, item in enumerate(raw):
        if isinstance(item, Contact):
            item = asdict(item)
        if not isinstance(item, Mapping):
            errors.append(_err(gettext_noop("Give a name and a phone number."), f"contacts[{i}]"))
            continue
        name, e1 = _text(item, "name")
        phone, e2 = _phone(item, "phone", required=True)
        access, e3 = _flag(item, "has_access", True)
        knows, e4 = _flag(item, "knows_system", True)
        bad = [e for e in (e1, e2, e3, e4) if e]
        for e in bad:
            errors.append(RuleError(e.template, field=f"contacts[{i}].{e.field}", rule=e.rule, params=e.params))
        if not bad:
            out.append(Contact(name=name, phone=phone, has_access=access, knows_system=knows))
    return tuple(out), errors


def system_data(clean: Mapping[str, Any], site_address_id: int) -> SystemData:
    values = {k: v for k, v in clean.items() if k in DATA_FIELDS}
    values["site_address_id"] = site_address_id
    return SystemData(**values)


def record_of(clean: Mapping[str, Any], site_address_id: int) -> dict[str, Any]:
    """``system_data(clean, site).as_record()`` without building the dataclass (the bulk import's path)."""
    out: dict[str, Any] = {}
    for key in DATA_FIELDS:
        value = site_address_id if key == "site_address_id" else clean[key]
        out[key] = value.isoformat() if isinstance(value, date) else value
    out["contacts"] = [
        {"name": c.name, "phone": c.phone, "has_access": c.has_access, "knows_system": c.knows_system}
        for c in clean["contacts"]
    ]
    return out


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """What changed between two records: ``{field: [old, new]}``."""
    return {k: [old.get(k), new.get(k)] for k in new if old.get(k) != new.get(k)}


# --- deadlines (KB-7) and maintenance (KB-8) ------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    event_on: date  # first use, change, taking out of use
    due_on: date
    declared_on: date

    @property
    def late_days(self) -> int:
        return max(0, (self.declared_on - self.due_on).days)

    @property
    def on_time(self) -> bool:
        return self.late_days == 0


def deadline(event_on: date, declared_on: date) -> Deadline:
    """KB-7: the registry is told within 10 days of the event."""
    return Deadline(event_on=event_on, due_on=event_on + timedelta(days=DEADLINE_DAYS), declared_on=declared_on)


def check_event_date(
    event_on: date | None, *, today: date, not_before: date | None, name: str, kind: VersionKind
) -> date:
    """The date of a change or of taking out of use: known, not in the future, not before the first use."""
    if event_on is None:
        return today
    if event_on > today:
        raise _err(gettext_noop("This date cannot be in the future."), name, "KB-7-USER")
    if not_before is not None and event_on < not_before:
        if kind is VersionKind.DEREGISTRATION:
            raise _err(
                gettext_noop("A system cannot be taken out of use before its first use (%(first_use)s)."),
                name,
                "KB-7-USER",
                first_use=not_before.isoformat(),
            )
        raise _err(
            gettext_noop("A change cannot predate the first use (%(first_use)s)."),
            name,
            "KB-7-USER",
            first_use=not_before.isoformat(),
        )
    return event_on


def maintenance_due(first_use: date, last_maintenance: date | None) -> date:
    """KB-8: maintained every year: a year after the last maintenance, or after the first use."""
    return (last_maintenance or first_use) + timedelta(days=MAINTENANCE_DAYS)


def check_maintenance(done_on: date | None, *, today: date, first_use: date) -> date:
    if done_on is None:
        raise _err(gettext_noop("This date is required."), "done_on", "KB-8")
    if done_on > today:
        raise _err(gettext_noop("This date cannot be in the future."), "done_on", "KB-8")
    if done_on < first_use:
        raise _err(gettext_noop("Maintenance cannot predate the first use."), "done_on", "KB-8")
    return done_on


# --- remote actions (KB-6) -----------------------------------------------------------------


@dataclass(frozen=True)
class ConsentScope:
    actions: frozenset[RemoteAction]
    purposes: frozenset[RemotePurpose]


def check_consent_scope(party: Party, actions: list[str], purposes: list[str]) -> ConsentScope:
    """KB-6: a consent may not grant a party more than the decree lets it do."""
    allowed_actions, allowed_purposes = REMOTE_ALLOWED[party]
    try:
        acts = frozenset(RemoteAction(a) for a in actions)
        purps = frozenset(RemotePurpose(p) for p in purposes)
    except ValueError:
        raise _err(gettext_noop("Unknown action or purpose."), "actions", "KB-6") from None
    if not acts:
        raise _err(gettext_noop("Choose at least one action."), "actions", "KB-6")
    if not purps:
        raise _err(gettext_noop("Choose at least one purpose."), "purposes", "KB-6")
    if not acts <= allowed_actions:
        raise _err(REMOTE_LIMITS[party], "actions", "KB-6")
    if not purps <= allowed_purposes:
        raise _err(REMOTE_LIMITS[party], "purposes", "KB-6")
    return ConsentScope(acts, purps)


def check_remote_action(
    party: Party, action: str, purpose: str, consent: ConsentScope | None
) -> tuple[RemoteAction, RemotePurpose]:
    """KB-6: a remote action needs the user's prior written consent covering it, and the decree's purpose."""
    try:
        act = RemoteAction(action)
    except ValueError:
        raise _err(gettext_noop("Unknown action."), "action", "KB-6") from None
    try:
        purp = RemotePurpose(purpose)
    except ValueError:
        raise _err(gettext_noop("Unknown purpose."), "purpose", "KB-6") from None
    allowed_actions, allowed_purposes = REMOTE_ALLOWED[party]
    if act not in allowed_actions or purp not in allowed_purposes:
        raise _err(REMOTE_LIMITS[party], "action", "KB-6")
    if consent is None:
        raise _err(
            gettext_noop("No prior written consent of the user covers remote actions by you (KB-6, art. 6)."),
            "consent",
            "KB-6",
        )
    if act not in consent.actions or purp not in consent.purposes:
        raise _err(
            gettext_noop("The user's written consent does not cover this action or purpose (KB-6, art. 6)."),
            "consent",
            "KB-6",
        )
    return act, purp


# --- CSV (centrals' bulk registration, KB-7-ARC) -------------------------------------------

CSV_COLUMNS = (
    "user_number",
    "alarm_report_number",
    "site_name",
    "site_street",
    "site_house_number",
    "site_box",
    "site_postcode",
    "site_phone",
    "user_name",
    "user_address",
    "user_mobile",
    "user_email",
    "property_nature",
    "risk_nature",
    "system_type",
    "in_building",
    "publicly_accessible",
    "siren",
    "siren_alarm_s",
    "siren_sabotage_s",
    "light",
    "light_until_switch_off",
    "notification_system",
    "first_use",
    "renewed_on",
    "installer",
    "access_code_handed",
    "visual_verification",
    "components_safe",
    "client_informed_on",
    "contact1_name",
    "contact1_phone",
    "contact2_name",
    "contact2_phone",
    "contact3_name",
    "contact3_phone",
    "changed_on",
    "out_of_use",
)
CSV_REQUIRED = ("user_number", "site_street", "site_house_number", "site_postcode")


@dataclass
class CsvRow:
    line: int
    values: dict[str, Any] = field(default_factory=dict)


def read_csv(data: bytes | str) -> Iterator[CsvRow]:
    """Rows of a central's CSV (UTF-8, comma or semicolon, a header naming the columns)."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    first = text[: text.find("\n")] if "\n" in text else text
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise _err(gettext_noop("The file is empty."), "file")
    names = [h.strip().lower() for h in header]
    missing = [c for c in CSV_REQUIRED if c not in names]
    if missing:
        raise _err(gettext_noop("The header lacks the column(s) %(columns)s."), "file", columns=", ".join(missing))
    unknown = [n for n in names if n and n not in CSV_COLUMNS]
    if unknown:
        raise _err(gettext_noop("Unknown column(s) %(columns)s."), "file", columns=", ".join(unknown))
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        values: dict[str, Any] = dict(zip(names, cells, strict=False))
        contacts = []
        for i in (1, 2, 3):
            name = (values.pop(f"contact{i}_name", "") or "").strip()
            phone = (values.pop(f"contact{i}_phone", "") or "").strip()
            if name or phone:
                contacts.append({"name": name, "phone": phone})
        values["contacts"] = contacts
        yield CsvRow(line=line, values=values)


def csv_header() -> str:
    return ",".join(CSV_COLUMNS) + "\n"

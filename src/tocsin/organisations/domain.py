"""Pure rules about organisations, roles and lifecycles (no Django import).

Each rule cites its id in MISSION.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum


class Kind(StrEnum):
    CRISIS_CENTRE = "crisis_centre"
    MUNICIPALITY = "municipality"
    GOVERNOR = "governor"  # governor's federal emergency-planning service
    POLICE_ZONE = "police_zone"
    OTHER_TYPE2 = "other_type2"
    ALARM_CENTRAL = "alarm_central"
    INTERNAL_ALARM_SERVICE = "internal_alarm_service"
    SECURITY_COMPANY = "security_company"
    EMERGENCY_CENTRE = "emergency_centre"
    REGISTRY_ADMIN = "registry_admin"


# BA-4-T1: municipalities and governors' services alert lists *and* citizens.
TYPE1 = frozenset({Kind.MUNICIPALITY, Kind.GOVERNOR})
# BA-4-T2: police zones and other type-2 entities alert predefined lists only.
TYPE2 = frozenset({Kind.POLICE_ZONE, Kind.OTHER_TYPE2})
ALERTING = TYPE1 | TYPE2
ALARM_CENTRALS = frozenset({Kind.ALARM_CENTRAL, Kind.INTERNAL_ALARM_SERVICE})


class Audience(StrEnum):
    CONTACT_LISTS = "contact_lists"
    CITIZENS = "citizens"
    BIN_GROUPS = "bin_groups"


class Status(StrEnum):
    REQUESTED = "requested"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"
    ARC_OPERATOR = "arc_operator"
    EC_OPERATOR = "ec_operator"


def gettext_noop(message: str) -> str:
    """Marks a message for the translation catalogues (xgettext knows this name).

    The domain stays free of Django: errors carry the English template and its
    parameters, and the portal or the API translates them for the person
    (``tocsin.i18n.localise``).
    """
    return message


class Explained(Exception):
    """An error whose text is a template with ``%(name)s`` fields, translated where it is shown."""

    def __init__(self, message: str, params: dict[str, object] | None = None):
        self.template = message
        self.params = dict(params or {})
        self.message = message % self.params if self.params else message
        super().__init__(self.message)


class RuleError(Explained, ValueError):
    """A rule of MISSION.md (or a field constraint) refused the request."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        rule: str | None = None,
        params: dict[str, object] | None = None,
    ):
        super().__init__(message, params)
        self.field = field
        self.rule = rule


def entity_type(kind: Kind) -> int | None:
    """1 or 2 under BA-4 for alerting entities, None for the other actors."""
    if kind in TYPE1:
        return 1
    if kind in TYPE2:
        return 2
    return None


def allowed_audiences(kind: Kind, *, bin_option: bool) -> frozenset[Audience]:
    """What an entity may target.

    BA-4-T1: type 1 → contact lists and citizens.
    BA-4-T2: type 2 → contact lists only.
    BA-7-BIN: the BIN option adds the citizens of the entity's own BIN groups,
    and only those (never all citizens).
    BA-7-LISTS: own lists are unlimited, so no quota is part of this answer.
    """
    audiences: set[Audience] = set()
    if kind in ALERTING:
        audiences.add(Audience.CONTACT_LISTS)
    if kind in TYPE1:
        audiences.add(Audience.CITIZENS)
    if bin_option and kind in ALERTING:
        audiences.add(Audience.BIN_GROUPS)
    return frozenset(audiences)


def check_may_target(kind: Kind, audience: Audience, *, bin_option: bool) -> None:
    if audience in allowed_audiences(kind, bin_option=bin_option):
        return
    if audience is Audience.CITIZENS:
        raise RuleError(
            gettext_noop("Only type-1 entities (municipalities, governors) may alert citizens directly."),
            field="audience",
            rule="BA-4-T2",
        )
    if audience is Audience.BIN_GROUPS:
        raise RuleError(
            gettext_noop("Only an alerting entity with the BIN option may alert BIN groups."),
            field="audience",
            rule="BA-7-BIN",
        )
    raise RuleError(gettext_noop("This organisation may not send alerts."), field="audience", rule="BA-4-T1")


# Lifecycle (BA-7.4 cutting access; BA-8-ACTIVATION): explicit transition table.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.REQUESTED: frozenset({Status.ACTIVE, Status.TERMINATED}),
    Status.ACTIVE: frozenset({Status.SUSPENDED, Status.TERMINATED}),
    Status.SUSPENDED: frozenset({Status.ACTIVE, Status.TERMINATED}),
    Status.TERMINATED: frozenset(),
}


def check_transition(current: Status, target: Status) -> None:
    if target not in TRANSITIONS[current]:
        raise RuleError(
            gettext_noop("An organisation that is %(current)s cannot become %(target)s."),
            field="status",
            params={"current": current.value, "target": target.value},
        )


# Roles: what each may do. 2FA is mandatory for anyone who can launch an alert
# or see personal data (BA-7.4).
ROLE_CAN_ALERT = frozenset({Role.ADMIN, Role.OPERATOR})
ROLE_SEES_PERSONAL_DATA = frozenset({Role.ADMIN, Role.OPERATOR, Role.ARC_OPERATOR, Role.EC_OPERATOR})

ROLES_FOR_KIND: dict[Kind, frozenset[Role]] = {
    kind: frozenset({Role.ADMIN, Role.OPERATOR, Role.VIEWER}) for kind in Kind
}
ROLES_FOR_KIND[Kind.ALARM_CENTRAL] = frozenset({Role.ADMIN, Role.VIEWER, Role.ARC_OPERATOR})
ROLES_FOR_KIND[Kind.INTERNAL_ALARM_SERVICE] = ROLES_FOR_KIND[Kind.ALARM_CENTRAL]
ROLES_FOR_KIND[Kind.EMERGENCY_CENTRE] = frozenset({Role.ADMIN, Role.VIEWER, Role.EC_OPERATOR})


def requires_2fa(roles: Iterable[str]) -> bool:
    return any(Role(r) in ROLE_SEES_PERSONAL_DATA or Role(r) in ROLE_CAN_ALERT for r in roles)


def check_roles(kind: Kind, roles: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(roles))
    if not chosen:
        raise RuleError(gettext_noop("Choose at least one role."), field="roles")
    allowed = ROLES_FOR_KIND[kind]
    for r in chosen:
        try:
            role = Role(r)
        except ValueError:
            raise RuleError(gettext_noop("Unknown role %(role)s."), field="roles", params={"role": repr(r)}) from None
        if role not in allowed:
            raise RuleError(
                gettext_noop("The role %(role)s does not exist in this kind of organisation."),
                field="roles",
                params={"role": role.value},
            )
    return chosen


_SENDER = re.compile(r"^[A-Za-z0-9 .\-]{1,11}$")
_NIS = re.compile(r"^\d{5}$")
LANGS = ("nl", "fr", "de", "en")


def check_activation(
    kind: Kind,
    *,
    recognition_reference: str,
    nis_code: str,
    sms_sender: str,
    languages: Iterable[str],
) -> None:
    """The entity-specific parameters an activation needs (BA-8-ACTIVATION, KB-3)."""
    if kind is Kind.INTERNAL_ALARM_SERVICE and not recognition_reference.strip():
        raise RuleError(
            gettext_noop(
                "An internal alarm service is activated only once the minister has recognised it: "
                "enter the reference of the recognition."
            ),
            field="recognition_reference",
            rule="KB-3",
        )
    langs = list(languages)
    if any(lang not in LANGS for lang in langs):
        raise RuleError(
            gettext_noop("Choose the alert languages among nl, fr, de and en."),
            field="languages",
            rule="BA-8-ACTIVATION",
        )
    if nis_code and not _NIS.match(nis_code):
        raise RuleError(
            gettext_noop("A municipality needs its 5-digit NIS code."), field="nis_code", rule="BA-8-ACTIVATION"
        )
    if sms_sender and not _SENDER.match(sms_sender):
        raise RuleError(
            gettext_noop("The SMS sender name is 1 to 11 letters, digits, spaces, dots or hyphens."),
            field="sms_sender",
            rule="BA-8-ACTIVATION",
        )
    if kind is Kind.MUNICIPALITY and not _NIS.match(nis_code):
        raise RuleError(
            gettext_noop("A municipality needs its 5-digit NIS code."), field="nis_code", rule="BA-8-ACTIVATION"
        )
    if kind in ALERTING:
        if not _SENDER.match(sms_sender):
            raise RuleError(
                gettext_noop("The SMS sender name is 1 to 11 letters, digits, spaces, dots or hyphens."),
                field="sms_sender",
                rule="BA-8-ACTIVATION",
            )
        if not langs:
            raise RuleError(
                gettext_noop("Choose the alert languages among nl, fr, de and en."),
                field="languages",
                rule="BA-8-ACTIVATION",
            )

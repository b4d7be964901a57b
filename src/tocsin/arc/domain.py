"""Pure rules of an alarm central's work, from signal to police (issue 9), Royal Decree of 25 April 2007.

No Django import. The operator console, the API and the emergency desk all come through the functions
below, so each rule is enforced once; every refusal names its rule (KB-…) and the field it is about.

- ``classify`` reads one received event: what kind of alarm it is (fire, personal, burglary, technical,
  supervision), its priority, and whether it restores an earlier one.
- ``ACTION_PLANS`` are the steps an operator completes (or skips with a reason) per kind.
- ``check_notification`` decides what the law allows an alarm central to notify, how and when
  (KB-10 … KB-13, KB-20, KB-22, KB-23, KB-25); ``dataset`` assembles what the notification states
  (KB-14, KB-23) and ``missing_items`` is what the emergency desk checks (KB-16).
- ``check_outcome`` is the desk's outcome (KB-19).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tocsin.organisations.domain import RuleError, gettext_noop
from tocsin.protocols.sia_codes import CONTACT_ID_CODES, SIA_CODES

MAX_NOTE = 2000
MAX_REASON = 500


class Category(StrEnum):
    """What an alarm case is about, in the order operators take them (1 first)."""

    FIRE = "fire"
    PERSONAL = "personal"  # panic, duress, hold-up, a personal alarm's button
    BURGLARY = "burglary"  # intrusion, attempt, tamper
    TECHNICAL = "technical"  # trouble, gas, water, temperature
    SUPERVISION = "supervision"  # a panel late to test (communications failure)


PRIORITY: Mapping[Category, int] = {
    Category.FIRE: 1,
    Category.PERSONAL: 2,
    Category.BURGLARY: 3,
    Category.TECHNICAL: 4,
    Category.SUPERVISION: 5,
}

# SIA DC-04: the first letter of an alarm code names its family.
_SIA_FAMILY: Mapping[str, Category] = {
    "F": Category.FIRE, "K": Category.FIRE, "S": Category.FIRE,  # fire, heat, sprinkler
    "P": Category.PERSONAL, "H": Category.PERSONAL, "Q": Category.PERSONAL, "M": Category.PERSONAL,
    "B": Category.BURGLARY, "T": Category.BURGLARY, "D": Category.BURGLARY, "J": Category.BURGLARY,
    "E": Category.BURGLARY, "C": Category.BURGLARY, "U": Category.BURGLARY, "X": Category.BURGLARY,
}  # fmt: skip


def _cid_category(code: int) -> Category:
    if 110 <= code <= 119:
        return Category.FIRE
    if 100 <= code <= 109 or 120 <= code <= 129:
        return Category.PERSONAL
    if 130 <= code <= 149 or code in (374, 423, 457, 459, 461):
        return Category.BURGLARY
    return Category.TECHNICAL


@dataclass(frozen=True, slots=True)
class Classified:
    """One received event read for the operators."""

    category: Category | None  # None: no alarm case (an opening, a closing, a test, a status report)
    restore: bool  # it restores an earlier alarm or trouble of the same family and zone
    family: str  # what a restore must share with what it restores (SIA: the code's letter; CID: the code)
    zone: str
    code: str
    description: str

    @property
    def priority(self) -> int:
        return PRIORITY[self.category] if self.category else 9


def classify(event: Mapping[str, Any]) -> Classified:
    """An event as the receiver stored it (``code``, ``zone``, for Contact ID ``qualifier``/``restore``)."""
    code = str(event.get("code") or "")
    zone = str(event.get("zone") or "")
    description = str(event.get("description") or "")
    if code.isdigit():  # Contact ID
        entry = CONTACT_ID_CODES.get(code)
        kind = entry.kind if entry else "other"
        restore = bool(event.get("restore")) or event.get("qualifier") == 3
        if kind in ("alarm", "trouble"):
            category = _cid_category(int(code)) if kind == "alarm" else Category.TECHNICAL
            return Classified(category if not restore else None, restore, code, zone, code, description)
        return Classified(None, False, code, zone, code, description)
    sia = SIA_CODES.get(code)
    kind = sia.kind if sia else "other"
    family = code[:1]
    if kind == "alarm":
        return Classified(_SIA_FAMILY.get(family, Category.TECHNICAL), False, family, zone, code, description)
    if kind == "trouble":
        return Classified(Category.TECHNICAL, False, family, zone, code, description)
    if kind == "restore":
        return Classified(None, True, family, zone, code, description)
    return Classified(None, False, family, zone, code, description)


# --------------------------------------------------------------------------------------- action plans


class Step(StrEnum):
    VERIFY = "verify"  # KB-13 / KB-23: verify by an approved method
    CALL_USER = "call_user"  # call the user or a contact person
    NOTIFY = "notify"  # notify the emergency number (only as the law allows)
    ON_SITE = "on_site"  # KB-15: someone on site for the police, able to let them in and switch off
    CALL_FIRE_SERVICE = "call_fire_service"  # a confirmed fire: 112
    INFORM_USER = "inform_user"  # a technical fault: tell the user
    TECHNICIAN = "technician"  # send the security company


ACTION_PLANS: Mapping[Category, tuple[Step, ...]] = {
    Category.FIRE: (Step.CALL_USER, Step.CALL_FIRE_SERVICE, Step.ON_SITE),
    Category.PERSONAL: (Step.VERIFY, Step.NOTIFY, Step.ON_SITE),
    Category.BURGLARY: (Step.VERIFY, Step.CALL_USER, Step.NOTIFY, Step.ON_SITE),
    Category.TECHNICAL: (Step.INFORM_USER, Step.TECHNICIAN),
    Category.SUPERVISION: (Step.CALL_USER, Step.TECHNICIAN),
}


@dataclass(frozen=True, slots=True)
class StepState:
    step: str
    done: bool = False
    skipped_reason: str = ""


def check_close(steps: Iterable[StepState], reason: str) -> list[RuleError]:
    """A case closes only when every step of its plan is done or skipped with a reason."""
    errors = []
    open_steps = [s.step for s in steps if not s.done and not s.skipped_reason.strip()]
    if open_steps:
        errors.append(
            RuleError(
                gettext_noop("Complete or skip (with a reason) every step first: %(steps)s."),
                field="steps",
                params={"steps": ", ".join(open_steps)},
            )
        )
    if not reason.strip():
        errors.append(RuleError(gettext_noop("Say why the case is closed."), field="reason"))
    return errors


def check_skip(reason: str) -> list[RuleError]:
    text = reason.strip()
    if not text or len(text) > MAX_REASON:
        return [RuleError(gettext_noop("Give the reason for skipping this step (at most 500 characters)."),
                          field="reason")]  # fmt: skip
    return []


# --------------------------------------------------------------------------------------- verification


class Outcome(StrEnum):
    """What a verification found."""

    CONFIRMED = "confirmed"  # goods: an intrusion or an attempt; personal: signs of violence, coercion, threat
    NOT_CONFIRMED = "not_confirmed"  # a false alarm
    INCONCLUSIVE = "inconclusive"


class Finding(StrEnum):
    """KB-13 (goods) and KB-23 (personal): what a confirmed verification established."""

    INTRUSION = "intrusion"
    ATTEMPT = "attempt"  # an attempted intrusion, or an attempt on a person
    VIOLENCE = "violence"
    COERCION = "coercion"
    THREAT = "threat"
    OTHER = "other"  # something else (a medical emergency, a fire…): not an offence the decree covers


GOODS_FINDINGS = frozenset({Finding.INTRUSION, Finding.ATTEMPT})  # KB-13
PERSONAL_FINDINGS = frozenset({Finding.VIOLENCE, Finding.COERCION, Finding.THREAT, Finding.ATTEMPT})  # KB-23

DEFAULT_METHODS: tuple[tuple[str, str, bool, bool], ...] = (
    # code, English name, usable for goods alarms, usable for personal alarms. The approved list is set by
    # ministerial decision: the registry administration keeps it (these are where a new platform starts).
    ("SEQ", "Sequential detection (a second detector in the same system)", True, False),
    ("AUD", "Audio verification (listening in)", True, True),
    ("VIS", "Visual verification (camera images)", True, True),
    ("CBU", "Call-back to the user", True, True),
    ("CBC", "Call-back to a contact person", True, True),
    ("GRD", "Guard or security agent on site", True, True),
)


@dataclass(frozen=True, slots=True)
class Verification:
    method: str  # its verification code
    outcome: Outcome
    finding: Finding | None = None
    approved_for_goods: bool = True
    approved_for_personal: bool = True
    active: bool = True


def check_verification(*, personal: bool, method: Verification, note: str = "") -> list[RuleError]:
    """A verification recorded by the operator: an approved method (KB-13/KB-23), a finding that fits."""
    errors = []
    approved = method.active and (method.approved_for_personal if personal else method.approved_for_goods)
    if not approved:
        errors.append(
            RuleError(
                gettext_noop("This method is not approved for this kind of alarm."),
                field="method",
                rule="KB-23" if personal else "KB-13",
            )
        )
    if method.outcome is Outcome.CONFIRMED and method.finding is None:
        errors.append(RuleError(gettext_noop("Say what the verification established."), field="finding"))
    if len(note) > MAX_NOTE:
        errors.append(RuleError(gettext_noop("At most 2,000 characters."), field="note"))
    return errors


# --------------------------------------------------------------------------------------- notification


class Channel(StrEnum):
    PHONE = "phone"  # KB-12: a real-time phone conversation with the emergency number's operator
    DIRECT = "direct"  # KB-10: the central's direct emergency number (a structured notification)
    FORWARD = "forward"  # KB-11 exception: the signal itself, for police stations and the National Bank


@dataclass(frozen=True)
class NotificationRequest:
    system_type: str  # goods, personal_fixed, personal_mobile (tocsin.alarms.domain.SystemType)
    channel: Channel
    verifications: Sequence[Verification]
    direct_number: str | None  # the central's direct emergency number (KB-10), if it has one
    direct_signal_exception: bool = False  # KB-11: police station or National Bank
    central_kind: str = "alarm_central"

    @property
    def personal(self) -> bool:
        return self.system_type != "goods"


def _confirmed(verifications: Sequence[Verification], personal: bool) -> Verification | None:
    wanted = PERSONAL_FINDINGS if personal else GOODS_FINDINGS
    for v in verifications:
        approved = v.active and (v.approved_for_personal if personal else v.approved_for_goods)
        if approved and v.outcome is Outcome.CONFIRMED and v.finding in wanted:
            return v
    return None


def check_notification(req: NotificationRequest) -> tuple[Verification | None, list[RuleError]]:
    """Whether this notification is lawful: the verification that supports it, or the rules it breaks."""
    errors: list[RuleError] = []
    if req.channel is Channel.FORWARD:
        if req.personal:
            errors.append(RuleError(gettext_noop("A personal alarm's signals never go to the emergency number "
                                                 "directly."), field="channel", rule="KB-20"))  # fmt: skip
        elif not req.direct_signal_exception:
            errors.append(RuleError(gettext_noop("Signals of a goods alarm never go to the police or the emergency "
                                                 "number directly; only systems in police stations and the "
                                                 "National Bank may."), field="channel", rule="KB-11"))  # fmt: skip
        return None, errors
    if req.personal:
        if req.channel is not Channel.DIRECT:
            errors.append(RuleError(gettext_noop("A personal alarm is notified only to the direct emergency "
                                                 "number, never by calling 101 or 112."), field="channel",
                                    rule="KB-22"))  # fmt: skip
        elif not req.direct_number:
            errors.append(RuleError(gettext_noop("Your central has no direct emergency number: it cannot notify "
                                                 "personal alarms."), field="channel", rule="KB-22"))  # fmt: skip
        if any(v.outcome is Outcome.CONFIRMED and v.finding is Finding.OTHER for v in req.verifications) and not (
            _confirmed(req.verifications, True)
        ):
            errors.append(RuleError(gettext_noop("A personal alarm is for offences against persons only: for "
                                                 "anything else, the person calls 112 themselves."),
                                    field="finding", rule="KB-25"))  # fmt: skip
        supporting = _confirmed(req.verifications, True)
        if supporting is None and not any(e.rule == "KB-25" for e in errors):
            errors.append(RuleError(gettext_noop("Notify only after an approved method verified signs of "
                                                 "violence, coercion, threat or an attempt."), field="verification",
                                    rule="KB-23"))  # fmt: skip
        return supporting, errors
    if req.channel is Channel.DIRECT and not req.direct_number:
        errors.append(RuleError(gettext_noop("Your central has no direct emergency number: notify by phone, in a "
                                             "real-time conversation."), field="channel", rule="KB-12"))  # fmt: skip
    supporting = _confirmed(req.verifications, False)
    if supporting is None:
        errors.append(RuleError(gettext_noop("A goods alarm is notified only when an approved method verified an "
                                             "intrusion or an attempt."), field="verification",
                                rule="KB-13"))  # fmt: skip
    return supporting, errors


# Items of the data set, in the order the law lists them.
GOODS_ITEMS = ("alarm_report_number", "user_number", "intrusion", "verification_code", "detection_code")  # KB-14
PERSONAL_ITEMS = ("alarm_report_number", "user_number", "verification_code", "detection_code", "incident")  # KB-23


@dataclass(frozen=True)
class DataSet:
    """What a notification states. ``items`` keeps the law's items; ``extra`` what helps the police."""

    kind: str  # goods | personal
    items: Mapping[str, str]
    extra: Mapping[str, Any] = field(default_factory=dict)


def dataset(
    *,
    system_type: str,
    alarm_report_number: str,
    user_number: str,
    verification: Verification | None,
    detection_codes: Sequence[str],
    incident: str = "",
    extra: Mapping[str, Any] | None = None,
) -> DataSet:
    """KB-14 (goods) or KB-23 (personal): the notification's statements, from the case."""
    code = verification.method if verification else ""
    if system_type == "goods":
        found = verification.finding.value if verification and verification.finding else ""
        items = {
            "alarm_report_number": alarm_report_number,
            "user_number": user_number,
            "intrusion": found if found in (Finding.INTRUSION, Finding.ATTEMPT) else "",
            "verification_code": code,
            "detection_code": ", ".join(detection_codes),
        }
        return DataSet("goods", items, dict(extra or {}))
    items = {
        "alarm_report_number": alarm_report_number,
        "user_number": user_number,
        "verification_code": code,
        # KB-23: the detection code for fixed systems; a mobile alarm sends its position instead.
        "detection_code": ", ".join(detection_codes) if system_type == "personal_fixed" else "-",
        "incident": incident.strip(),
    }
    return DataSet("personal", items, dict(extra or {}))


def missing_items(data: DataSet) -> list[str]:
    """KB-16: the items of KB-14 / KB-23 a notification lacks (the desk may then handle it with delay)."""
    wanted = GOODS_ITEMS if data.kind == "goods" else PERSONAL_ITEMS
    return [item for item in wanted if not str(data.items.get(item, "")).strip()]


# ------------------------------------------------------------------------------------- emergency desk


class DeskOutcome(StrEnum):
    INTRUSION_CONFIRMED = "intrusion_confirmed"
    FALSE_ALARM = "false_alarm"
    NOBODY_ON_SITE = "nobody_on_site"
    NEUTRALISED = "neutralised"  # KB-19: siren or light neutralised, the alarm evidently not an intrusion
    PERSON_ASSISTED = "person_assisted"  # personal alarms
    NO_DISPATCH = "no_dispatch"


DWELLINGS = frozenset({"dwelling", "apartment"})


def check_outcome(
    *, outcome: DeskOutcome, property_nature: str, entered: bool, entry_consent_by: str
) -> list[RuleError]:
    """KB-19: police may neutralise a siren or light when the alarm is evidently not an intrusion, but do
    not enter a dwelling without the occupant's or a contact person's consent."""
    errors = []
    if entered and property_nature in DWELLINGS and not entry_consent_by.strip():
        errors.append(RuleError(gettext_noop("A dwelling is entered only with the consent of the occupant or a "
                                             "contact person: say who consented."), field="entry_consent_by",
                                rule="KB-19"))  # fmt: skip
    return errors

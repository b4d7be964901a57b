"""Pure rules for alerts (no Django import): the lifecycle, what a draft must hold before launch, and who
may be targeted. Rules: BA-2, BA-4-T1, BA-4-T2, BA-7-BIN, BA-7-LISTS."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from tocsin.organisations.domain import Audience, Kind, RuleError, check_may_target, gettext_noop
from tocsin.protocols import cap, gsm

LANGUAGES = ("nl", "fr", "de", "en")
# sms and email reach registered people one by one; lbsms (location-based SMS through each mobile operator)
# and cb (cell broadcast) reach every phone in an area, without registration. voice calls landlines and
# mobiles (never a deaf or hard-of-hearing citizen: the targeting leaves their numbers out).
CHANNELS = ("sms", "email", "voice", "lbsms", "cb")
AREA_CHANNELS = ("lbsms", "cb")
MAX_SMS_PARTS = 6
# Cell broadcast (3GPP TS 23.041): a page carries 82 octets — 93 GSM-7 characters or 41 UCS-2 ones — and a
# message at most 15 pages.
CB_PAGE_OCTETS = 82
CB_MAX_PAGES = 15
MAX_VOICE_CHARS = 2000


class State(StrEnum):
    DRAFT = "draft"
    LAUNCHED = "launched"
    CANCELLED = "cancelled"  # a Cancel message was launched for it: its queued deliveries were withdrawn


# The lifecycle as a table: (from, to) pairs that are allowed.
TRANSITIONS = {
    (State.DRAFT, State.LAUNCHED),
    (State.LAUNCHED, State.CANCELLED),
}


def check_transition(current: State, target: State) -> None:
    if (current, target) not in TRANSITIONS:
        raise RuleError(
            gettext_noop("An alert that is %(current)s cannot become %(target)s."),
            field="state",
            params={"current": current.value, "target": target.value},
        )


def check_texts(texts: Mapping[str, Mapping[str, str]], channels: list[str]) -> None:
    """Every language has the texts its channels need; SMS within the part limit, subjects on one line."""
    if not texts:
        raise RuleError(gettext_noop("Write the message in at least one language."), field="texts")
    for language, parts in texts.items():
        if language not in LANGUAGES:
            raise RuleError(gettext_noop("Languages are nl, fr, de and en."), field=f"texts.{language}")
        if not (parts.get("headline") or "").strip():
            raise RuleError(gettext_noop("Write a headline."), field=f"texts.{language}.headline")
        if "sms" in channels:
            sms = (parts.get("sms") or "").strip()
            if not sms:
                raise RuleError(gettext_noop("Write the SMS text."), field=f"texts.{language}.sms")
            try:
                parts_count = gsm.segment(sms).count
            except gsm.EncodingError:
                parts_count = MAX_SMS_PARTS + 1
            if parts_count > MAX_SMS_PARTS:
                raise RuleError(
                    gettext_noop("The SMS takes %(parts)s parts; at most %(max)s."),
                    field=f"texts.{language}.sms",
                    params={"parts": parts_count, "max": MAX_SMS_PARTS},
                )
        if "cb" in channels:
            cb = (parts.get("cb") or "").strip()
            if not cb:
                raise RuleError(gettext_noop("Write the cell-broadcast text."), field=f"texts.{language}.cb")
            _coding, pages = cb_pages(cb)
            if pages > CB_MAX_PAGES:
                raise RuleError(
                    gettext_noop("The cell-broadcast text takes %(pages)s pages; at most %(max)s."),
                    field=f"texts.{language}.cb",
                    params={"pages": pages, "max": CB_MAX_PAGES},
                )
        if "lbsms" in channels and not (parts.get("sms") or "").strip():
            raise RuleError(gettext_noop("Write the SMS text."), field=f"texts.{language}.sms")
        if len(parts.get("voice") or "") > MAX_VOICE_CHARS:
            raise RuleError(
                gettext_noop("The voice script is longer than %(max)s characters."),
                field=f"texts.{language}.voice",
                params={"max": MAX_VOICE_CHARS},
            )
        if "email" in channels:
            subject = parts.get("email_subject") or parts.get("headline") or ""
            if any(c in subject for c in "\r\n"):
                raise RuleError(
                    gettext_noop("The subject must be a single line."), field=f"texts.{language}.email_subject"
                )
            if not (parts.get("email_body") or parts.get("description") or "").strip():
                raise RuleError(gettext_noop("Write the e-mail text."), field=f"texts.{language}.email_body")


def check_targets(
    kind: Kind, *, bin_option: bool, targets: Mapping[str, Any], channels: list[str] | tuple[str, ...] = ()
) -> None:
    """Who the entity may alert (BA-4-T1, BA-4-T2, BA-7-BIN): enforced here for portal, API and CAP import.

    Location-based SMS and cell broadcast reach everyone in an area, registered or not: like alerting
    citizens, that is for type-1 entities only (BA-4-T2), and it needs an area."""
    lists, groups, areas = targets.get("lists") or [], targets.get("bin_groups") or [], targets.get("areas") or []
    if not (lists or groups or areas):
        raise RuleError(gettext_noop("Choose who receives the alert."), field="targets")
    if any(c in AREA_CHANNELS for c in channels):
        check_may_target(kind, Audience.CITIZENS, bin_option=bin_option)
        if not areas:
            raise RuleError(
                gettext_noop("Location-based SMS and cell broadcast reach an area: draw or choose one."),
                field="targets.areas",
            )
    if lists:
        check_may_target(kind, Audience.CONTACT_LISTS, bin_option=bin_option)
    if groups:
        check_may_target(kind, Audience.BIN_GROUPS, bin_option=bin_option)
    if areas:
        check_may_target(kind, Audience.CITIZENS, bin_option=bin_option)


def check_cap_fields(fields: Mapping[str, Any]) -> None:
    """The CAP 1.2 values of an alert, each from its list (the field is named in the error)."""
    for name, allowed in (
        ("status", ("Actual", "Exercise", "Test")),
        ("category", cap.CATEGORY),
        ("urgency", cap.URGENCY),
        ("severity", cap.SEVERITY),
        ("certainty", cap.CERTAINTY),
    ):
        if fields.get(name) not in allowed:
            raise RuleError(
                gettext_noop("Choose one of: %(allowed)s."), field=name, params={"allowed": ", ".join(allowed)}
            )
    for response in fields.get("response_types") or []:
        if response not in cap.RESPONSE:
            raise RuleError(gettext_noop("Unknown response type."), field="response_types")
    if not (fields.get("event") or "").strip():
        raise RuleError(gettext_noop("Name the event (e.g. flood, fire)."), field="event")


def recipient_language(own: str, available: list[str], area_default: str = "") -> str:
    """The recipient's own language when the alert has it, else the area's official one, else the first."""
    if own in available:
        return own
    if area_default in available:
        return area_default
    return available[0]


# Exercises and tests: what every text starts with, in the recipient's language, so nobody takes them for real.
MARKS = {
    "Exercise": {"nl": "OEFENING", "fr": "EXERCICE", "de": "ÜBUNG", "en": "EXERCISE"},
    "Test": {"nl": "TEST", "fr": "TEST", "de": "TEST", "en": "TEST"},
}


def check_exercise(status: str, targets: Mapping[str, Any], *, test_lists: set[int]) -> None:
    """An exercise or a test reaches only the entity's test list(s): no area, no BIN group, no other list."""
    if status == "Actual":
        return
    lists = set(targets.get("lists") or [])
    if targets.get("areas") or targets.get("bin_groups") or not lists or not lists <= test_lists:
        raise RuleError(gettext_noop("An exercise or a test reaches only your test list."), field="targets", params={})


def marked(status: str, language: str, text: str) -> str:
    """``[OEFENING] …`` for an exercise, ``[TEST] …`` for a test; the text as it is for an actual alert."""
    mark = MARKS.get(status, {}).get(language)
    return f"[{mark}] {text}" if mark and text and not text.startswith(f"[{mark}]") else text


def check_four_eyes(*, author_id: int | None, approver_id: int | None) -> None:
    """Four eyes: someone other than the author of this version approved it."""
    if approver_id is None:
        raise RuleError(
            gettext_noop("Your entity requires a second person's approval before launch."), field="approval"
        )
    if approver_id == author_id:
        raise RuleError(gettext_noop("The approval must come from someone other than the author."), field="approval")


def cb_pages(text: str) -> tuple[str, int]:
    """The character set ("gsm" or "ucs2") and number of pages a cell-broadcast text takes, as Tocsin encodes
    it for the centre (``protocols.broadcast.cb_encode``)."""
    from tocsin.protocols.broadcast import cb_encode

    return ("gsm" if gsm.is_gsm7(text) else "ucs2"), len(cb_encode(text, "")[1])


# EU-Alert message identifiers (3GPP TS 23.041 § 9.4.1.2.2, ETSI TS 102 900): the class a phone shows an
# alert as follows from its severity, urgency and certainty; the same class in a second language is 13
# higher (4371 → 4384 …). What fits no class (moderate or minor severity, an urgency other than immediate or
# expected, a certainty other than observed or likely) goes as a public-safety alert: 4396, 4397 in the
# second language. Exercises and tests have their own identifiers, which phones hide unless the user opts in.
CB_IDS = {
    ("Extreme", "Immediate", "Observed"): 4371,
    ("Extreme", "Immediate", "Likely"): 4372,
    ("Extreme", "Expected", "Observed"): 4373,
    ("Extreme", "Expected", "Likely"): 4374,
    ("Severe", "Immediate", "Observed"): 4375,
    ("Severe", "Immediate", "Likely"): 4376,
    ("Severe", "Expected", "Observed"): 4377,
    ("Severe", "Expected", "Likely"): 4378,
}
CB_TEST, CB_EXERCISE, CB_INFO, CB_INFO_SECOND = 4380, 4381, 4396, 4397
CB_SECOND_LANGUAGE = 13


def cb_message_id(*, status: str, severity: str, urgency: str, certainty: str, second_language: bool) -> int:
    """The cell-broadcast message identifier of an alert (see CB_IDS)."""
    if status == "Test":
        base = CB_TEST
    elif status == "Exercise":
        base = CB_EXERCISE
    else:
        base = CB_IDS.get((severity, urgency, certainty), CB_INFO)
        if base == CB_INFO:
            return CB_INFO_SECOND if second_language else CB_INFO
    return base + (CB_SECOND_LANGUAGE if second_language else 0)


def voice_script(parts: Mapping[str, str]) -> str:
    """What a call says: the voice script, else the headline, the description and the instruction."""
    script = (parts.get("voice") or "").strip()
    if script:
        return script
    said = [(parts.get(k) or "").strip() for k in ("headline", "description", "instruction")]
    return "\n".join(s if s.endswith((".", "!", "?")) else f"{s}." for s in said if s)

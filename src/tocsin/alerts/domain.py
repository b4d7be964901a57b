"""Pure rules for alerts (no Django import): the lifecycle, what a draft must hold before launch, and who
may be targeted. Rules: BA-2, BA-4-T1, BA-4-T2, BA-7-BIN, BA-7-LISTS."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from tocsin.organisations.domain import Audience, Kind, RuleError, check_may_target, gettext_noop
from tocsin.protocols import cap, gsm

LANGUAGES = ("nl", "fr", "de", "en")
CHANNELS = ("sms", "email")  # voice (issue 10), location-based SMS and cell broadcast come with their gateways
MAX_SMS_PARTS = 6


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
        if "email" in channels:
            subject = parts.get("email_subject") or parts.get("headline") or ""
            if any(c in subject for c in "\r\n"):
                raise RuleError(
                    gettext_noop("The subject must be a single line."), field=f"texts.{language}.email_subject"
                )
            if not (parts.get("email_body") or parts.get("description") or "").strip():
                raise RuleError(gettext_noop("Write the e-mail text."), field=f"texts.{language}.email_body")


def check_targets(kind: Kind, *, bin_option: bool, targets: Mapping[str, Any]) -> None:
    """Who the entity may alert (BA-4-T1, BA-4-T2, BA-7-BIN): enforced here for portal, API and CAP import."""
    lists, groups, areas = targets.get("lists") or [], targets.get("bin_groups") or [], targets.get("areas") or []
    if not (lists or groups or areas):
        raise RuleError(gettext_noop("Choose who receives the alert."), field="targets")
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

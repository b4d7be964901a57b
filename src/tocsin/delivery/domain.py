"""Pure rules of the outbox: states, priorities, retries, recipient checks. No Django."""

from __future__ import annotations

import re
from enum import IntEnum, StrEnum

import phonenumbers


class State(StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"


FINAL = frozenset({State.DELIVERED, State.FAILED, State.EXPIRED})


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    VOICE = "voice"


class Priority(IntEnum):
    """Lower goes first: an emergency alert overtakes informational traffic, and
    verification codes are never stuck behind a mass send (they are few and urgent)."""

    VERIFICATION = 0
    EMERGENCY = 1
    ALERT = 2
    INFORMATION = 3
    BULK = 4


MAX_ATTEMPTS = 6


def retry_delay(attempt: int) -> float:
    """Seconds before the next try after a temporary error: 2, 4, 8 … capped at 5 minutes."""
    return float(min(300, 2 ** max(1, attempt)))


class RecipientError(ValueError):
    pass


# Belgian mobiles in E.164 (+32 45x-49x …): by far the most numbers in a send, checked without the
# full metadata parse (50 µs each) — the tests check this shortcut agrees with it.
_BE_MOBILE = re.compile(r"^\+324[5-9]\d{7}$")


_BE_META = phonenumbers.PhoneMetadata.metadata_for_region("BE")
# Belgian fixed and mobile numbers as the library's own metadata describes them (national significant number).
_BE_COMMON = re.compile(
    f"(?:{_BE_META.fixed_line.national_number_pattern})|(?:{_BE_META.mobile.national_number_pattern})"  # type: ignore[union-attr]
)


def _be_common(raw: str) -> str | None:
    """E.164 for a Belgian fixed or mobile number written plainly (``09 360 12 34``, ``+32 478 12 34 56``),
    matched against phonenumbers' own patterns without its full parse (which costs about 50 µs); None for
    anything else, which then goes through the full parse."""
    digits = raw.strip().replace(" ", "").replace(".", "").replace("-", "").replace("/", "")
    if digits.startswith("+32"):
        national = digits[3:]
    elif digits.startswith("0032"):
        national = digits[4:]
    elif digits.startswith("0") and not digits.startswith("00"):
        national = digits[1:]
    else:
        return None
    if national.isascii() and national.isdigit() and _BE_COMMON.fullmatch(national):
        return "+32" + national
    return None


def normalise_phone(raw: str, default_region: str = "BE") -> str:
    """E.164 (+32470123456) for a valid mobile or fixed number; RecipientError otherwise."""
    if _BE_MOBILE.match(raw):
        return raw
    if default_region == "BE":
        quick = _be_common(raw)
        if quick is not None:
            return quick
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise RecipientError(f"{raw!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise RecipientError(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def normalise_email(raw: str) -> str:
    value = raw.strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise RecipientError(f"{raw!r} is not an e-mail address")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalise(channel: Channel, raw: str) -> str:
    return normalise_email(raw) if channel is Channel.EMAIL else normalise_phone(raw)


def link_token(secret: str, delivery_id: int) -> str:
    """``<id>-<mac>``: names one delivery in a link sent to its recipient (an acknowledgement), unguessable."""
    import base64
    import hashlib
    import hmac

    mac = hmac.new(secret.encode(), f"delivery-link:{delivery_id}".encode(), hashlib.sha256).digest()[:16]
    return f"{delivery_id}-{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def link_delivery(secret: str, token: str) -> int | None:
    """The delivery a link token names, or None when it was not made by us."""
    import hmac

    head, _, _mac = token.partition("-")
    if not head.isdigit() or len(head) > 19:
        return None
    return int(head) if hmac.compare_digest(link_token(secret, int(head)), token) else None

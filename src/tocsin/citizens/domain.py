"""Pure rules for citizens' registrations (no Django import). Rules: BA-7.3, BA-7.4."""

from __future__ import annotations

from enum import StrEnum

LANGUAGES = ("nl", "fr", "de", "en")
MAX_ADDRESSES = 5
CODE_TTL_S = 15 * 60
CODE_ATTEMPTS = 5


class RegistrationStatus(StrEnum):
    PENDING = "pending"  # no contact point verified yet: receives nothing
    ACTIVE = "active"
    PAUSED = "paused"  # the citizen paused: receives nothing until resumed


class PointKind(StrEnum):
    MOBILE = "mobile"  # SMS and/or voice
    LANDLINE = "landline"  # voice only
    EMAIL = "email"


class AddressLabel(StrEnum):
    HOME = "home"
    WORK = "work"
    SCHOOL = "school"
    FAMILY = "family"
    OTHER = "other"


# The consent text a citizen accepts; bump the version when the text changes (recorded per registration).
CONSENT_VERSION = "2026-11"
MAX_POINTS = 6
NAME_MAX = 200


def check_name(value: str) -> str:
    from tocsin.organisations.domain import RuleError, gettext_noop

    name = " ".join(str(value or "").split())
    if not name:
        raise RuleError(gettext_noop("Fill in your name."), field="name")
    if len(name) > NAME_MAX or any(ord(c) < 32 for c in name):
        raise RuleError(gettext_noop("The name is too long or contains control characters."), field="name")
    return name


def check_language(value: str) -> str:
    from tocsin.organisations.domain import RuleError, gettext_noop

    if value not in LANGUAGES:
        raise RuleError(gettext_noop("Choose nl, fr, de or en."), field="language")
    return value


# --- proof of work: a sign-up or a code request costs the client some CPU, the server one hash ---


def pow_challenge(secret: bytes, *, now: int, random: str, bits: int) -> str:
    """A stateless challenge: ``v1.<time>.<bits>.<random>.<mac>``; the MAC stops clients forging easy ones."""
    import hashlib
    import hmac

    body = f"v1.{now}.{bits}.{random}"
    mac = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{body}.{mac}"


def leading_zero_bits(digest: bytes) -> int:
    count = 0
    for byte in digest:
        if byte == 0:
            count += 8
            continue
        return count + 8 - byte.bit_length()
    return count


def pow_solve(challenge: str, bits: int) -> str:
    """What a client does (tests and API clients): find a nonce whose hash has ``bits`` leading zero bits."""
    import hashlib

    nonce = 0
    while True:
        digest = hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()
        if leading_zero_bits(digest) >= bits:
            return str(nonce)
        nonce += 1


def pow_check(secret: bytes, challenge: str, nonce: str, *, now: int, max_age_s: int = 600) -> str | None:
    """None when the work is valid, else why not (an English reason for the error message)."""
    import hashlib
    import hmac

    parts = challenge.split(".")
    if len(parts) != 5 or parts[0] != "v1" or not parts[1].isdigit() or not parts[2].isdigit():
        return "malformed"
    body = ".".join(parts[:4])
    mac = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(mac, parts[4]):
        return "forged"
    issued, bits = int(parts[1]), int(parts[2])
    if not (now - max_age_s <= issued <= now + 5):
        return "expired"
    if len(nonce) > 20 or not nonce.isdigit():
        return "malformed"
    if leading_zero_bits(hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()) < bits:
        return "insufficient"
    return None


def phone_prefix(e164: str) -> str:
    """The number's country and first operator digits (+32 47x…): SMS-pumping fraud walks through ranges."""
    return e164[:6]

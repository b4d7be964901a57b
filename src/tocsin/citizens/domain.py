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

"""Configuring the receiver's accounts (issue 8): who may, what is checked, how keys are kept.

A central's administrators and operators configure the accounts of the panels they watch: the account
number a panel sends, the registry's alarm system it belongs to (KB-7-ARC), its AES key (sealed at rest
with AES-GCM), its
timestamp window and its supervision interval; and the detection code of each zone (KB-14).

The sealing key is derived from ``TOCSIN_RECEIVER_KEY_SECRET`` when set, else from the platform's
secret (``TOCSIN_SECRET_KEY``): changing it makes the stored keys unreadable (set them again).
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from tocsin.alarms.domain import FieldErrors, Status
from tocsin.alarms.models import AlarmSystem
from tocsin.alarms.services import Actor, require_central
from tocsin.arc.models import DiscoveredAccount, ReceiverAccount, ZoneMap
from tocsin.audit.services import audit_record
from tocsin.organisations.domain import RuleError, gettext_noop
from tocsin.organisations.services import NotFound
from tocsin.protocols import sia_dc09

_ACCOUNT = re.compile(r"[0-9A-F]{3,16}")
_ZONE = re.compile(r"[0-9A-Za-z]{1,8}")
MAX_WINDOW_S = 3600
MAX_POLL_S = 7 * 24 * 3600


def _sealing_key() -> bytes:
    secret = getattr(settings, "TOCSIN_RECEIVER_KEY_SECRET", "") or settings.SECRET_KEY
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"tocsin receiver keys").derive(secret.encode())


def seal(key: bytes, account_id: str) -> bytes:
    """A panel's AES key, encrypted at rest (bound to its account, so a sealed key cannot be moved)."""
    if not key:
        return b""
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(_sealing_key()).encrypt(nonce, key, account_id.encode())


def unseal(sealed: bytes | memoryview, account_id: str) -> bytes | None:
    if not sealed:
        return None
    data = bytes(sealed)
    return AESGCM(_sealing_key()).decrypt(data[:12], data[12:], account_id.encode())


def account_key(account: ReceiverAccount) -> bytes | None:
    """The AES key the receiver decrypts this account's frames with (None: plain frames only)."""
    return unseal(account.key_sealed, f"{account.central_id}:{account.account}")


def _err(message: str, field: str, **params: Any) -> RuleError:
    return RuleError(message, field=field, params=params or None)


def account_set(
    *,
    actor: Actor,
    account: str,
    system_reference: str = "",
    key: str = "",
    key_is_hex: bool | None = None,
    clear_key: bool = False,
    encryption_required: bool = False,
    ahead_s: int = 20,
    behind_s: int = 40,
    device_tz: str = "UTC",
    poll_interval_s: int | None = None,
    enabled: bool = True,
) -> ReceiverAccount:
    """Create or change the central's account; every field checked at once, nothing written on error.

    A key left empty keeps the stored one (it is never shown back); ``clear_key`` removes it.
    """
    member = require_central(actor)
    errors: list[RuleError] = []
    number = (account or "").strip().upper().lstrip("#")
    if not _ACCOUNT.fullmatch(number):
        errors.append(_err(gettext_noop("An account is 3 to 16 hexadecimal digits."), "account"))
    sealed_key: bytes | None = None
    if key.strip():
        try:
            sealed_key = sia_dc09.parse_key(key.strip(), hex=key_is_hex)
        except ValueError:
            errors.append(
                _err(
                    gettext_noop("An AES key is 16, 24 or 32 characters, or 32, 48 or 64 hexadecimal digits."),
                    "key",
                )
            )
    for name, value in (("ahead_s", ahead_s), ("behind_s", behind_s)):
        if not 0 <= int(value) <= MAX_WINDOW_S:
            errors.append(_err(gettext_noop("Give 0 to %(max)s seconds."), name, max=MAX_WINDOW_S))
    if poll_interval_s is not None and not 60 <= int(poll_interval_s) <= MAX_POLL_S:
        errors.append(
            _err(gettext_noop("Give a polling interval of 60 s to %(max)s s."), "poll_interval_s", max=MAX_POLL_S)
        )
    try:
        ZoneInfo(device_tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory; a long name, too long
        errors.append(_err(gettext_noop("Unknown time zone."), "device_tz"))
    system = None
    if system_reference:
        system = AlarmSystem.objects.filter(
            reference=system_reference.strip().upper()[:12],
            central_id=member.organisation_id,
            status=Status.ACTIVE.value,
        ).first()
        if system is None:
            errors.append(
                _err(gettext_noop("No active system of your central has this reference."), "system_reference")
            )
    if errors:
        raise FieldErrors(errors)
    with transaction.atomic():
        row, created = ReceiverAccount.objects.select_for_update().get_or_create(
            central_id=member.organisation_id, account=number
        )
        row.system = system
        if clear_key:
            row.key_sealed = b""
        elif sealed_key is not None:
            row.key_sealed = seal(sealed_key, f"{member.organisation_id}:{number}")
        if encryption_required and not row.key_sealed:
            raise FieldErrors(
                [_err(gettext_noop("Encryption can be required only once a key is set."), "encryption_required")]
            )
        row.encryption_required = encryption_required
        row.ahead_s, row.behind_s = int(ahead_s), int(behind_s)
        row.device_tz = device_tz or "UTC"
        row.poll_interval_s = poll_interval_s
        row.enabled = enabled
        row.updated_at = timezone.now()
        row.save()
        DiscoveredAccount.objects.filter(central_id=member.organisation_id, account=number, claimed_at=None).update(
            claimed_at=timezone.now()
        )
        audit_record(
            action="arc.account_created" if created else "arc.account_changed",
            actor=member,
            organisation_id=member.organisation_id,
            object_type="receiver_account",
            object_id=number,
            data={
                "system": system.reference if system else "",
                "key": "set" if sealed_key is not None else ("cleared" if clear_key else "kept"),
            },
        )
    return row


def zone_set(*, actor: Actor, account: str, zone: str, detection_code: str, label: str = "") -> ZoneMap:
    """KB-14: the detection code a zone's alarms carry in the notification."""
    member = require_central(actor)
    row = ReceiverAccount.objects.filter(
        central_id=member.organisation_id, account=(account or "").strip().upper().lstrip("#")
    ).first()
    if row is None:
        raise NotFound(gettext_noop("No such account."))
    errors = []
    zone = (zone or "").strip()
    if not _ZONE.fullmatch(zone):
        errors.append(_err(gettext_noop("A zone is 1 to 8 letters or digits."), "zone"))
    code = (detection_code or "").strip()
    if not code or len(code) > 40:
        errors.append(_err(gettext_noop("Give the detection code (at most 40 characters)."), "detection_code"))
    if errors:
        raise FieldErrors(errors)
    try:
        with transaction.atomic():
            zone_row, _ = ZoneMap.objects.update_or_create(
                account=row, zone=zone, defaults={"detection_code": code, "label": (label or "").strip()[:200]}
            )
            audit_record(action="arc.zone_set", actor=member, organisation_id=member.organisation_id,
                         object_type="receiver_account", object_id=row.account,
                         data={"zone": zone, "detection_code": code})  # fmt: skip
    except IntegrityError:  # two writers at once: the other one's row stands
        zone_row = ZoneMap.objects.get(account=row, zone=zone)
    return zone_row


def account_discovered(*, central_id: int, account: str, source: str = "") -> None:
    """The receiver heard an unknown account: counted for the central to claim (called by the receiver)."""
    number = (account or "").strip().upper()[:16]
    now = timezone.now()
    updated = DiscoveredAccount.objects.filter(central_id=central_id, account=number).update(
        last_seen=now, source=source[:64], frames=F("frames") + 1
    )
    if not updated:
        try:
            with transaction.atomic():
                DiscoveredAccount.objects.create(
                    central_id=central_id, account=number, source=source[:64], first_seen=now, last_seen=now
                )
        except IntegrityError:
            DiscoveredAccount.objects.filter(central_id=central_id, account=number).update(
                last_seen=now, frames=F("frames") + 1
            )

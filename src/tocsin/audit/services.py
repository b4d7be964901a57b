from __future__ import annotations

import ipaddress
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from tocsin.audit import chain
from tocsin.audit.models import AuditEntry

# One lock number for the whole chain: appends are serialised, reads are not.
_CHAIN_LOCK = 0x70C517


def audit_record(
    *,
    action: str,
    actor: Any = None,
    organisation_id: int | None = None,
    object_type: str = "",
    object_id: str | int = "",
    data: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Append one entry to the chain, in the caller's transaction.

    Called inside the business transaction, so the entry commits (or rolls
    back) with the change it records.
    """
    if ip:
        # The canonical form, as PostgreSQL's inet prints it back: the hash must survive the round trip.
        ip = ipaddress.ip_address(ip).compressed
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
        last = AuditEntry.objects.order_by("-seq").only("seq", "entry_hash").first()
        seq = last.seq + 1 if last else 1
        prev_hash = last.entry_hash if last else chain.GENESIS
        actor_id = getattr(actor, "pk", None)
        actor_org = getattr(actor, "organisation_id", None)
        entry = AuditEntry(
            seq=seq,
            at=timezone.now(),
            action=action,
            actor_id=actor_id,
            actor_label=getattr(actor, "email", "") or "",
            actor_organisation_id=actor_org,
            organisation_id=organisation_id,
            object_type=object_type,
            object_id=str(object_id),
            ip=ip,
            data=data or {},
            prev_hash=prev_hash,
        )
        entry.entry_hash = chain.entry_digest(prev_hash, entry_fields(entry))
        entry.save(force_insert=True)
    return entry


def entry_fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(timespec="microseconds"),
        "action": entry.action,
        "actor_id": entry.actor_id,
        "actor_label": entry.actor_label,
        "actor_organisation_id": entry.actor_organisation_id,
        "organisation_id": entry.organisation_id,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "ip": entry.ip,
        "data": entry.data,
    }


def audit_verify(*, recorded_head: str | None = None) -> tuple[int, chain.Break | None]:
    """Walk the whole chain in order; returns (entries checked, first break or None)."""
    rows = AuditEntry.objects.order_by("seq").iterator(chunk_size=2000)
    return chain.verify(((entry_fields(e), e.prev_hash, e.entry_hash) for e in rows), recorded_head=recorded_head)


def audit_head() -> tuple[int, str]:
    """The last entry's number and hash: note it down to detect later removal at the end."""
    last = AuditEntry.objects.order_by("-seq").only("seq", "entry_hash").first()
    return (last.seq, last.entry_hash) if last else (0, chain.GENESIS)

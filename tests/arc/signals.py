"""Signals as the receiver stores them (committed before their ACK), for tests that start after the receiver:
the case builder, the console, the desk."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from tocsin.arc.models import ReceiverAccount, Signal

_numbers = itertools.count(1)


def signal(account: str, *events: dict, at: datetime | None = None, extended: list | None = None) -> Signal:
    """One stored frame of ``account`` carrying ``events`` (its digest unique, its sequence as a panel counts)."""
    row = ReceiverAccount.objects.get(account=account)
    n = next(_numbers)
    return Signal.objects.create(
        account=row, central_id=row.central_id, received_at=at or datetime.now(UTC), message_id="SIA-DCS",
        sequence=f"{n % 10_000:04d}", data="", events=list(events), extended=extended or [], transport="tcp",
        digest=f"t{n}",
    )  # fmt: skip


def ev(code: str, zone: str = "01") -> dict:
    """An event as the receiver reads it from a SIA-DCS frame."""
    return {"code": code, "zone": zone, "description": code}

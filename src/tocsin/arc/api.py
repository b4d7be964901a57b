"""The receiver's accounts through the API (issue 8): a central configures the panels its receiver serves.

Keys go in and never come out: an account shows whether it has one, not what it is.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from tocsin.alarms.services import as_member, require_central
from tocsin.arc import services
from tocsin.arc.models import DiscoveredAccount, ReceiverAccount
from tocsin.organisations.models import User

router = Router(tags=["receiver"])


class AccountIn(Schema):
    system_reference: str = Field(default="", max_length=12)
    key: str = Field(default="", max_length=64, description="16/24/32 characters or 32/48/64 hex digits; empty: keep")
    key_is_hex: bool | None = None
    clear_key: bool = False
    encryption_required: bool = False
    ahead_s: int = Field(default=20, ge=0, le=3600)
    behind_s: int = Field(default=40, ge=0, le=3600)
    device_tz: str = Field(default="UTC", max_length=64)
    poll_interval_s: int | None = Field(default=None, ge=60, le=7 * 24 * 3600)
    enabled: bool = True


class AccountOut(Schema):
    account: str
    system_reference: str
    has_key: bool
    encryption_required: bool
    ahead_s: int
    behind_s: int
    device_tz: str
    poll_interval_s: int | None
    enabled: bool
    updated_at: datetime


class ZoneIn(Schema):
    detection_code: str = Field(max_length=40)
    label: str = Field(default="", max_length=200)


class DiscoveredOut(Schema):
    account: str
    first_seen: datetime
    last_seen: datetime
    frames: int
    source: str


def _member(request: HttpRequest) -> User:
    user: User = request.auth  # type: ignore[attr-defined]
    return user


def _out(row: ReceiverAccount) -> AccountOut:
    return AccountOut(
        account=row.account, system_reference=row.system.reference if row.system else "",
        has_key=bool(row.key_sealed), encryption_required=row.encryption_required, ahead_s=row.ahead_s,
        behind_s=row.behind_s, device_tz=row.device_tz, poll_interval_s=row.poll_interval_s, enabled=row.enabled,
        updated_at=row.updated_at,
    )  # fmt: skip


@router.get("/arc/accounts", response=list[AccountOut], summary="Your central's receiver accounts")
def accounts(request: HttpRequest) -> list[AccountOut]:
    member = require_central(as_member(_member(request)))
    rows = ReceiverAccount.objects.filter(central_id=member.organisation_id).select_related("system")
    return [_out(r) for r in rows.order_by("account")[:5000]]


@router.put("/arc/accounts/{account}", response={200: AccountOut}, summary="Create or change a receiver account")
def account_set(request: HttpRequest, account: str, payload: AccountIn) -> Status:
    row = services.account_set(actor=as_member(_member(request)), account=account, **payload.model_dump())
    row = ReceiverAccount.objects.select_related("system").get(pk=row.pk)
    return Status(200, _out(row))


@router.put("/arc/accounts/{account}/zones/{zone}", summary="A zone's detection code (KB-14)")
def zone_set(request: HttpRequest, account: str, zone: str, payload: ZoneIn) -> dict[str, str]:
    row = services.zone_set(
        actor=as_member(_member(request)), account=account, zone=zone, detection_code=payload.detection_code,
        label=payload.label,
    )  # fmt: skip
    return {"zone": row.zone, "detection_code": row.detection_code}


@router.get("/arc/discovered", response=list[DiscoveredOut], summary="Accounts heard but not configured")
def discovered(request: HttpRequest) -> list[DiscoveredOut]:
    member = require_central(as_member(_member(request)))
    rows = DiscoveredAccount.objects.filter(central_id=member.organisation_id, claimed_at=None).order_by("-last_seen")
    return [
        DiscoveredOut(account=d.account, first_seen=d.first_seen, last_seen=d.last_seen, frames=d.frames,
                      source=d.source)
        for d in rows[:1000]
    ]  # fmt: skip

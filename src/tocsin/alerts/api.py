"""Alerts through the API: draft, preview, launch, follow up — the same services as the portal."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from pydantic import Field

from tocsin.alerts import selectors, services
from tocsin.alerts.models import Alert
from tocsin.organisations.models import User

router = Router(tags=["alerts"])


class AlertIn(Schema):
    status: Literal["Actual", "Exercise", "Test"] = "Actual"
    category: str = "Safety"
    event: str = Field(max_length=200)
    urgency: str = "Immediate"
    severity: str = "Severe"
    certainty: str = "Observed"
    response_types: list[str] = []
    onset: datetime | None = None
    expires: datetime | None = None
    web: str = Field(default="", max_length=200)
    contact: str = Field(default="", max_length=200)
    general_interest: bool = False
    texts: dict[str, dict[str, str]]
    channels: list[Literal["sms", "email", "voice"]]
    targets: dict[str, Any]


class AlertPatch(Schema):
    event: str | None = Field(default=None, max_length=200)
    texts: dict[str, dict[str, str]] | None = None
    channels: list[Literal["sms", "email", "voice"]] | None = None
    targets: dict[str, Any] | None = None
    severity: str | None = None
    urgency: str | None = None
    certainty: str | None = None
    general_interest: bool | None = None
    expires: datetime | None = None


class AlertOut(Schema):
    id: int
    identifier: str
    state: str
    msg_type: str
    status: str
    event: str
    severity: str
    urgency: str
    certainty: str
    channels: list[str]
    targets: dict[str, Any]
    texts: dict[str, dict[str, str]]
    references: int | None
    launched_at: datetime | None
    approved_by: int | None = None
    snapshot: dict[str, Any]
    send_request_ids: list[int]


class LaunchIn(Schema):
    confirmation: str = Field(max_length=20)


class FollowUpIn(Schema):
    msg_type: Literal["Update", "Cancel"]


def _out(alert: Alert) -> AlertOut:
    return AlertOut(
        id=alert.pk, identifier=alert.identifier, state=alert.state, msg_type=alert.msg_type, status=alert.status,
        event=alert.event, severity=alert.severity, urgency=alert.urgency, certainty=alert.certainty,
        channels=alert.channels, targets=alert.targets, texts=alert.texts, references=alert.references_id,
        launched_at=alert.launched_at, approved_by=alert.approved_by_id, snapshot=alert.snapshot,
        send_request_ids=alert.send_request_ids,
    )  # fmt: skip


@router.get("/alerts", response=list[AlertOut])
def alert_list(request: HttpRequest) -> list[AlertOut]:
    user: User = request.auth  # type: ignore[attr-defined]
    return [_out(a) for a in selectors.alert_list(actor=user)[:100]]


@router.post("/alerts", response={201: AlertOut}, summary="Write a draft alert")
def alert_create(request: HttpRequest, payload: AlertIn) -> Any:
    from ninja import Status

    user: User = request.auth  # type: ignore[attr-defined]
    return Status(201, _out(services.alert_create(actor=user, **payload.dict())))


@router.get("/alerts/{alert_id}", response=AlertOut)
def alert_get(request: HttpRequest, alert_id: int) -> AlertOut:
    user: User = request.auth  # type: ignore[attr-defined]
    return _out(selectors.alert_get(actor=user, alert_id=alert_id))


@router.patch("/alerts/{alert_id}", response=AlertOut, summary="Change a draft")
def alert_update(request: HttpRequest, alert_id: int, payload: AlertPatch) -> AlertOut:
    user: User = request.auth  # type: ignore[attr-defined]
    fields = {k: v for k, v in payload.dict().items() if v is not None}
    return _out(services.alert_update(actor=user, alert_id=alert_id, **fields))


@router.get("/alerts/{alert_id}/preview", response=dict[str, Any], summary="What launching would do")
def alert_preview(request: HttpRequest, alert_id: int) -> dict[str, Any]:
    user: User = request.auth  # type: ignore[attr-defined]
    preview = services.alert_preview(actor=user, alert_id=alert_id)
    preview.pop("map", None)  # the portal's picture; the API has the targets and the CAP areas
    if preview.get("cost"):
        preview["cost"] = {k: str(v) if isinstance(v, Decimal) else v for k, v in preview["cost"].items()}
    return preview


@router.post("/alerts/{alert_id}/launch", response=AlertOut, summary="Launch (type the number of recipients)")
def alert_launch(request: HttpRequest, alert_id: int, payload: LaunchIn) -> AlertOut:
    user: User = request.auth  # type: ignore[attr-defined]
    return _out(services.alert_launch(actor=user, alert_id=alert_id, confirmation=payload.confirmation))


@router.post("/alerts/{alert_id}/follow-up", response={201: AlertOut}, summary="Draft an Update or a Cancel")
def alert_follow_up(request: HttpRequest, alert_id: int, payload: FollowUpIn) -> Any:
    from ninja import Status

    user: User = request.auth  # type: ignore[attr-defined]
    return Status(201, _out(services.alert_follow_up(actor=user, alert_id=alert_id, msg_type=payload.msg_type)))


@router.get("/alerts/{alert_id}/cap.xml", summary="The alert's CAP 1.2 document")
def alert_cap(request: HttpRequest, alert_id: int) -> HttpResponse:
    user: User = request.auth  # type: ignore[attr-defined]
    alert = selectors.alert_get(actor=user, alert_id=alert_id)
    document = alert.cap_xml or services.alert_preview(actor=user, alert_id=alert_id)["cap"]
    return HttpResponse(document, content_type="application/cap+xml; charset=utf-8")


@router.post("/alert-imports", response={201: AlertOut}, summary="A draft from a CAP 1.2 document (request body)")
def alert_import(request: HttpRequest) -> Any:
    """Send the CAP XML as the request body (``Content-Type: application/cap+xml``)."""
    from ninja import Status

    user: User = request.auth  # type: ignore[attr-defined]
    return Status(201, _out(services.alert_import_cap(actor=user, document=request.body)))


class PolicyIn(Schema):
    four_eyes: bool


@router.put("/alert-policy", response={204: None}, summary="Your entity's alert rules (administrators)")
def alert_policy(request: HttpRequest, payload: PolicyIn) -> Any:
    from ninja import Status

    user: User = request.auth  # type: ignore[attr-defined]
    services.alert_policy_set(actor=user, four_eyes=payload.four_eyes)
    return Status(204, None)


@router.post("/alerts/{alert_id}/approve", response=AlertOut, summary="Approve a draft (four eyes)")
def alert_approve(request: HttpRequest, alert_id: int) -> AlertOut:
    user: User = request.auth  # type: ignore[attr-defined]
    return _out(services.alert_approve(actor=user, alert_id=alert_id))


@router.get("/alert-templates", response=dict[str, dict[str, Any]], summary="Templates for recurring events")
def alert_templates(request: HttpRequest) -> dict[str, dict[str, Any]]:
    """Fire, flood, drinking water, evacuation, all clear (CAP values and texts in nl, fr, de, en) and your
    entity's own (``own:<id>``), to start a draft from (``POST /alerts`` with your targets and channels)."""
    user: User = request.auth  # type: ignore[attr-defined]
    return services.alert_templates(actor=user)


@router.get("/alerts/{alert_id}/acks", response=dict[str, int], summary="Replies to the SMS: OK, help, other")
def alert_acks(request: HttpRequest, alert_id: int) -> dict[str, int]:
    user: User = request.auth  # type: ignore[attr-defined]
    return selectors.alert_acks(alert=selectors.alert_get(actor=user, alert_id=alert_id))

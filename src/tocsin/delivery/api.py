"""API for the outbox: a send request's progress, and the two doors Kannel calls back through.

The Kannel endpoints take no bearer token (Kannel cannot send one); each URL
carries a signature bound to the gateway and, for reports, to the delivery.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema, Status

from tocsin.delivery import kannel, selectors
from tocsin.delivery.models import Gateway
from tocsin.organisations.models import User

router = Router(tags=["delivery"])


def _actor(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


class ProgressOut(Schema):
    request: int
    total: int
    ended: int
    done: bool
    channels: dict[str, dict[str, int]]


class Ack(Schema):
    ok: bool
    outcome: str | None = None


class Refused(Schema):
    detail: str


@router.get("/send-requests/{request_id}/progress", response=ProgressOut)
def send_request_progress(request: HttpRequest, request_id: int) -> dict[str, object]:
    """Counts per channel and state (queued, claimed, submitted, delivered, failed, expired)."""
    return selectors.send_request_progress(actor=_actor(request), request_id=request_id)


def _kannel_gateway(gateway_id: int) -> Gateway | None:
    return Gateway.objects.filter(pk=gateway_id, kind="kannel").first()


@router.get("/gateways/kannel/{gateway_id}/dlr", auth=None, response={200: Ack, 403: Refused, 404: Refused})
def kannel_dlr(request: HttpRequest, gateway_id: int, d: int, s: str, type: int, answer: str = "") -> object:
    """Kannel's delivery report for one delivery (the dlr-url Tocsin gives with each message)."""
    if _kannel_gateway(gateway_id) is None:
        return Status(404, {"detail": "No such Kannel gateway."})
    if not kannel.signature_valid(gateway_id, d, s):
        return Status(403, {"detail": "The signature (s) does not match this gateway and delivery."})
    outcome = kannel.report(gateway_id=gateway_id, delivery_id=d, dlr_type=type, answer=answer.replace("\x00", ""))
    return {"ok": True, "outcome": outcome}


@router.get("/gateways/kannel/{gateway_id}/mo", auth=None, response={200: Ack, 403: Refused, 404: Refused})
def kannel_mo(request: HttpRequest, gateway_id: int, s: str, text: str = "", to: str = "") -> object:
    """A reply from a handset, passed on by Kannel's sms-service (``from`` is read from the query too)."""
    if _kannel_gateway(gateway_id) is None:
        return Status(404, {"detail": "No such Kannel gateway."})
    if not kannel.signature_valid(gateway_id, "mo", s):
        return Status(403, {"detail": "The signature (s) does not match this gateway."})
    sender = request.GET.get("from", "")
    kannel.inbound(gateway_id=gateway_id, sender=sender.replace("\x00", ""), recipient=to.replace("\x00", ""),
                   text=text.replace("\x00", ""))  # fmt: skip
    return {"ok": True}

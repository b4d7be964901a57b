"""What Kannel tells us back: delivery reports (dlr-url) and replies (sms-service get-url).

Both arrive as plain GET requests from bearerbox/smsbox. Each URL carries a
signature made with the platform's secret key, bound to the gateway and (for a
report) the delivery, so a stranger who finds the endpoint can neither mark a
delivery delivered nor inject a reply.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from tocsin.delivery import outbox
from tocsin.delivery.models import InboundMessage
from tocsin.delivery.services import PROGRESS_CHANNEL

_SALT = "tocsin.delivery.kannel"

# Kannel's report types (dlr-mask bits) and what they mean for a delivery.
DLR_OUTCOMES = {1: "delivered", 2: "failed", 16: "failed"}
DLR_NAMES = {1: "delivered to the phone", 2: "not delivered to the phone", 4: "queued at the SMSC",
             8: "accepted by the SMSC", 16: "refused by the SMSC"}  # fmt: skip


def message_id(delivery_id: int) -> str:
    """The id under which a Kannel delivery waits for its report (Kannel keeps the SMSC's to itself)."""
    return f"K{delivery_id}"


def callback_signature(gateway_id: int, subject: int | str) -> str:
    return salted_hmac(_SALT, f"{gateway_id}:{subject}", algorithm="sha256").hexdigest()[:32]


def signature_valid(gateway_id: int, subject: int | str, signature: str) -> bool:
    return constant_time_compare(callback_signature(gateway_id, subject), signature or "")


def mo_url(gateway_id: int, base: str) -> str:
    """The get-url for Kannel's sms-service group that passes replies on to Tocsin."""
    signature = callback_signature(gateway_id, "mo")
    return f"{base.rstrip('/')}/api/v1/gateways/kannel/{gateway_id}/mo?s={signature}&from=%p&to=%P&text=%a"


def report(*, gateway_id: int, delivery_id: int, dlr_type: int, answer: str) -> str | None:
    """Apply one delivery report; returns the outcome, or None for an intermediate report."""
    outcome = DLR_OUTCOMES.get(dlr_type)
    if outcome is None:
        return None
    detail = f"{DLR_NAMES.get(dlr_type, dlr_type)}: {answer}".strip(": ")[:200]
    params: dict[str, Any] = {
        "gateway": gateway_id,
        "message_ids": [message_id(delivery_id)],
        "outcomes": [outcome],
        "details": [detail],
    }
    for attempt in range(5):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(outbox.RECEIPTS_SQL, params)
                cursor.execute(
                    "SELECT pg_notify(%s, request_id::text) FROM delivery_delivery WHERE id = %s",
                    [PROGRESS_CHANNEL, delivery_id],
                )
            break
        except Exception as exc:  # deadlock with a worker's batch: the same retry as the workers'
            if attempt == 4 or not outbox.is_retryable(exc):
                raise
    return outcome


def inbound(*, gateway_id: int, sender: str, recipient: str, text: str) -> InboundMessage:
    return InboundMessage.objects.create(
        gateway_id=gateway_id, sender=sender[:32], recipient=recipient[:32], text=text[:2000],
        received_at=timezone.now(),
    )  # fmt: skip

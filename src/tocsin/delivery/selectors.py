"""Reading the outbox for people: always scoped to the actor's organisation."""

from __future__ import annotations

from django.db.models import QuerySet

from tocsin.delivery import domain
from tocsin.delivery.models import Gateway, SendRequest
from tocsin.delivery.services import progress
from tocsin.organisations.domain import Kind, Role, gettext_noop
from tocsin.organisations.models import User
from tocsin.organisations.services import AccessDenied, NotFound


def send_request_list(*, actor: User) -> QuerySet[SendRequest]:
    return SendRequest.objects.filter(organisation_id=actor.organisation_id)


def send_request_get(*, actor: User, request_id: int) -> SendRequest:
    request = send_request_list(actor=actor).filter(pk=request_id).first()
    if request is None:
        raise NotFound(gettext_noop("No such send request."))
    return request


FINAL = frozenset({domain.State.DELIVERED.value, domain.State.FAILED.value, domain.State.EXPIRED.value})


def send_request_progress(*, actor: User, request_id: int) -> dict[str, object]:
    """Counts per channel and state, the units used so far and whether every delivery has ended."""
    request = send_request_get(actor=actor, request_id=request_id)
    return progress_summary(request)


def progress_summary(request: SendRequest) -> dict[str, object]:
    return summarise(request.pk, progress(request_id=request.pk))


def summarise(request_id: int, counts: dict[str, dict[str, int]]) -> dict[str, object]:
    total = sum(sum(states.values()) for states in counts.values())
    # E-mail gets no receipt: handed to the relay (submitted) is as far as Tocsin can know.
    ended = sum(
        n
        for channel, states in counts.items()
        for s, n in states.items()
        if s in FINAL or (channel == domain.Channel.EMAIL.value and s == domain.State.SUBMITTED.value)
    )
    return {
        "request": request_id,
        "total": total,
        "ended": ended,
        "done": total > 0 and ended == total,
        "channels": counts,
    }


CALL_OUTCOMES = ("acknowledged", "answered", "answering_machine", "busy", "no_answer", "rejected", "failed")


def call_outcomes(request_ids: list[int]) -> dict[str, int]:
    """How the calls of these send requests went, counts only: every attempt by its outcome, and the minutes
    billed (``units``). Empty when nothing was called."""
    from django.db import connection

    if not request_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.outcome, count(*) FROM delivery_attempt a JOIN delivery_delivery d ON d.id = a.delivery_id"
            " WHERE d.request_id = ANY(%s) AND d.channel = 'voice' GROUP BY a.outcome",
            [request_ids],
        )
        counts = dict(cursor.fetchall())
        if not counts:
            return {}
        cursor.execute(
            "SELECT COALESCE(sum(units), 0) FROM delivery_delivery WHERE request_id = ANY(%s) AND channel = 'voice'",
            [request_ids],
        )
        units = cursor.fetchone()[0]
    return {**{outcome: int(counts.get(outcome, 0)) for outcome in CALL_OUTCOMES}, "units": int(units)}


def gateway_overview(*, actor: User) -> QuerySet[Gateway]:
    """Gateways and their health: the platform's for the crisis centre, an organisation's own otherwise."""
    if Role.ADMIN.value not in actor.roles:
        raise AccessDenied(gettext_noop("Only administrators see the gateways."))
    gateways = Gateway.objects.order_by("channel", "name")
    if actor.organisation.kind == Kind.CRISIS_CENTRE.value:
        return gateways
    return gateways.filter(organisation_id=actor.organisation_id)

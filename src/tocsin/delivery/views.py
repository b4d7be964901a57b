"""Portal pages for the outbox: send requests with live progress, and the gateways' health."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from tocsin.delivery import kannel, selectors
from tocsin.delivery.domain import Priority, State
from tocsin.delivery.models import Delivery
from tocsin.delivery.services import PROGRESS_CHANNEL, PROGRESS_SQL, progress_counts
from tocsin.organisations.models import User
from tocsin.organisations.services import AccessDenied, NotFound
from tocsin.web.views import _denied

STATES = [s.value for s in State]
STATE_LABELS = {
    "queued": _("Queued"),
    "claimed": _("Being sent"),
    "submitted": _("Sent, awaiting receipt"),
    "delivered": _("Delivered"),
    "failed": _("Failed"),
    "expired": _("Expired"),
}
PRIORITY_LABELS = {
    Priority.VERIFICATION: _("Verification code"),
    Priority.EMERGENCY: _("Emergency"),
    Priority.ALERT: _("Alert"),
    Priority.INFORMATION: _("Information"),
    Priority.BULK: _("Bulk"),
}
CHANNEL_LABELS = {"sms": _("SMS"), "email": _("E-mail"), "voice": _("Voice call")}
CALL_LABELS = {
    "acknowledged": _("Answered, confirmed with 1"),
    "answered": _("Answered, not confirmed"),
    "answering_machine": _("Answering machine: message left"),
    "busy": _("Busy"),
    "no_answer": _("No answer"),
    "rejected": _("Number refused by the network"),
    "failed": _("Failed: network or trunk"),
}


def call_rows(outcomes: dict[str, int], *, always: bool = False) -> list[tuple[str, Any, int]]:
    """(outcome, label, count) of the calls, for a table (none when nothing was called, unless ``always``)."""
    if not (outcomes or always):
        return []
    return [(key, CALL_LABELS[key], outcomes.get(key, 0)) for key in selectors.CALL_OUTCOMES]


# A stream ends after a third of the session's idle time (10 minutes by default) and the browser's EventSource opens
# a new one: that request keeps the session of a page left open (a console, a desk) alive, where a stream as long as
# the idle time would reconnect into an expired session and stop at the sign-in page.
STREAM_S = min(1800.0, settings.SESSION_COOKIE_AGE / 3)
HEARTBEAT_S = 15.0
MIN_INTERVAL_S = 1.0  # counts are recomputed at most once a second, however many notifications come


def _rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "channel": channel,
            "label": CHANNEL_LABELS.get(channel, channel),
            "counts": [(s, counts.get(s, 0)) for s in STATES],
            "total": sum(counts.values()),
        }
        for channel, counts in sorted(summary["channels"].items())
    ]


@login_required
def sends(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    items = list(selectors.send_request_list(actor=user)[:50])
    for item in items:
        item.priority_label = PRIORITY_LABELS.get(Priority(item.priority), item.priority)  # type: ignore[attr-defined]
    return render(request, "web/sends.html", {"items": items})


@login_required
def send_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        item = selectors.send_request_get(actor=user, request_id=request_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    summary = selectors.progress_summary(item)
    ctx = {
        "item": item,
        "summary": summary,
        "rows": _rows(summary),
        "states": [(s, STATE_LABELS[s]) for s in STATES],
        "priority": PRIORITY_LABELS[Priority(item.priority)],
        "calls": call_rows(selectors.call_outcomes([item.pk])),
    }
    return render(request, "web/send_detail.html", ctx)


async def _summary(conn: psycopg.AsyncConnection[Any], request_id: int) -> dict[str, object]:
    cur = await conn.execute(PROGRESS_SQL, [request_id])
    return selectors.summarise(request_id, progress_counts(await cur.fetchall()))


def _database_url() -> str:
    from tocsin.runtime.worker import django_database_url

    return django_database_url()


async def _progress_stream(request_id: int) -> AsyncIterator[str]:
    """Server-sent events: the counts now, then again whenever a worker announces a change."""
    loop = asyncio.get_running_loop()
    async with await psycopg.AsyncConnection.connect(_database_url(), autocommit=True) as conn:
        await conn.execute(f"LISTEN {PROGRESS_CHANNEL}")
        deadline = loop.time() + STREAM_S
        last: dict[str, object] | None = None
        yield "retry: 3000\n\n"
        while loop.time() < deadline:
            summary = await _summary(conn, request_id)
            if summary != last:
                yield f"event: progress\ndata: {json.dumps(summary)}\n\n"
                last = summary
            if summary["done"]:
                yield "event: done\ndata: {}\n\n"
                return
            changed = False
            async for notice in conn.notifies(timeout=HEARTBEAT_S):
                if notice.payload == str(request_id):
                    changed = True
                    break
            if not changed:
                yield ": still here\n\n"
            await asyncio.sleep(MIN_INTERVAL_S)


MAX_STREAMS = 50  # live progress pages per web process
_streams = asyncio.Semaphore(MAX_STREAMS)


async def _guarded(stream: AsyncIterator[str]) -> AsyncIterator[str]:
    async with _streams:
        async for event in stream:
            yield event


@login_required
async def send_events(request: HttpRequest, request_id: int) -> HttpResponse | StreamingHttpResponse:
    user: User = await request.auser()  # type: ignore[assignment]  # login_required: never anonymous
    try:
        await sync_to_async(selectors.send_request_get)(actor=user, request_id=request_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if _streams.locked():
        # Each stream holds a database connection: past the cap, the page keeps its last counts and
        # the browser tries again (SSE retry) rather than starving the workers of connections.
        return HttpResponse("Too many live pages open; retrying shortly.", status=503, headers={"Retry-After": "10"})
    response = StreamingHttpResponse(_guarded(_progress_stream(request_id)), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


@login_required
def gateways(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        items = list(selectors.gateway_overview(actor=user))
    except AccessDenied as exc:
        return _denied(request, exc)
    waiting: dict[int, dict[str, int]] = {}
    for row in (
        Delivery.objects.filter(gateway_id__in=[g.pk for g in items], state__in=["queued", "claimed", "submitted"])
        .values("gateway_id", "state")
        .annotate(n=Count("id"))
    ):
        waiting.setdefault(row["gateway_id"], {})[row["state"]] = row["n"]
    for g in items:
        g.waiting = waiting.get(g.pk, {})  # type: ignore[attr-defined]
        if g.kind == "kannel":
            base = g.config.get("callback_base") or settings.BASE_URL
            g.mo_url = kannel.mo_url(g.pk, base)  # type: ignore[attr-defined]
    return render(request, "web/gateways.html", {"gateways": items})

"""The alarm central's operator console (issue 9): /arc/console/ and /arc/cases/<id>/.

The queue of open alarm cases, fire first then the oldest, kept live over server-sent events; one case with its
zones and detection codes, the system's registry record, the action plan, the calls, the verification (KB-13,
KB-23), remote actions with the user's consent (KB-6), the notification to the emergency number as the law allows
it (KB-10 … KB-16, KB-20, KB-22, KB-23) with a live preview of what it states, the desk's answer, the history.

Thin: ``tocsin.arc.handling`` decides and writes, ``tocsin.arc.selectors`` reads (scoped to the member's central,
the record's reads audited); these views read the forms and show the answers. Every form posts and redirects back
(PRG); a refused form is the page again (422) with each refusal beside its field and a summary naming the rule,
and nothing written.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from tocsin.alarms.domain import REMOTE_ALLOWED, Party, RemoteAction, RemotePurpose
from tocsin.alarms.models import PROPERTY_CHOICES, SYSTEM_TYPE_CHOICES
from tocsin.alarms.services import Actor, as_member, require_central
from tocsin.arc import handling, selectors
from tocsin.arc.domain import (
    GOODS_FINDINGS,
    PERSONAL_FINDINGS,
    Category,
    Channel,
    DataSet,
    DeskOutcome,
    Finding,
    Outcome,
    Step,
)
from tocsin.arc.models import AlarmCase, Notification
from tocsin.arc.selectors import CaseView, QueueRow
from tocsin.i18n import localise
from tocsin.organisations.domain import RuleError, gettext_noop
from tocsin.organisations.models import User
from tocsin.organisations.services import AccessDenied
from tocsin.web.views import _denied, client_ip, portal_page

View = Callable[..., HttpResponse]
Errors = Mapping[str, list[dict[str, str]]]

POLL_S = 0.25  # the live queue reads its version this often: a new alarm shows within a quarter of a second
RECHECK_S = 60.0  # a stream re-reads its member this often: a suspended central's screens stop (BA-7.4)
MAX_TEXT = 10_000  # what a posted text may be before the service checks its own limit (and says so)

# --- the words the pages use ------------------------------------------------------------------------------------------

CATEGORY_LABELS: dict[str, Any] = {
    Category.FIRE.value: _("Fire"),
    Category.PERSONAL.value: _("Personal alarm"),
    Category.BURGLARY.value: _("Burglary"),
    Category.TECHNICAL.value: _("Technical"),
    Category.SUPERVISION.value: _("Supervision"),
}
STATE_LABELS: dict[str, Any] = {
    AlarmCase.OPEN: pgettext_lazy("case state", "Open"),
    AlarmCase.CLAIMED: _("Claimed"),
    AlarmCase.CLOSED: _("Closed"),
}
STEP_LABELS: dict[str, Any] = {
    Step.VERIFY.value: _("Verify by an approved method"),
    Step.CALL_USER.value: _("Call the user or a contact person"),
    Step.NOTIFY.value: _("Notify the emergency number, as the law allows"),
    Step.ON_SITE.value: _("Someone on site for the police, able to let them in and switch the system off"),
    Step.CALL_FIRE_SERVICE.value: _("Call the fire service (112)"),
    Step.INFORM_USER.value: _("Inform the user of the fault"),
    Step.TECHNICIAN.value: _("Send the security company's technician"),
}
STEP_RULES = {Step.NOTIFY.value: "KB-12", Step.ON_SITE.value: "KB-15"}
CALLEE_LABELS: dict[str, Any] = {
    "user": _("The user"),
    "contact": _("A contact person"),
    "emergency": _("The emergency number (101/112)"),
    "fire_service": _("The fire service (112)"),
    "technician": _("A technician"),
}
CALL_OUTCOME_LABELS: dict[str, Any] = {
    "reached": _("Reached"),
    "no_answer": _("No answer"),
    "busy": _("Busy"),
    "voicemail": _("Voicemail"),
    "wrong_number": _("Wrong number"),
}
OUTCOME_LABELS: dict[str, Any] = {
    Outcome.CONFIRMED.value: _("Confirmed"),
    Outcome.NOT_CONFIRMED.value: _("Not confirmed: a false alarm"),
    Outcome.INCONCLUSIVE.value: _("Inconclusive"),
}
FINDING_LABELS: dict[str, Any] = {
    Finding.INTRUSION.value: _("An intrusion"),
    Finding.ATTEMPT.value: _("An attempt"),
    Finding.VIOLENCE.value: _("Violence"),
    Finding.COERCION.value: _("Coercion"),
    Finding.THREAT.value: _("A threat"),
    Finding.OTHER.value: _("Something else: not an offence the decree covers"),
}
CHANNEL_LABELS: dict[str, Any] = {
    Channel.PHONE.value: _("By phone to 101 or 112, in a real-time conversation"),
    Channel.DIRECT.value: _("Through your central's direct emergency number"),
    Channel.FORWARD.value: _("Forward the signal itself (police stations and the National Bank only)"),
}
CHANNEL_SHORT: dict[str, Any] = {
    Channel.PHONE.value: _("by phone"),
    Channel.DIRECT.value: _("direct number"),
    Channel.FORWARD.value: _("forward the signal"),
}
CHANNEL_RULES = {Channel.PHONE.value: "KB-12", Channel.DIRECT.value: "KB-10", Channel.FORWARD.value: "KB-11"}
DESK_STATE_LABELS: dict[str, Any] = {
    Notification.SENT: _("Sent, not yet acknowledged"),
    Notification.ACKNOWLEDGED: _("Acknowledged by the desk"),
    Notification.DISPATCHED: _("Dispatched"),
    Notification.CLOSED: _("Closed"),
}
DESK_OUTCOME_LABELS: dict[str, Any] = {
    DeskOutcome.INTRUSION_CONFIRMED.value: _("Intrusion confirmed"),
    DeskOutcome.FALSE_ALARM.value: _("False alarm"),
    DeskOutcome.NOBODY_ON_SITE.value: _("Nobody on site"),
    DeskOutcome.NEUTRALISED.value: _("Siren or light neutralised"),
    DeskOutcome.PERSON_ASSISTED.value: _("Person assisted"),
    DeskOutcome.NO_DISPATCH.value: _("No dispatch"),
}
ACTION_LABELS: dict[str, Any] = {
    RemoteAction.ARM.value: _("Arm"),
    RemoteAction.DISARM.value: _("Disarm"),
    RemoteAction.READ.value: _("Query"),
    RemoteAction.PROGRAM.value: _("Program"),
}
PURPOSE_LABELS: dict[str, Any] = {
    RemotePurpose.MANAGE_ALARM.value: _("Manage an alarm for the client"),
    RemotePurpose.VERIFY.value: _("Verify an alarm"),
    RemotePurpose.REPAIR.value: _("Repair"),
}
CENTRAL_ACTIONS, CENTRAL_PURPOSES = REMOTE_ALLOWED[Party.ALARM_CENTRAL]
LOG_LABELS: dict[str, Any] = {
    "opened": _("Case opened"),
    "claimed": _("Claimed"),
    "released": _("Released"),
    "step_done": _("Step done"),
    "step_skipped": _("Step skipped"),
    "call": _("Call"),
    "verified": _("Verified"),
    "notified": _("Notified"),
    "remote": _("Remote action"),
    "closed": _("Closed"),
    "desk_acknowledged": _("The emergency desk acknowledged the notification"),
    "desk_dispatched": _("The emergency desk dispatched"),
    "desk_outcome": _("The emergency desk's outcome"),
}
# The items of a notification in the law's words, with the rule and the point of the article that asks for them.
ITEM_LABELS: dict[str, dict[str, tuple[Any, str]]] = {
    "goods": {
        "alarm_report_number": (_("The alarm-report number of the central"), "KB-14, 1°"),
        "user_number": (_("The user number"), "KB-14, 2°"),
        "intrusion": (_("That it is an intrusion or an attempt"), "KB-14, 3°"),
        "verification_code": (_("The verification code"), "KB-14, 3°"),
        "detection_code": (_("The detection code"), "KB-14, 4°"),
    },
    "personal": {
        "alarm_report_number": (_("The alarm-report number"), "KB-23"),
        "user_number": (_("The user number"), "KB-23"),
        "verification_code": (_("The verification code"), "KB-23"),
        "detection_code": (_("The detection code (fixed systems)"), "KB-23"),
        "incident": (_("All useful incident information"), "KB-23"),
    },
}
FIELD_LABELS: dict[str, Any] = {
    "case": _("Case"),
    "step": _("Step"),
    "steps": _("Action plan"),
    "text": _("Outcome or reason"),
    "callee": _("Who was called"),
    "name": _("Name"),
    "number": _("Phone number"),
    "outcome": _("Outcome"),
    "note": _("Note"),
    "method": _("Verification method"),
    "finding": _("What it established"),
    "action": _("Action"),
    "purpose": _("Purpose"),
    "consent": _("Consent of the user"),
    "channel": _("How to notify"),
    "incident": _("Incident information"),
    "call_at": _("Call time"),
    "call_with": _("Emergency operator's name"),
    "call_outcome": _("What was agreed"),
    "verification": _("Verification"),
    "system": _("Alarm system"),
    "reason": _("Reason"),
}
# Where a refusal naming something that is not a field of its form sends the reader.
ANCHORS = {
    "steps": "steps",
    "verification": "verify",
    "finding": "verify",
    "system": "record",
    "case": "case-actions",
}
FORM_FIELDS: dict[str, tuple[str, ...]] = {
    "claim": (),
    "step": ("text",),
    "call": ("callee", "name", "number", "outcome", "note"),
    "verify": ("method", "outcome", "finding", "note"),
    "remote": ("action", "purpose", "note"),
    "notify": ("channel", "incident", "call_at", "call_with", "call_outcome"),
    "close": ("reason",),
}
CALL_AT_FORMAT = gettext_noop("Give the call's date and time, for example 2025-03-01 14:05.")
_STEP = re.compile(r"[a-z_]{1,20}")
_ARTICLE = re.compile(r"KB-(\d+)")


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _actor(request: HttpRequest) -> Actor:
    return as_member(_user(request))


_portal = portal_page  # signed in; another organisation's is not found (404); a refusal is the 403 page


def article(rule: str) -> str:
    """The article a rule id stands for: "KB-13" → "art. 13" ("" for what is not a decree's rule)."""
    match = _ARTICLE.match(rule or "")
    return gettext("art. %(n)s") % {"n": match[1]} if match else ""


def _text(post: QueryDict, name: str, limit: int = MAX_TEXT) -> str:
    """A posted text without NUL characters (PostgreSQL refuses them); the service checks its length."""
    return str(post.get(name, "")).replace("\x00", "")[:limit]


def _age(seconds: float) -> str:
    """How long a case has waited, as an operator reads it: "45 s", "12 min", "2 h 05 min", "3 d"."""
    s = max(0, int(seconds))
    if s < 60:
        return gettext("%(n)s s") % {"n": s}
    if s < 3600:
        return gettext("%(n)s min") % {"n": s // 60}
    if s < 86400:
        return gettext("%(h)s h %(m)02d min") % {"h": s // 3600, "m": s // 60 % 60}
    return gettext("%(n)s d") % {"n": s // 86400}


# --- errors -----------------------------------------------------------------------------------------------------------


def _error_map(exc: RuleError, *, rename: Mapping[str, str] | None = None) -> dict[str, list[dict[str, str]]]:
    """Each field's refusals: {field: [{message, rule, article}]} (``__all__`` for what names no field)."""
    out: dict[str, list[dict[str, str]]] = {}
    for err in list(getattr(exc, "errors", None) or [exc]):
        name = err.field or "__all__"
        if rename:
            name = rename.get(name, name)
        rule = err.rule or ""
        out.setdefault(name, []).append({"message": localise(err), "rule": rule, "article": article(rule)})
    return out


def field_id(form: str, name: str) -> str:
    return f"{form}-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _summary(form: str, errors: Errors) -> list[dict[str, Any]]:
    """The list at the top of a refused form: each refusal, linked to its field (or to the part it is about)."""
    known = set(FORM_FIELDS.get(form.split(":")[0], ()))
    out = []
    for name, errs in errors.items():
        if name in known:
            href = field_id(form.replace(":", "-"), name)
        else:
            href = ANCHORS.get(name, "")
        for e in errs:
            out.append({"label": FIELD_LABELS.get(name, "") if name != "__all__" else "", "href": href, **e})
    return out


@dataclass
class Failed:
    """A refused form: which one, its refusals by field, what was typed (shown again)."""

    form: str
    errors: dict[str, list[dict[str, str]]]
    values: dict[str, str] = field(default_factory=dict)


def _bind(
    form: str,
    name: str,
    value: Any,
    failed: Failed | None,
    *,
    kind: str = "text",
    help: Any = "",
    required: bool = False,
    maxlength: int = 200,
    choices: Iterable[tuple[str, Any]] = (),
    autocomplete: str = "off",
) -> dict[str, Any]:
    """One input for ``arc/console/_field.html``: its value (what was typed, when its form was refused), its errors,
    and what describes it."""
    mine = failed is not None and failed.form == form
    errs = list(failed.errors.get(name, [])) if mine and failed else []
    ident = field_id(form.replace(":", "-"), name)
    described = ([f"{ident}-help"] if help else []) + [f"{ident}-error{i}" for i in range(1, len(errs) + 1)]
    if mine and failed:
        value = failed.values.get(name, "")
    return {
        "name": name,
        "id": ident,
        "label": FIELD_LABELS[name],
        "kind": kind,
        "help": help,
        "required": required,
        "choices": tuple(choices),
        "input_type": kind,
        "inputmode": "tel" if kind == "tel" else "",
        "maxlength": maxlength,
        "autocomplete": autocomplete,
        "input_name": name,
        "value": "" if value is None else str(value),
        "errors": errs,
        "describedby": " ".join(described),
    }


# --- the queue --------------------------------------------------------------------------------------------------------


_ROWS: dict[tuple[Any, ...], str] = {}  # a queue row's HTML by what it shows: most rows do not change between polls
_ROWS_KEPT = 20_000


def _queue_row(r: QueueRow, age: str, me: int) -> str:
    """One row of the queue, rendered once for what it shows (a live queue re-sends 200 rows several times a
    second in a storm, of which a few changed: rendering them all took most of the web process's time)."""
    key = (translation.get_language(), me, r.id, r.priority, r.category, r.title, r.state, r.events, r.restored,
           r.claimed_by_id, r.claimed_by, r.notified_at, r.reference, r.site_name, r.account, r.opened_at,
           age)  # fmt: skip
    html = _ROWS.get(key)
    if html is None:
        if len(_ROWS) >= _ROWS_KEPT:
            _ROWS.clear()
        row = {
            "r": r,
            "category": CATEGORY_LABELS.get(r.category, r.category),
            "age": age,
            "mine": r.claimed_by_id == me,
        }
        html = _ROWS[key] = render_to_string("arc/console/_queue_row.html", {"row": row})
    return html


def _queue_context(rows: list[QueueRow], total: int, me: int) -> dict[str, Any]:
    now = timezone.now()
    shown = []
    for r in rows:
        age = _age((now - r.opened_at).total_seconds())
        shown.append({"r": r, "html": mark_safe(_queue_row(r, age, me))})  # noqa: S308 — rendered by the template
    return {"rows": shown, "total": total, "shown": len(rows)}


@_portal
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """The central's open alarm cases, kept live (``queue_events``); keyboard: j/k, Enter, c."""
    actor = _actor(request)
    rows = selectors.queue(actor=actor)
    context = _queue_context(rows, selectors.queue_open_count(actor=actor), _user(request).pk)
    context["version"] = selectors.queue_version(actor=actor)
    return render(request, "arc/console/queue.html", context)


def _queue_payload(member: User, version: str, through: int, language: str, with_html: bool) -> str:
    """One ``queue`` event's JSON: the version, the last signal it covers, the time it was read, the rows, and the
    table as the page shows it. The rows are read after ``through``: they hold at least every signal up to it."""
    actor = as_member(member)
    rows = selectors.queue(actor=actor)
    total = selectors.queue_open_count(actor=actor)
    payload: dict[str, Any] = {
        "version": version,
        "through": through,
        "at": timezone.now().isoformat(),
        "total": total,
        "cases": [r.as_json() for r in rows],
    }
    if with_html:
        with translation.override(language):
            payload["html"] = render_to_string("arc/console/_queue.html", _queue_context(rows, total, member.pk))
    return json.dumps(payload)


class _Reader:
    """What one live queue reads, in the threads of ``sync_to_async``: the last signal read into cases and the
    queue's version, re-checking the member's access every ``RECHECK_S`` (a central suspended meanwhile, a role
    withdrawn: the stream ends)."""

    def __init__(self, member: User):
        self.member = member
        self.checked = timezone.now()

    def poll(self) -> tuple[int, str] | None:
        if (timezone.now() - self.checked).total_seconds() >= RECHECK_S:
            fresh = User.objects.select_related("organisation").filter(pk=self.member.pk).first()
            if fresh is None:
                return None
            self.member, self.checked = fresh, timezone.now()
        actor = as_member(self.member)
        try:
            # ``through`` first: the queue read after it holds at least every signal up to it.
            through = selectors.signals_through(actor=actor)
            return through, selectors.queue_version(actor=actor)
        except AccessDenied:
            return None


async def _queue_stream(member: User, language: str, with_html: bool) -> AsyncIterator[str]:
    """Server-sent events, the queue's version read every ``POLL_S``:

    - ``queue``: the queue now, then each time its version changes (JSON: version, through, at, total, cases, html);
    - ``through``: each time more signals were read into cases (JSON: version, through, at), right after the
      ``queue`` event that shows them if the queue changed. It is small: a reader that cannot take a large event
      (the queue's table runs to hundreds of kilobytes, sent in several HTTP chunks) follows the signals with it;
    - a comment every ``HEARTBEAT_S`` of quiet; ``end`` when the member lost access; the stream closes after
      ``STREAM_S`` (the browser reconnects).
    """
    from tocsin.delivery.views import HEARTBEAT_S, STREAM_S

    reader = _Reader(member)
    loop = asyncio.get_running_loop()
    deadline, last, last_through, quiet = loop.time() + STREAM_S, "", -1, 0.0
    yield "retry: 3000\n\n"
    while loop.time() < deadline:
        polled = await sync_to_async(reader.poll, thread_sensitive=False)()
        if polled is None:
            yield "event: end\ndata: {}\n\n"
            return
        through, version = polled
        sent = False
        if version != last:
            payload = await sync_to_async(_queue_payload, thread_sensitive=False)(
                reader.member, version, through, language, with_html
            )
            yield f"event: queue\ndata: {payload}\n\n"
            last, sent = version, True
        if through != last_through:
            data = json.dumps({"version": version, "through": through, "at": timezone.now().isoformat()})
            yield f"event: through\ndata: {data}\n\n"
            last_through, sent = through, True
        if sent:
            quiet = 0.0
        elif quiet >= HEARTBEAT_S:
            yield ": still here\n\n"
            quiet = 0.0
        await asyncio.sleep(POLL_S)
        quiet += POLL_S


@login_required
@require_GET
async def queue_events(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """``/arc/console/events``: the live queue (``text/event-stream``); ``?html=0`` leaves the rendered table out."""
    from tocsin.delivery.views import _guarded, _streams

    member: User = await request.auser()  # type: ignore[assignment]  # login_required: never anonymous
    try:
        await sync_to_async(require_central)(as_member(member))
    except AccessDenied as exc:
        return await sync_to_async(_denied)(request, exc)
    if _streams.locked():
        return HttpResponse("Too many live pages open; retrying shortly.", status=503, headers={"Retry-After": "10"})
    stream = _queue_stream(member, translation.get_language() or "en", request.GET.get("html") != "0")
    response = StreamingHttpResponse(_guarded(stream), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


# --- one case ---------------------------------------------------------------------------------------------------------


def _choices(labels: Mapping[str, Any], *, blank: bool = True) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [("", gettext("Choose"))] if blank else []
    return out + list(labels.items())


def _people(view: CaseView) -> list[dict[str, str]]:
    """Whom the record says to call: the user, then the contact persons (KB-15), each with a number."""
    s = view.system
    if s is None:
        return []
    people = [
        {
            "key": "user",
            "callee": "user",
            "name": s.user_name,
            "number": s.user_mobile or s.site_phone,
            "role": gettext("User"),
        },
    ]
    for i, c in enumerate(s.contacts or []):
        people.append(
            {
                "key": f"contact-{i}",
                "callee": "contact",
                "name": str(c.get("name", "")),
                "number": str(c.get("phone", "")),
                "role": gettext("Contact person"),
            }
        )
    return people


def _log_rows(view: CaseView) -> list[dict[str, Any]]:
    """The history in words: who did what, when, and what it said."""
    names = dict(
        User.objects.filter(
            pk__in=[e.data.get("taken_over_from") for e in view.log if e.data.get("taken_over_from")],
            organisation_id=view.case.central_id,
        ).values_list("pk", "full_name")
    )
    rows = []
    for e in view.log:
        d = e.data or {}
        parts: list[str] = []
        if e.what == "claimed" and d.get("taken_over_from"):
            parts.append(gettext("taken over from %(name)s") % {"name": names.get(d["taken_over_from"], "?")})
        elif e.what in ("step_done", "step_skipped"):
            parts.append(str(STEP_LABELS.get(d.get("step", ""), d.get("step", ""))))
            parts.append(d.get("outcome") or d.get("reason") or "")
        elif e.what == "call":
            parts += [
                str(CALLEE_LABELS.get(d.get("callee", ""), "")),
                d.get("name", ""),
                str(CALL_OUTCOME_LABELS.get(d.get("outcome", ""), d.get("outcome", ""))),
            ]
        elif e.what == "verified":
            parts += [
                d.get("method", ""),
                str(OUTCOME_LABELS.get(d.get("outcome", ""), "")),
                str(FINDING_LABELS.get(d.get("finding", ""), "")),
            ]
        elif e.what == "notified":
            parts.append(str(CHANNEL_LABELS.get(d.get("channel", ""), d.get("channel", ""))))
            if d.get("missing"):
                parts.append(gettext("missing: %(items)s") % {"items": ", ".join(_item_names(d["missing"]))})
        elif e.what == "remote":
            parts += [
                str(ACTION_LABELS.get(d.get("action", ""), d.get("action", ""))),
                str(PURPOSE_LABELS.get(d.get("purpose", ""), d.get("purpose", ""))),
            ]
        elif e.what == "closed":
            parts.append(
                gettext("restored, closed by itself") if d.get("reason") == "restored" else d.get("reason", "")
            )
        elif e.what == "opened":
            parts.append(str(CATEGORY_LABELS.get(d.get("category", ""), "")))
        elif e.what.startswith("desk_"):  # the desk's name is the "by" of the row
            parts.append(d.get("note", ""))
            if d.get("outcome"):
                parts.append(str(DESK_OUTCOME_LABELS.get(d["outcome"], d["outcome"])))
            if d.get("entered"):
                parts.append(gettext("the police entered"))
        rows.append(
            {
                "at": e.at,
                "by": e.by.full_name if e.by else (d.get("desk") or "Tocsin"),
                "what": LOG_LABELS.get(e.what, e.what),
                "detail": " · ".join(p for p in parts if p),
                "desk": e.what.startswith("desk_"),
            }
        )
    return rows


def _item_names(items: Iterable[str]) -> list[str]:
    labels = {**ITEM_LABELS["personal"], **ITEM_LABELS["goods"]}
    return [str(labels[i][0]) if i in labels else i for i in items]


def _default_channel(view: CaseView) -> str:
    return Channel.DIRECT.value if view.personal else Channel.PHONE.value


def _script(preview: Mapping[str, Any], member: User, methods: Mapping[str, str]) -> list[dict[str, Any]]:
    """KB-12: what the operator says to the emergency operator, line by line, from the data set (KB-14); an item
    the case lacks is said to be missing (KB-16)."""
    data: DataSet = preview["dataset"]
    items, extra = data.items, data.extra
    missing = gettext("[missing]")

    def say(key: str) -> str:
        return str(items.get(key) or "").strip() or missing

    code = str(items.get("verification_code") or "")
    finding = str(FINDING_LABELS.get(str(items.get("intrusion") or ""), "")) if data.kind == "goods" else ""
    places: list[str] = []
    for z in extra.get("zones", []):
        place = z["label"] or gettext("zone %(z)s") % {"z": z["zone"]}
        if place not in places:
            places.append(place)
    lines = [
        (
            gettext("This is the alarm central %(central)s, alarm-report number %(arn)s.")
            % {"central": member.organisation.name, "arn": say("alarm_report_number")},
            "alarm_report_number",
        ),
        (
            gettext("User number %(number)s: %(site)s, %(address)s.")
            % {"number": say("user_number"), "site": extra.get("site_name", ""), "address": extra.get("site", "")},
            "user_number",
        ),
    ]
    if data.kind == "goods":
        lines.append(
            (
                gettext("Verified: %(finding)s, by %(method)s (verification code %(code)s).")
                % {"finding": finding or missing, "method": methods.get(code, missing), "code": code or missing},
                "intrusion" if not finding else "verification_code",
            )
        )
    else:
        lines.append(
            (
                gettext("Verified by %(method)s (verification code %(code)s).")
                % {"method": methods.get(code, missing), "code": code or missing},
                "verification_code",
            )
        )
    lines.append(
        (
            gettext("Detection code: %(codes)s (%(places)s).")
            % {"codes": say("detection_code"), "places": ", ".join(places)}
            if places
            else gettext("Detection code: %(codes)s.") % {"codes": say("detection_code")},
            "detection_code",
        )
    )
    if data.kind == "personal":
        lines.append((gettext("What happened: %(incident)s") % {"incident": say("incident")}, "incident"))
    if extra.get("site_phone"):
        lines.append((gettext("Phone number of the site: %(phone)s.") % {"phone": extra["site_phone"]}, ""))
    if extra.get("images"):
        lines.append((gettext("Images of the site: %(link)s") % {"link": extra["images"]}, ""))
    lines.append((gettext("May I have your name, please?"), "call_with"))
    lack = set(preview["missing"])
    return [{"text": text, "missing": key in lack} for text, key in lines]


def _preview_context(preview: Mapping[str, Any] | None, error: RuleError | None, member: User) -> dict[str, Any]:
    """The notification panel's preview: the law's refusals with their article, the data set in the law's words with
    what is missing highlighted (KB-16), and for a phone call the script (KB-12)."""
    if preview is None:
        return {"preview_error": _error_map(error) if error else {}}
    data: DataSet = preview["dataset"]
    channel = str(preview["channel"])
    labels = ITEM_LABELS[data.kind]
    missing = set(preview["missing"])
    methods = {m.code: m.name for m in selectors.verification_methods(personal=data.kind == "personal")}
    items = []
    for key, (label, rule) in labels.items():
        value = str(data.items.get(key) or "")
        if key == "intrusion" and value:
            value = str(FINDING_LABELS.get(value, value))
        if key == "verification_code" and value in methods:
            value = f"{value} ({methods[value]})"
        items.append({"key": key, "label": label, "rule": rule, "value": value, "missing": key in missing})
    refusals = [
        {"message": localise(e), "rule": e.rule or "", "article": article(e.rule or ""), "field": e.field or ""}
        for e in preview["errors"]
    ]
    number = preview["direct_number"]
    return {
        "preview": {
            "channel": channel,
            "channel_label": CHANNEL_LABELS.get(channel, channel),
            "channel_rule": CHANNEL_RULES.get(channel, ""),
            "kind": data.kind,
            "law": "KB-14" if data.kind == "goods" else "KB-23",
            "items": items,
            "missing": [i for i in items if i["missing"]],
            "refusals": refusals,
            "script": _script(preview, member, methods) if channel == Channel.PHONE.value else [],
            "direct_number": number.number if number else "",
            "direct_centre": number.emergency_centre.name if number else "",
            "images": data.extra.get("images", ""),
            "images_link": str(data.extra.get("images", "")).startswith(("https://", "http://")),
            "position": (data.extra.get("latitude"), data.extra.get("longitude"))
            if data.extra.get("latitude")
            else None,
        }
    }


def _preview(actor: Actor, case_id: int, channel: str, incident: str) -> tuple[dict[str, Any] | None, RuleError | None]:
    try:
        return handling.notification_preview(actor=actor, case_id=case_id, channel=channel, incident=incident), None
    except RuleError as exc:
        return None, exc


def _local_now() -> str:
    return timezone.localtime().strftime("%Y-%m-%dT%H:%M")


def _forms(request: HttpRequest, view: CaseView, failed: Failed | None) -> dict[str, Any]:
    """Every form of the case page, bound to what was typed in the refused one."""
    personal = view.personal
    people = {p["key"]: p for p in _people(view)}
    picked = people.get(request.GET.get("call", "")) or people.get("user") or {}
    findings = PERSONAL_FINDINGS | {Finding.OTHER} if personal else GOODS_FINDINGS
    finding_choices = [(f.value, FINDING_LABELS[f.value]) for f in Finding if f in findings]
    method_help = (
        _("The approved methods for personal alarms (KB-23).")
        if personal
        else _("The approved methods for goods alarms (KB-13).")
    )
    forms: dict[str, Any] = {
        "call": {
            "callee": _bind(
                "call",
                "callee",
                picked.get("callee", "user"),
                failed,
                kind="select",
                required=True,
                choices=_choices(CALLEE_LABELS),
            ),
            "name": _bind("call", "name", picked.get("name", ""), failed, maxlength=200),
            "number": _bind("call", "number", picked.get("number", ""), failed, kind="tel", maxlength=20),
            "outcome": _bind(
                "call", "outcome", "", failed, kind="select", required=True, choices=_choices(CALL_OUTCOME_LABELS)
            ),
            "note": _bind("call", "note", "", failed, maxlength=2000),
        },
        "verify": {
            "method": _bind(
                "verify",
                "method",
                "",
                failed,
                kind="select",
                required=True,
                help=method_help,
                choices=_choices({m.code: f"{m.code} — {m.name}" for m in view.methods}),
            ),
            "outcome": _bind(
                "verify",
                "outcome",
                "",
                failed,
                kind="radio",
                required=True,
                choices=_choices(OUTCOME_LABELS, blank=False),
            ),
            "finding": _bind(
                "verify",
                "finding",
                "",
                failed,
                kind="select",
                choices=_choices(dict(finding_choices)),
                help=_(
                    "When confirmed: what the verification established (KB-23: signs of violence, "
                    "coercion, a threat or an attempt)."
                )
                if personal
                else _("When confirmed: an intrusion or an attempt (KB-13)."),
            ),
            "note": _bind("verify", "note", "", failed, maxlength=2000),
        },
        "remote": {
            "action": _bind(
                "remote",
                "action",
                "",
                failed,
                kind="select",
                required=True,
                choices=_choices({k: v for k, v in ACTION_LABELS.items() if RemoteAction(k) in CENTRAL_ACTIONS}),
            ),
            "purpose": _bind(
                "remote",
                "purpose",
                "",
                failed,
                kind="select",
                required=True,
                choices=_choices({k: v for k, v in PURPOSE_LABELS.items() if RemotePurpose(k) in CENTRAL_PURPOSES}),
            ),
            "note": _bind("remote", "note", "", failed, maxlength=500),
        },
        "notify": {
            "incident": _bind(
                "notify",
                "incident",
                "",
                failed,
                kind="textarea",
                maxlength=2000,
                help=_("All useful incident information (KB-23): what is happening, to whom, where."),
            ),
            "call_at": _bind(
                "notify",
                "call_at",
                _local_now(),
                failed,
                kind="datetime-local",
                help=_("When you spoke with the emergency operator."),
            ),
            "call_with": _bind(
                "notify",
                "call_with",
                "",
                failed,
                maxlength=200,
                required=True,
                help=_("A notification by phone is a real-time conversation: note with whom (KB-12)."),
            ),
            "call_outcome": _bind(
                "notify", "call_outcome", "", failed, maxlength=500, help=_("For example: a patrol is sent.")
            ),
        },
        "close": {
            "reason": _bind(
                "close",
                "reason",
                "",
                failed,
                maxlength=500,
                required=True,
                help=_("For example: a false alarm, the user was reached; or: notified, the police came."),
            ),
        },
    }
    for name in ("call", "verify", "remote", "notify", "close", "claim"):
        forms.setdefault(name, {})
        forms[name + "_summary"] = _summary(name, failed.errors) if failed and failed.form == name else []
    return forms


# Steps done by their own form: the verification (KB-13 / KB-23) and the notification mark them done, so the plan
# offers only to skip them (with a reason), and points at their form.
BY_FORM = {Step.VERIFY.value: ("verify", "v"), Step.NOTIFY.value: ("notify", "n")}


def _steps(view: CaseView, failed: Failed | None) -> list[dict[str, Any]]:
    rows = []
    for s in view.steps:
        form = f"step:{s.step}"
        rule = STEP_RULES.get(s.step, "")
        if s.step == Step.VERIFY.value:
            rule = "KB-23" if view.personal else "KB-13"
        text = _bind(form, "text", "", failed, maxlength=500)
        text["describedby"] = " ".join(
            ["steps-help", *(f"{text['id']}-error{i}" for i in range(1, len(text["errors"]) + 1))]
        )
        anchor, key = BY_FORM.get(s.step, ("", ""))
        rows.append(
            {
                "s": s,
                "label": STEP_LABELS.get(s.step, s.step),
                "rule": rule,
                "done": s.done_at is not None,
                "skipped": bool(s.skipped_reason) and s.done_at is None,
                "form_id": f"step-{s.step}",
                "by_form": anchor,
                "key": key,
                "text": text,
                "summary": _summary(form, failed.errors) if failed and failed.form == form else [],
            }
        )
    return rows


def _notifications(view: CaseView) -> list[dict[str, Any]]:
    return [
        {
            "n": n,
            "channel": CHANNEL_LABELS.get(n.channel, n.channel),
            # A phone notification is the conversation itself (KB-12): no desk follows it up in Tocsin.
            "state": gettext("Notified by phone")
            if n.channel == Channel.PHONE.value
            else DESK_STATE_LABELS.get(n.state, n.state),
            "outcome": DESK_OUTCOME_LABELS.get(n.outcome, n.outcome),
            "missing": _item_names(n.missing or []),
        }
        for n in view.notifications
    ]


def _case_page(request: HttpRequest, case_id: int, *, failed: Failed | None = None, status: int = 200) -> HttpResponse:
    actor = _actor(request)
    member = _user(request)
    view = selectors.case_detail(actor=actor, case_id=case_id, ip=client_ip(request))
    case = view.case
    notify_values = failed.values if failed and failed.form == "notify" else {}
    channel = notify_values.get("channel") or request.GET.get("channel", "") or _default_channel(view)
    channel = channel if channel in CHANNEL_LABELS else _default_channel(view)
    incident = notify_values.get("incident", "")
    preview, preview_error = _preview(actor, case.pk, channel, incident) if case.system_id else (None, None)
    mine = case.claimed_by_id == member.pk
    system = view.system
    context = {
        "view": view,
        "c": case,
        "case_version": f"{case.updated_at.isoformat()}:{case.state}:{case.claimed_by_id or 0}:{case.events}",
        "s": system,
        "mine": mine,
        "closed": case.state == AlarmCase.CLOSED,
        "held_by_other": case.claimed_by_id is not None and not mine,
        "category": CATEGORY_LABELS.get(case.category, case.category),
        "state": STATE_LABELS.get(case.state, case.state),
        "age": _age((timezone.now() - case.opened_at).total_seconds()),
        # The title is the first alarm's code and description: the other events say theirs.
        "events": [
            {"e": e, "desc": e.description if f"{e.code} {e.description}".strip() != case.title else ""}
            for e in view.events
        ],
        "steps": _steps(view, failed),
        "people": _people(view),
        "calls": [
            {
                "c": c,
                "callee": CALLEE_LABELS.get(c.callee, c.callee),
                "outcome": CALL_OUTCOME_LABELS.get(c.outcome, c.outcome),
            }
            for c in view.calls
        ],
        "verifications": [
            {"v": v, "outcome": OUTCOME_LABELS.get(v.outcome, v.outcome), "finding": FINDING_LABELS.get(v.finding, "")}
            for v in view.verifications
        ],
        "notifications": _notifications(view),
        "log": _log_rows(view),
        "forms": _forms(request, view, failed),
        "failed": failed,
        "channel": channel,
        "channels": [
            {"value": k, "label": v, "short": CHANNEL_SHORT[k], "rule": CHANNEL_RULES[k], "checked": k == channel}
            for k, v in CHANNEL_LABELS.items()
        ],
        "personal": view.personal,
        "system_type": dict(SYSTEM_TYPE_CHOICES).get(system.system_type, system.system_type) if system else "",
        "property_nature": dict(PROPERTY_CHOICES).get(system.property_nature, system.property_nature) if system else "",
        "consents": [
            {
                "c": c,
                "actions": [ACTION_LABELS.get(a, a) for a in c.actions],
                "purposes": [PURPOSE_LABELS.get(p, p) for p in c.purposes],
            }
            for c in view.consents
        ],
        "signals": [{"s": s, "events": _signal_events(s.events)} for s in view.signals],
        **_preview_context(preview, preview_error, member),
    }
    return render(request, "arc/console/case.html", context, status=status)


def _signal_events(events: Any) -> list[dict[str, str]]:
    out = []
    for e in events if isinstance(events, list) else []:
        if isinstance(e, dict):
            out.append({"code": str(e.get("code") or ""), "zone": str(e.get("zone") or "")})
    return out


@_portal
@require_GET
def case(request: HttpRequest, case_id: int) -> HttpResponse:
    """One case of the central (audited: it shows the registry record); another central's is not found."""
    return _case_page(request, case_id)


@_portal
@require_GET
def case_version(request: HttpRequest, case_id: int) -> HttpResponse:
    """The case's version (JSON), for the open case page to tell its reader that the case changed meanwhile."""
    version = selectors.case_version(actor=_actor(request), case_id=case_id)
    return JsonResponse({"version": version}, headers={"Cache-Control": "no-store"})


@_portal
@require_GET
def case_preview(request: HttpRequest, case_id: int) -> HttpResponse:
    """The notification panel's preview for a channel (and the incident typed so far), as a fragment for the page's
    script; audited like the page."""
    actor = _actor(request)
    channel = request.GET.get("channel", "")[:10]
    incident = request.GET.get("incident", "").replace("\x00", "")[:MAX_TEXT]
    preview: dict[str, Any] | None = None
    error: RuleError | None = None
    try:
        preview = selectors.notification_preview(
            actor=actor, case_id=case_id, channel=channel, incident=incident, ip=client_ip(request)
        )
    except RuleError as exc:
        error = exc
    return render(request, "arc/console/_preview.html", _preview_context(preview, error, _user(request)))


def _act(
    request: HttpRequest,
    case_id: int,
    form: str,
    call: Callable[[], Any],
    done: str,
    anchor: str = "",
    rename: Mapping[str, str] | None = None,
) -> HttpResponse:
    """Run one form of the case page (one service call). Refused: the page again with the refusals, nothing
    written; done: back to the page (PRG), at the part the form was in."""
    try:
        call()
    except RuleError as exc:
        values = {k: _text(request.POST, k, 2100) for k in request.POST if k != "csrfmiddlewaretoken"}
        failed = Failed(form=form, errors=_error_map(exc, rename=rename), values=values)
        return _case_page(request, case_id, failed=failed, status=422)
    messages.success(request, done)
    return redirect(reverse("console:case", kwargs={"case_id": case_id}) + anchor)


@_portal
@require_POST
def case_claim(request: HttpRequest, case_id: int) -> HttpResponse:
    """Claim the case (one operator at a time); ``take_over=1`` takes it from the colleague who has it."""
    take_over = request.POST.get("take_over") == "1"
    return _act(
        request,
        case_id,
        "claim",
        lambda: handling.claim(actor=_actor(request), case_id=case_id, take_over=take_over),
        gettext("You took over this case.") if take_over else gettext("You are handling this case."),
    )


@_portal
@require_POST
def case_release(request: HttpRequest, case_id: int) -> HttpResponse:
    return _act(
        request,
        case_id,
        "claim",
        lambda: handling.release(actor=_actor(request), case_id=case_id),
        gettext("The case is back in the queue for a colleague."),
    )


@_portal
@require_POST
def case_step(request: HttpRequest, case_id: int, step: str) -> HttpResponse:
    """A step of the plan: done (with an optional outcome) or skipped (with a reason, required)."""
    if not _STEP.fullmatch(step):
        raise Http404
    text = _text(request.POST, "text")
    actor = _actor(request)
    if request.POST.get("action") == "skip":
        call: Callable[[], Any] = lambda: handling.step_skip(actor=actor, case_id=case_id, step=step, reason=text)  # noqa: E731
        done = gettext("The step is skipped: %(step)s.")
    else:
        call = lambda: handling.step_done(actor=actor, case_id=case_id, step=step, outcome=text)  # noqa: E731
        done = gettext("The step is done: %(step)s.")
    label = str(STEP_LABELS.get(step, step))
    return _act(
        request,
        case_id,
        f"step:{step}",
        call,
        done % {"step": label},
        "#steps",
        rename={"outcome": "text", "reason": "text"},
    )


@_portal
@require_POST
def case_call(request: HttpRequest, case_id: int) -> HttpResponse:
    post = request.POST
    return _act(
        request,
        case_id,
        "call",
        lambda: handling.call_logged(
            actor=_actor(request),
            case_id=case_id,
            callee=_text(post, "callee", 20),
            outcome=_text(post, "outcome", 20),
            name=_text(post, "name", 200),
            number=_text(post, "number", 20),
            note=_text(post, "note"),
        ),
        gettext("The call is logged."),
        "#calls",
    )


@_portal
@require_POST
def case_verify(request: HttpRequest, case_id: int) -> HttpResponse:
    """KB-13 / KB-23: the verification, by an approved method, and what it established."""
    post = request.POST
    return _act(
        request,
        case_id,
        "verify",
        lambda: handling.verify(
            actor=_actor(request),
            case_id=case_id,
            method=_text(post, "method", 8),
            outcome=_text(post, "outcome", 16),
            finding=_text(post, "finding", 16),
            note=_text(post, "note"),
        ),
        gettext("The verification is recorded."),
        "#notify",
    )


@_portal
@require_POST
def case_remote(request: HttpRequest, case_id: int) -> HttpResponse:
    """KB-6: arm, disarm or query the system, only with the user's prior written consent covering it."""
    post = request.POST
    return _act(
        request,
        case_id,
        "remote",
        lambda: handling.remote(
            actor=_actor(request),
            case_id=case_id,
            action=_text(post, "action", 10),
            purpose=_text(post, "purpose", 14),
            note=_text(post, "note", 500),
        ),
        gettext("The remote action is recorded: the user's consent covers it."),
        "#remote",
    )


def _call_at(raw: str) -> datetime | None:
    """The call's time as typed (``datetime-local``, in the central's time zone); empty: now. Not a time: raises."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise RuleError(CALL_AT_FORMAT, field="call_at") from None
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


@_portal
@require_POST
def case_notify(request: HttpRequest, case_id: int) -> HttpResponse:
    """Notify the emergency number as the law allows: by phone (KB-12, the call's time and the emergency operator's
    name recorded), through the direct number (KB-10), or the signal itself (KB-11); refusals name their article."""
    post = request.POST
    channel = _text(post, "channel", 10)
    phone = channel == Channel.PHONE.value

    def notify() -> Any:
        return handling.notify(
            actor=_actor(request),
            case_id=case_id,
            channel=channel,
            incident=_text(post, "incident"),
            call_at=_call_at(_text(post, "call_at", 40)) if phone else None,
            call_with=_text(post, "call_with", 200) if phone else "",
            call_outcome=_text(post, "call_outcome", 500) if phone else "",
        )

    return _act(request, case_id, "notify", notify, gettext("The notification is recorded."), "#notify")


@_portal
@require_POST
def case_close(request: HttpRequest, case_id: int) -> HttpResponse:
    """Close the case: every step of its plan done or skipped with a reason, and why it is closed."""
    post = request.POST
    reason = _text(post, "reason")
    try:
        handling.close(actor=_actor(request), case_id=case_id, reason=reason)
    except RuleError as exc:
        failed = Failed(form="close", errors=_error_map(exc), values={"reason": reason[:2100]})
        return _case_page(request, case_id, failed=failed, status=422)
    messages.success(request, gettext("Case %(id)s is closed.") % {"id": case_id})
    return redirect("console:queue")

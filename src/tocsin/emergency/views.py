"""The emergency centre's desk (101/112, issue 9): /desk/…

Structured alarm notifications arrive through the centrals' direct emergency numbers (KB-10). The desk lists them
live, complete ones first and those for delayed handling after them with what they lack (KB-16); one notification
shows the law's items (KB-14, KB-23), the site on a map, its zones, contacts, images link (KB-24), a mobile alarm's
position and a fixed personal alarm's sketch (KB-21); the operator acknowledges it, dispatches a patrol and records
the outcome, which returns to the central (KB-19 refusals beside the field). Statistics per central.
Thin: ``tocsin.emergency.services`` and ``selectors`` decide, scope to the member's centre and audit; another
centre's notification is not found (404) and nothing changes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from tocsin.alarms import selectors as registry_selectors
from tocsin.alarms.domain import FieldErrors
from tocsin.alarms.models import PROPERTY_CHOICES, SYSTEM_TYPE_CHOICES
from tocsin.alarms.services import Actor, as_member
from tocsin.arc.domain import DWELLINGS, GOODS_ITEMS, PERSONAL_ITEMS, DeskOutcome
from tocsin.arc.models import Notification, VerificationMethod
from tocsin.emergency import selectors, services
from tocsin.i18n import localise
from tocsin.organisations.domain import RuleError
from tocsin.organisations.models import User
from tocsin.organisations.services import AccessDenied
from tocsin.web.views import _denied, client_ip, portal_page

View = Callable[..., HttpResponse]
Errors = dict[str, list[dict[str, str]]]

POLL_S = 0.5  # the live queue compares queue_version this often
HEARTBEAT_S = 15.0

ITEM_LABELS: dict[str, Any] = {  # KB-14 (goods) and KB-23 (personal), in the law's words
    "alarm_report_number": _("Alarm-report number"),
    "user_number": _("User number"),
    "intrusion": _("Intrusion or attempt"),
    "verification_code": _("Verification code"),
    "detection_code": _("Detection code"),
    "incident": _("Incident information"),
}
FINDING_LABELS: dict[str, Any] = {"intrusion": _("Intrusion"), "attempt": _("Attempted intrusion")}
KIND_LABELS: dict[str, Any] = {"goods": _("Goods alarm"), "personal": _("Personal alarm")}
STATE_LABELS: dict[str, Any] = {
    Notification.SENT: _("New"),
    Notification.ACKNOWLEDGED: _("Acknowledged"),
    Notification.DISPATCHED: _("Patrol dispatched"),
    Notification.CLOSED: _("Closed"),
}
OUTCOME_LABELS: dict[str, Any] = {
    DeskOutcome.INTRUSION_CONFIRMED.value: _("Intrusion confirmed"),
    DeskOutcome.FALSE_ALARM.value: _("False alarm"),
    DeskOutcome.NOBODY_ON_SITE.value: _("Nobody on site"),
    DeskOutcome.NEUTRALISED.value: _("Siren or light neutralised: evidently not an intrusion"),
    DeskOutcome.PERSON_ASSISTED.value: _("Person assisted"),
    DeskOutcome.NO_DISPATCH.value: _("No patrol dispatched"),
}
FIELD_LABELS: dict[str, Any] = {
    "outcome": _("Outcome"),
    "entered": _("The police entered the premises"),
    "entry_consent_by": _("Entry consented to by"),
    "note": _("Note"),
    "state": _("Notification"),
}
FORM_FIELDS = {"dispatch": ("note",), "outcome": ("outcome", "entered", "entry_consent_by", "note")}


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _actor(request: HttpRequest) -> Actor:
    return as_member(_user(request))


_desk = portal_page  # signed in; another organisation's is not found (404); a refusal is the 403 page


# --- the queue -------------------------------------------------------------------------------------------------------


def _digest(version: tuple[int, str]) -> str:
    """What the live page compares: short, whatever the size of the queue."""
    latest, states = version
    return f"{latest}-{hashlib.sha256(states.encode()).hexdigest()[:16]}"


def _missing_words(names: Iterable[str]) -> list[str]:
    return [str(ITEM_LABELS.get(n, n.replace("_", " "))) for n in names]


def _site(row: Notification) -> str:
    extra = row.extra or {}
    name, address = str(extra.get("site_name") or ""), str(extra.get("site") or "")
    return ", ".join(p for p in (name, address) if p) or row.system.reference


def _queue_row(row: Notification, now: datetime) -> dict[str, Any]:
    return {
        "n": row,
        "kind": KIND_LABELS.get(row.kind, row.kind),
        "central": row.central.name,
        "site": _site(row),
        "age_s": max(0, int((now - row.created_at).total_seconds())),
        "state": STATE_LABELS.get(row.state, row.state),
        "missing": _missing_words(row.missing or []),
    }


def _queue_context(request: HttpRequest) -> dict[str, Any]:
    actor = _actor(request)
    rows = selectors.queue(actor=actor)
    version = selectors.queue_version(actor=actor)
    now = timezone.now()
    shown = [_queue_row(r, now) for r in rows]
    return {
        "complete": [r for r in shown if not r["n"].delayed],
        "delayed": [r for r in shown if r["n"].delayed],
        "version": _digest(version),
        "latest": version[0],
        "new_count": sum(1 for r in rows if r.state == Notification.SENT),
    }


@_desk
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """The live queue: complete notifications first (oldest first), then those for delayed handling (KB-16).
    ``?fragment=queue`` answers the queue alone, for the live page to swap in."""
    context = _queue_context(request)
    if request.GET.get("fragment") == "queue":
        return render(request, "emergency/_queue.html", context)
    return render(request, "emergency/queue.html", context)


async def _queue_stream(user_id: int) -> AsyncIterator[str]:
    """Server-sent events: the queue's version now, then each time it changes (compared every 0.5 s).

    The member is read again at every poll, so a suspended organisation or a removed role ends the stream.
    """
    import asyncio

    from tocsin.delivery.views import STREAM_S

    def read() -> str | None:
        member = User.objects.select_related("organisation").filter(pk=user_id).first()
        if member is None:
            return None
        try:
            return _digest(selectors.queue_version(actor=as_member(member)))
        except AccessDenied:
            return None

    loop = asyncio.get_running_loop()
    deadline, last, quiet = loop.time() + STREAM_S, None, 0.0
    yield "retry: 3000\n\n"
    while loop.time() < deadline:
        version = await sync_to_async(read, thread_sensitive=False)()
        if version is None:
            return
        if version != last:
            yield f"event: queue\ndata: {json.dumps({'version': version})}\n\n"
            last, quiet = version, 0.0
        elif quiet >= HEARTBEAT_S:
            yield ": still here\n\n"
            quiet = 0.0
        await asyncio.sleep(POLL_S)
        quiet += POLL_S


@login_required
async def events(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    from tocsin.delivery.views import _guarded, _streams

    user: User = await request.auser()  # type: ignore[assignment]  # login_required: never anonymous
    try:
        await sync_to_async(selectors.queue_version)(actor=as_member(user))
    except AccessDenied as exc:
        return await sync_to_async(_denied)(request, exc)
    if _streams.locked():
        return HttpResponse("Too many live pages open; retrying shortly.", status=503, headers={"Retry-After": "10"})
    response = StreamingHttpResponse(_guarded(_queue_stream(user.pk)), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


# --- one notification ------------------------------------------------------------------------------------------------

_COORD = re.compile(r"([NSEWnsew]?)\s*([+-]?\d{1,3}(?:\.\d+)?)")


def _coordinate(text: Any, *, limit: float) -> float | None:
    """A coordinate as a panel sends it in [X]/[Y] (``E4.3517``, ``N50.8466``, or a signed number)."""
    match = _COORD.fullmatch(str(text or "").strip())
    if not match:
        return None
    value = float(match[2]) * (-1 if match[1].upper() in ("S", "W") else 1)
    return value if math.isfinite(value) and abs(value) <= limit else None


def _position(extra: Mapping[str, Any]) -> tuple[float, float] | None:
    """A mobile alarm's position (longitude, latitude); [X] may carry both (``E4.35Y50.85``)."""
    lon_text, lat_text = str(extra.get("longitude") or ""), str(extra.get("latitude") or "")
    if "Y" in lon_text.upper() and not lat_text:
        lon_text, _sep, lat_text = lon_text.upper().partition("Y")
    lon, lat = _coordinate(lon_text, limit=180), _coordinate(lat_text, limit=90)
    return (lon, lat) if lon is not None and lat is not None else None


def _images_link(value: Any) -> str:
    """KB-24: the link to the site's images, only as a web address (never ``javascript:`` or the like)."""
    text = str(value or "").strip()
    return text if re.match(r"https?://[^\s\"'<>]+$", text) and len(text) <= 500 else ""


def _site_map(lon: float, lat: float, *, nis: str, title: str, label: str) -> SafeString:
    """The site on a small server-drawn SVG map (no tile server, no script): the municipalities' outlines around it
    (those the platform has), its own shaded, a marker with its label. Every string escaped by format_html."""
    from tocsin.geo import maps

    def xy(x: float, y: float) -> tuple[float, float]:  # the projection of tocsin.geo.maps
        return (x - maps.WEST) * maps.KX * maps.SCALE, (maps.NORTH - y) * maps.SCALE

    half_h = 0.035 * maps.SCALE  # about 4 km north to south
    half_w = half_h * 1.6
    cx, cy = xy(lon, lat)
    x0, y0 = cx - half_w, cy - half_h
    near = 0.4 * maps.SCALE  # outlines that start within ~40 km: enough to fill the window
    paths = []
    for code, name, d in maps.outlines():
        start = re.match(r"M(-?[\d.]+),(-?[\d.]+)", d)
        if not start or abs(float(start[1]) - cx) > near or abs(float(start[2]) - cy) > near:
            continue
        fill = "#e3ecf6" if code == nis else "#f7f7f7"
        paths.append(format_html('<path d="{}" fill="{}"><title>{}</title></path>', d, fill, name))
    r = half_h / 18
    grid = format_html_join(
        "",
        '<line x1="{0}" y1="{1}" x2="{2}" y2="{1}"/>',
        ((f"{x0:.1f}", f"{y0 + i * half_h / 2:.1f}", f"{x0 + 2 * half_w:.1f}") for i in range(1, 4)),
    )
    return format_html(
        '<svg class="site-map" viewBox="{} {} {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">'
        "<title>{}</title>"
        '<rect x="{}" y="{}" width="{}" height="{}" fill="#fbfcfe"/>'
        '<g stroke="#8a8a8a" stroke-width="{}">{}</g>'
        '<g stroke="#d0d6de" stroke-width="{}">{}</g>'
        '<circle cx="{}" cy="{}" r="{}" fill="#a4141b" stroke="#fff" stroke-width="{}"/>'
        '<circle cx="{}" cy="{}" r="{}" fill="none" stroke="#a4141b" stroke-width="{}"/>'
        '<text x="{}" y="{}" font-size="{}" fill="#1a1a1a" stroke="#fff" stroke-width="{}" paint-order="stroke">{}'
        "</text></svg>",
        f"{x0:.1f}", f"{y0:.1f}", f"{2 * half_w:.1f}", f"{2 * half_h:.1f}", title, title,
        f"{x0:.1f}", f"{y0:.1f}", f"{2 * half_w:.1f}", f"{2 * half_h:.1f}",
        f"{r / 6:.3f}", format_html_join("", "{}", ((p,) for p in paths)),
        f"{r / 10:.3f}", grid,
        f"{cx:.2f}", f"{cy:.2f}", f"{r:.3f}", f"{r / 3:.3f}",
        f"{cx:.2f}", f"{cy:.2f}", f"{r * 2.6:.3f}", f"{r / 3:.3f}",
        f"{cx + r * 3.2:.2f}", f"{cy + r * 0.9:.2f}", f"{r * 2.6:.2f}", f"{r / 2:.3f}", label,
    )  # fmt: skip


def _items(row: Notification) -> list[dict[str, Any]]:
    """The law's items in its order, each with its label and its value in words (missing: said so)."""
    names = GOODS_ITEMS if row.kind == "goods" else PERSONAL_ITEMS
    methods = dict(VerificationMethod.objects.values_list("code", "name"))
    missing = set(row.missing or [])
    out = []
    for name in names:
        value = str((row.items or {}).get(name, "") or "").strip()
        shown = value
        if name == "intrusion" and value:
            shown = str(FINDING_LABELS.get(value, value))
        elif name == "verification_code" and value in methods:
            shown = f"{value} · {methods[value]}"
        elif name == "detection_code" and value == "-":
            shown = gettext("none: a mobile alarm sends its position (below)")
        out.append({"name": name, "label": ITEM_LABELS[name], "value": shown, "missing": name in missing or not value})
    return out


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return gettext("%(s)s s") % {"s": s}
    if s < 3600:
        return gettext("%(m)s min %(s)s s") % {"m": s // 60, "s": s % 60}
    return gettext("%(h)s h %(m)s min") % {"h": s // 3600, "m": s % 3600 // 60}


def _detail_context(request: HttpRequest, notification_id: int) -> dict[str, Any]:
    row = selectors.notification(actor=_actor(request), notification_id=notification_id, ip=client_ip(request) or "")
    extra = row.extra or {}
    system = row.system
    system_type = str(extra.get("system_type") or system.system_type)
    mobile = system_type == "personal_mobile"
    position = _position(extra) if mobile else None
    site_point = _coordinate(extra.get("lon"), limit=180), _coordinate(extra.get("lat"), limit=90)
    point: tuple[float, float] | None = position
    if point is None and not mobile and site_point[0] is not None and site_point[1] is not None:
        point = (site_point[0], site_point[1])
    site_label = str(extra.get("site_name") or system.reference)
    short_label = site_label if len(site_label) <= 20 else site_label[:19] + "…"  # stays inside the map
    site_map = None
    if point is not None:
        site_map = _site_map(
            point[0],
            point[1],
            nis=system.site_nis,
            title=gettext("Map: %(site)s") % {"site": _site(row)}
            if not mobile
            else gettext("Map: the position the alarm sent"),
            label=short_label if not mobile else gettext("Position"),
        )
    nature = str(extra.get("property_nature") or system.property_nature)
    return {
        "n": row,
        "extra": extra,
        "kind": KIND_LABELS.get(row.kind, row.kind),
        "system_type": dict(SYSTEM_TYPE_CHOICES).get(system_type, system_type),
        "personal_fixed": system_type == "personal_fixed",
        "mobile": mobile,
        "state": STATE_LABELS.get(row.state, row.state),
        "items": _items(row),
        "missing": _missing_words(row.missing or []),
        "site": _site(row),
        "site_name": site_label,
        "property_nature": dict(PROPERTY_CHOICES).get(nature, nature or "—"),
        "dwelling": nature in DWELLINGS,
        "point": point,
        "position": position,
        "map": site_map,
        "zones": [z for z in extra.get("zones") or [] if isinstance(z, dict)],
        "contacts": [c for c in extra.get("contacts") or [] if isinstance(c, dict)],
        "images": _images_link(extra.get("images")),
        "images_text": str(extra.get("images") or ""),
        "sketch": bool(extra.get("sketch")) and system_type == "personal_fixed",
        "signal_to_notification": _duration((row.created_at - row.first_signal_at).total_seconds()),
        "outcome_label": OUTCOME_LABELS.get(row.outcome, row.outcome),
        "outcomes": list(OUTCOME_LABELS.items()),
        "can_acknowledge": row.state == Notification.SENT,
        "can_dispatch": row.state in (Notification.SENT, Notification.ACKNOWLEDGED),
        "can_close": row.state != Notification.CLOSED,
        "forms": {name: {"errors": {}, "summary": [], "values": {}} for name in ("acknowledge", *FORM_FIELDS)},
    }


def _error_map(exc: RuleError) -> Errors:
    errs = list(exc.errors) if isinstance(exc, FieldErrors) else [exc]
    out: Errors = {}
    for err in errs:
        out.setdefault(err.field or "__all__", []).append({"message": localise(err), "rule": err.rule or ""})
    return out


def _summary(errors: Errors, form: str) -> list[dict[str, str]]:
    """The list above a refused form: each refusal with its field's label and rule, linked to the field."""
    known = FORM_FIELDS.get(form, ())
    return [
        {
            "label": str(FIELD_LABELS.get(name, "")) if name != "__all__" else "",
            "href": f"{form}-{name.replace('_', '-')}" if name in known else "",
            **e,
        }
        for name, errs in errors.items()
        for e in errs
    ]


@_desk
@require_GET
def notification(request: HttpRequest, notification_id: int) -> HttpResponse:
    """One notification (its read is audited by the selector) and what the desk does with it."""
    return render(request, "emergency/notification.html", _detail_context(request, notification_id))


def _refused(request: HttpRequest, notification_id: int, form: str, exc: RuleError) -> HttpResponse:
    """A refused form: the page again, each refusal beside its field, what was typed kept; nothing written."""
    if not isinstance(exc, FieldErrors) and exc.field == "state":
        # The notification moved on meanwhile (a colleague acknowledged or closed it): say so, show it as it is.
        messages.error(request, localise(exc))
        return redirect("emergency:notification", notification_id=notification_id)
    context = _detail_context(request, notification_id)
    errors = _error_map(exc)
    values = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
    context["forms"][form] = {"errors": errors, "summary": _summary(errors, form), "values": values}
    return render(request, "emergency/notification.html", context, status=422)


def _done(request: HttpRequest, notification_id: int, text: str, anchor: str = "") -> HttpResponse:
    messages.success(request, text)
    return redirect(reverse("emergency:notification", kwargs={"notification_id": notification_id}) + anchor)


@_desk
@require_POST
def acknowledge(request: HttpRequest, notification_id: int) -> HttpResponse:
    try:
        services.acknowledge(actor=_actor(request), notification_id=notification_id)
    except RuleError as exc:
        return _refused(request, notification_id, "acknowledge", exc)
    return _done(request, notification_id, gettext("Acknowledged: the central sees it."), "#actions")


@_desk
@require_POST
def dispatch(request: HttpRequest, notification_id: int) -> HttpResponse:
    note = request.POST.get("note", "")
    try:
        services.dispatch(actor=_actor(request), notification_id=notification_id, note=note)
    except RuleError as exc:
        return _refused(request, notification_id, "dispatch", exc)
    return _done(request, notification_id, gettext("A patrol is dispatched: the central sees it."), "#actions")


@_desk
@require_POST
def outcome(request: HttpRequest, notification_id: int) -> HttpResponse:
    """The outcome, returned to the central; KB-19: a dwelling is entered only with someone's consent."""
    post = request.POST
    try:
        services.record_outcome(
            actor=_actor(request),
            notification_id=notification_id,
            outcome=post.get("outcome", ""),
            entered=post.get("entered") == "1",
            entry_consent_by=post.get("entry_consent_by", ""),
            note=post.get("note", ""),
        )
    except RuleError as exc:
        return _refused(request, notification_id, "outcome", exc)
    return _done(request, notification_id, gettext("The outcome is recorded and returned to the central."))


@_desk
@require_GET
def sketch(request: HttpRequest, notification_id: int) -> HttpResponse:
    """KB-21: the situation sketch of a fixed personal alarm's building, for the intervention. Two audited reads:
    the notification (only the receiving centre's, else 404) and the sketch (the registry's lookup_sketch)."""
    row = selectors.notification(actor=_actor(request), notification_id=notification_id, ip=client_ip(request) or "")
    if row.system.system_type != "personal_fixed":
        raise Http404
    drawing = registry_selectors.lookup_sketch(actor=_actor(request), system_id=row.system_id, ip=client_ip(request))
    response = HttpResponse(bytes(drawing.content), content_type=drawing.content_type)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", drawing.name)[:100] or "sketch"
    response["Content-Disposition"] = f'attachment; filename="{safe}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- statistics ------------------------------------------------------------------------------------------------------


def _bars(rows: list[tuple[str, float, str]], *, title: str, empty: str, peak: float | None = None) -> SafeString:
    """Horizontal bars, server-drawn SVG: the label, the bar, the figure beside it (every string escaped). 360 wide,
    so the text stays readable on a phone; ``peak`` fixes the scale (100 for a percentage)."""
    label_w, bar_w, row_h, pad = 150, 150, 30, 8
    width, height = label_w + bar_w + 60, pad * 2 + row_h * max(len(rows), 1)
    peak = peak or max((v for _l, v, _t in rows), default=0) or 1
    parts = [format_html("<title>{}</title>", title)]
    for i, (label, value, text) in enumerate(rows):
        y, w = pad + i * row_h, bar_w * min(value, peak) / peak
        short = label if len(label) <= 19 else label[:18] + "…"
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end" font-size="14" fill="#1a1a1a">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="#0b4f8a"><title>{}: {}</title></rect>'
                '<text x="{}" y="{}" font-size="14" fill="#1a1a1a">{}</text>',
                label_w - 8,
                f"{y + row_h * 0.62:.1f}",
                short,
                label_w,
                f"{y + 5:.1f}",
                f"{max(w, 1 if value else 0):.1f}",
                row_h - 10,
                label,
                text,
                f"{label_w + w + 6:.1f}",
                f"{y + row_h * 0.62:.1f}",
                text,
            )
        )
    if not rows:
        parts.append(format_html('<text x="8" y="30" font-size="14">{}</text>', empty))
    return format_html(
        '<svg class="chart bars" viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">'
        "{}</svg>",
        width,
        height,
        title,
        format_html_join("", "{}", ((p,) for p in parts)),
    )


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f} %"


@_desk
@require_GET
def statistics(request: HttpRequest) -> HttpResponse:
    """Per central: notifications, the share for delayed handling (KB-16), the false-alarm ratio, and the median
    time from the first signal to the notification."""
    rows = selectors.statistics(actor=_actor(request))
    shown = [
        {
            **r,
            "delayed_text": _percent(r["delayed_share"]),
            "false_text": _percent(r["false_alarm_ratio"]),
            "median_text": _duration(r["median_signal_to_notification_s"]),
        }
        for r in rows
    ]
    empty = gettext("No notifications yet.")
    context = {
        "rows": shown,
        "total": sum(r["notifications"] for r in rows),
        "count_chart": _bars(
            [(r["central"], r["notifications"], str(r["notifications"])) for r in rows],
            title=gettext("Notifications per alarm central"),
            empty=empty,
        ),
        "false_chart": _bars(
            [(r["central"], (r["false_alarm_ratio"] or 0) * 100, r["false_text"]) for r in shown],
            title=gettext("False alarms per alarm central (of the notifications with an outcome)"),
            empty=empty,
            peak=100,
        ),
    }
    return render(request, "emergency/statistics.html", context)

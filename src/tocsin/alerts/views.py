"""The alert pages of the portal: list, compose, preview and launch, follow up. Thin: the services decide."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from tocsin.alerts import domain, selectors, services
from tocsin.alerts.models import Alert
from tocsin.i18n import localise
from tocsin.organisations.domain import RuleError
from tocsin.organisations.models import User
from tocsin.organisations.services import AccessDenied, NotFound

DEFAULTS = {
    "status": "Actual",
    "category": "Safety",
    "urgency": "Immediate",
    "severity": "Severe",
    "certainty": "Observed",
}
LANGUAGE_NAMES = {"nl": "Nederlands", "fr": "Français", "de": "Deutsch", "en": "English"}
TEXT_FIELDS = [
    ("headline", _("Headline")),
    ("sms", _("SMS text")),
    ("email_subject", _("E-mail subject")),
    ("email_body", _("E-mail text")),
    ("cb", _("Cell-broadcast text")),
    ("voice", _("Voice script (read out in calls)")),
    ("instruction", _("What people should do")),
]
AREA_KINDS = [
    ("", _("No area")),
    ("municipalities", _("Municipalities (NIS codes)")),
    ("postcodes", _("Postal codes")),
    ("circle", _("Circle")),
    ("polygon", _("Polygon (GeoJSON)")),
]


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _choices(user: User) -> dict[str, Any]:
    from tocsin.audiences.selectors import bin_group_list, contact_list_list

    return {
        "lists": list(contact_list_list(actor=user)),
        "groups": list(bin_group_list(actor=user)) if user.organisation.bin_option else [],
    }


def _area_from_form(post: Any) -> list[dict[str, Any]]:
    kind = post.get("area_kind", "")
    if kind in ("municipalities", "postcodes"):
        codes = [c for c in post.get("area_codes", "").replace(",", " ").split() if c]
        key = "nis_codes" if kind == "municipalities" else "postcodes"
        return [{"type": kind, key: codes}]
    if kind == "circle":
        try:
            center = [float(post.get("area_lon", "")), float(post.get("area_lat", ""))]
            radius = float(post.get("area_radius_m", ""))
        except ValueError:
            raise RuleError(str(_("Give the centre (longitude, latitude) and the radius in metres.")),
                            field="area") from None  # fmt: skip
        return [{"type": "circle", "center": center, "radius_m": radius}]
    if kind == "polygon":
        try:
            return [{"type": "polygon", "geometry": json.loads(post.get("area_geojson", "") or "{}")}]
        except ValueError:
            raise RuleError(str(_("The GeoJSON is not valid JSON.")), field="area") from None
    return []


def _fields_from_form(post: Any) -> dict[str, Any]:
    texts: dict[str, dict[str, str]] = {}
    for language in domain.LANGUAGES:
        values = {name: post.get(f"{language}_{name}", "").strip() for name, _label in TEXT_FIELDS}
        if any(values.values()):
            texts[language] = {k: v for k, v in values.items() if v}
    targets: dict[str, Any] = {
        "lists": [int(x) for x in post.getlist("lists") if x.isdigit()],
        "bin_groups": [int(x) for x in post.getlist("bin_groups") if x.isdigit()],
        "areas": _area_from_form(post),
    }
    return {
        "status": post.get("status", "Actual"),
        "event": post.get("event", "").strip(),
        "category": post.get("category", "Safety"),
        "urgency": post.get("urgency", "Immediate"),
        "severity": post.get("severity", "Severe"),
        "certainty": post.get("certainty", "Observed"),
        "general_interest": post.get("general_interest") == "on",
        "channels": [c for c in post.getlist("channels") if c in domain.CHANNELS],
        "texts": texts,
        "targets": {k: v for k, v in targets.items() if v},
    }


def _form_context(user: User, alert: Alert | None, values: dict[str, Any], error: str = "", field: str = "") -> dict:
    from tocsin.protocols import cap

    texts = values.get("texts") or {}
    areas = (values.get("targets") or {}).get("areas") or []
    area = areas[0] if areas else {}
    return {
        "alert": alert,
        "values": values,
        "error": error,
        "error_field": field,
        "languages": [
            (code, LANGUAGE_NAMES[code], [(n, label, texts.get(code, {}).get(n, "")) for n, label in TEXT_FIELDS])
            for code in domain.LANGUAGES
        ],
        "area": area,
        "area_geometry": json.dumps(area.get("geometry")) if area.get("geometry") else "",
        "area_codes": " ".join(area.get("nis_codes") or area.get("postcodes") or []),
        "area_kinds": AREA_KINDS,
        "options": [
            (name, allowed, values.get(name) or DEFAULTS[name])
            for name, allowed in (
                ("status", ("Actual", "Exercise", "Test")),
                ("category", cap.CATEGORY),
                ("urgency", cap.URGENCY),
                ("severity", cap.SEVERITY),
                ("certainty", cap.CERTAINTY),
            )
        ],
        **_choices(user),
    }


@login_required
def alert_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    return render(request, "alerts/list.html", {"alerts": selectors.alert_list(actor=user)[:100]})


@login_required
@require_http_methods(["GET", "POST"])
def alert_compose(request: HttpRequest, alert_id: int | None = None) -> HttpResponse:
    user = _user(request)
    alert = None
    if alert_id is not None:
        try:
            alert = selectors.alert_get(actor=user, alert_id=alert_id)
        except NotFound:
            raise Http404 from None
    if request.method == "POST":
        try:
            values = _fields_from_form(request.POST)
            if alert is None:
                alert = services.alert_create(actor=user, **values)
            else:
                alert = services.alert_update(actor=user, alert_id=alert.pk, **values)
        except (RuleError, AccessDenied) as exc:
            values = locals().get("values") or {}
            context = _form_context(user, alert, values, localise(exc), getattr(exc, "field", "") or "")
            return render(request, "alerts/compose.html", context, status=422)
        return redirect("web:alert_detail", alert_id=alert.pk)
    values = {name: getattr(alert, name) for name in services.EDITABLE} if alert else {"channels": ["sms"]}
    templates = services.alert_templates(actor=user) if alert is None else {}
    template = templates.get(request.GET.get("template", ""))
    if template:
        values.update({k: v for k, v in template.items() if k in services.EDITABLE})
    context = _form_context(user, alert, values)
    context["templates"] = [(key, t.get("name") or t["event"]) for key, t in templates.items()]
    return render(request, "alerts/compose.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    user = _user(request)
    try:
        alert = selectors.alert_get(actor=user, alert_id=alert_id)
    except NotFound:
        raise Http404 from None
    context: dict[str, Any] = {
        "alert": alert,
        "newer": services.newest_follow_up(alert),
        "language_names": LANGUAGE_NAMES,
        "four_eyes": services.four_eyes(alert.organisation_id),
        "may_approve": (alert.updated_by_id or alert.created_by_id) != user.pk,
    }
    status = 200
    if request.method == "POST" and alert.state == domain.State.DRAFT.value:
        try:
            alert = services.alert_launch(
                actor=user, alert_id=alert.pk, confirmation=request.POST.get("confirmation", "")
            )
        except (RuleError, AccessDenied) as exc:
            context["launch_error"] = localise(exc)
            status = 422
        else:
            return redirect("web:alert_detail", alert_id=alert.pk)
    if alert.state == domain.State.DRAFT.value:
        try:
            context["preview"] = services.alert_preview(actor=user, alert_id=alert.pk)
        except (RuleError, AccessDenied, NotFound) as exc:
            context["preview_error"] = localise(exc)
    else:
        from tocsin.delivery.views import call_rows

        context["dashboard"] = selectors.alert_dashboard(alert=alert)
        context["calls"] = call_rows(context["dashboard"]["calls"], always="voice" in alert.channels)
        context["states"] = STATES
        context["count_keys"] = ("cells", "handsets", "sent", "delivered")
    return render(request, "alerts/detail.html", context, status=status)


STATES = [
    ("queued", _("Queued")),
    ("claimed", _("Sending")),
    ("submitted", _("Submitted")),
    ("delivered", _("Delivered")),
    ("failed", _("Failed")),
    ("expired", _("Expired or withdrawn")),
]


async def _dashboard_stream(user: User, alert_id: int) -> Any:
    """Server-sent events: the dashboard's figures now, then whenever they change (checked every second)."""
    import asyncio

    from asgiref.sync import sync_to_async

    from tocsin.delivery.views import STREAM_S

    def read() -> dict[str, Any]:
        return selectors.alert_dashboard(alert=selectors.alert_get(actor=user, alert_id=alert_id))

    loop = asyncio.get_running_loop()
    deadline, last, quiet = loop.time() + STREAM_S, None, 0.0
    yield "retry: 3000\n\n"
    while loop.time() < deadline:
        figures = await sync_to_async(read, thread_sensitive=False)()
        if figures != last:
            yield f"event: dashboard\ndata: {json.dumps(figures, default=str)}\n\n"
            last, quiet = figures, 0.0
        elif quiet >= 15:
            yield ": still here\n\n"
            quiet = 0.0
        await asyncio.sleep(1.0)
        quiet += 1.0


@login_required
async def alert_events(request: HttpRequest, alert_id: int) -> HttpResponse | StreamingHttpResponse:
    from asgiref.sync import sync_to_async

    from tocsin.delivery.views import _guarded, _streams

    user: User = await request.auser()  # type: ignore[assignment]  # login_required: never anonymous
    try:
        await sync_to_async(selectors.alert_get)(actor=user, alert_id=alert_id)
    except NotFound:
        raise Http404 from None
    if _streams.locked():
        return HttpResponse("Too many live pages open; retrying shortly.", status=503, headers={"Retry-After": "10"})
    response = StreamingHttpResponse(_guarded(_dashboard_stream(user, alert_id)), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@login_required
@require_POST
def alert_follow_up(request: HttpRequest, alert_id: int) -> HttpResponse:
    user = _user(request)
    try:
        follow_up = services.alert_follow_up(actor=user, alert_id=alert_id, msg_type=request.POST.get("msg_type", ""))
    except NotFound:
        raise Http404 from None
    except (RuleError, AccessDenied):
        return redirect("web:alert_detail", alert_id=alert_id)
    return redirect("web:alert_edit", alert_id=follow_up.pk)


@login_required
def alert_cap(request: HttpRequest, alert_id: int) -> HttpResponse:
    user = _user(request)
    try:
        alert = selectors.alert_get(actor=user, alert_id=alert_id)
        document = alert.cap_xml or services.alert_preview(actor=user, alert_id=alert_id)["cap"]
    except NotFound:
        raise Http404 from None
    except RuleError as exc:
        return HttpResponse(localise(exc), status=422, content_type="text/plain; charset=utf-8")
    return HttpResponse(document, content_type="application/cap+xml; charset=utf-8")


@login_required
@require_POST
def alert_approve(request: HttpRequest, alert_id: int) -> HttpResponse:
    from django.contrib import messages

    user = _user(request)
    try:
        services.alert_approve(actor=user, alert_id=alert_id)
    except NotFound:
        raise Http404 from None
    except (RuleError, AccessDenied) as exc:
        messages.error(request, localise(exc))
    return redirect("web:alert_detail", alert_id=alert_id)


@login_required
def outlines(request: HttpRequest) -> HttpResponse:
    """Belgium's municipalities for the map's background (no tile server needed)."""
    from tocsin.geo.maps import outlines_geojson

    response = HttpResponse(outlines_geojson(), content_type="application/geo+json")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
def alert_report(request: HttpRequest, alert_id: int, kind: str) -> HttpResponse:
    """The alert's report as CSV or PDF: counts only (BA-7.4)."""
    from tocsin.alerts.report import alert_report as build
    from tocsin.alerts.report import report_csv, report_pdf

    try:
        report = build(actor=_user(request), alert_id=alert_id)
    except NotFound:
        raise Http404 from None
    name = f"tocsin-report-{report['alert'].identifier}"
    if kind == "csv":
        response = HttpResponse(report_csv(report), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    else:
        response = HttpResponse(report_pdf(report), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    return response


@login_required
@require_POST
def alert_save_template(request: HttpRequest, alert_id: int) -> HttpResponse:
    from django.contrib import messages
    from django.utils.translation import gettext

    try:
        services.alert_template_save(actor=_user(request), alert_id=alert_id, name=request.POST.get("name", ""))
        messages.success(request, gettext("Saved as a template."))
    except NotFound:
        raise Http404 from None
    except (RuleError, AccessDenied) as exc:
        messages.error(request, localise(exc))
    return redirect("web:alert_detail", alert_id=alert_id)


@require_http_methods(["GET", "POST"])
def alert_ack(request: HttpRequest, token: str) -> HttpResponse:
    """The link in an alert's e-mail (public): a page with two buttons, OK and I need help. Opening it records
    nothing — mail filters open links — only pressing a button does."""
    from django.utils import translation

    try:
        page = services.ack_page(token)
    except NotFound:
        raise Http404 from None
    status, error = 200, ""
    if request.method == "POST":
        try:
            page["answer"] = services.alert_ack(token=token, kind=request.POST.get("kind", ""))
        except (RuleError, NotFound) as exc:
            status, error = 422, localise(exc)
    with translation.override(page["language"]):
        response = render(request, "alerts/ack.html", {**page, "error": error}, status=status)
    # The token is in the URL: never sent to another site. ("no-referrer" would make browsers post the
    # buttons with "Origin: null", which Django's CSRF check refuses.)
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-store"
    return response

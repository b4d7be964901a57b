"""The receiver's pages for an alarm central (issue 8): /arc/…

A central's administrators and operators list the accounts its receiver takes signals for, create and change them
(an AES key goes in and is never shown back), map each zone to its detection code (KB-14), read an account's last
signals and its supervision faults, and claim the accounts the receiver heard but did not know.
Thin: ``account_set`` and ``zone_set`` check every rule and write; these views read the form and show the answer.
The reads of these pages are below, each scoped to the member's central (invariant 4): another central's account
is not found, exactly as one that does not exist.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from django.contrib import messages
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tocsin.alarms.services import Actor, as_member, require_central
from tocsin.arc import services
from tocsin.arc.models import DiscoveredAccount, ReceiverAccount, Signal, SupervisionFault, ZoneMap
from tocsin.i18n import localise
from tocsin.organisations.domain import RuleError, gettext_noop
from tocsin.organisations.models import User
from tocsin.organisations.services import NotFound
from tocsin.web.views import portal_page

View = Callable[..., HttpResponse]
Errors = Mapping[str, list[dict[str, str]]]

PAGE = 50
SIGNALS_SHOWN = 20
FAULTS_SHOWN = 50
_ACCOUNT = re.compile(r"#?[0-9A-Fa-f]{3,16}")
# Not a time zone: the service refuses it with its own message, next to the other fields' (see _posted).
NO_ZONE = "-"

LABELS: dict[str, Any] = {
    "account": _("Account number"),
    "system_reference": _("Alarm system (registry reference)"),
    "key": _("AES key"),
    "key_format": _("The key is written as"),
    "clear_key": _("Remove the stored key"),
    "encryption_required": _("Require encryption"),
    "ahead_s": _("Panel clock ahead by at most (seconds)"),
    "behind_s": _("Panel clock behind by at most (seconds)"),
    "device_tz": _("Time zone of the panel's clock"),
    "poll_interval_s": _("Supervision interval (seconds)"),
    "enabled": _("Enabled: the receiver takes this account's signals"),
    "zone": _("Zone"),
    "detection_code": _("Detection code"),
    "label": _("Label"),
}
KEY_FORMATS: tuple[tuple[str, Any], ...] = (
    ("auto", _("Recognised: 32, 48 or 64 hexadecimal digits are read as hex, anything else as text")),
    ("hex", _("Hexadecimal digits")),
    ("ascii", _("Text of 16, 24 or 32 characters (ASCII)")),
)
KEY_IS_HEX: dict[str, bool | None] = {"auto": None, "hex": True, "ascii": False}
ACCOUNT_FIELDS = (
    "account",
    "system_reference",
    "key",
    "key_format",
    "clear_key",
    "encryption_required",
    "ahead_s",
    "behind_s",
    "device_tz",
    "poll_interval_s",
    "enabled",
)
ZONE_FIELDS = ("zone", "detection_code", "label")


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _actor(request: HttpRequest) -> Actor:
    return as_member(_user(request))


_portal = portal_page  # signed in; another organisation's is not found (404); a refusal is the 403 page


# --- the reads of these pages, each scoped to the member's central ----------------------------------------------------


def _central(request: HttpRequest) -> User:
    """The member, if an administrator or operator of an alarm central (as for the API); else the 403 page."""
    return require_central(_actor(request))


def _open_fault() -> Exists:
    return Exists(SupervisionFault.objects.filter(account=OuterRef("pk"), cleared_at=None))


def _accounts(member: User) -> QuerySet[ReceiverAccount]:
    return (
        ReceiverAccount.objects.filter(central_id=member.organisation_id)
        .select_related("system")
        .annotate(open_fault=_open_fault())
    )


def _number(text: str) -> str:
    return text.strip().upper().lstrip("#")


def _account(member: User, account: str) -> ReceiverAccount:
    if not _ACCOUNT.fullmatch(account or ""):
        raise NotFound(gettext_noop("No such account."))
    row = _accounts(member).filter(account=_number(account)).first()
    if row is None:
        raise NotFound(gettext_noop("No such account."))
    return row


def _summary_counts(member: User) -> dict[str, int]:
    org = member.organisation_id
    counts = ReceiverAccount.objects.filter(central_id=org).aggregate(
        accounts=Count("pk"), supervised=Count("pk", filter=Q(enabled=True, poll_interval_s__isnull=False))
    )
    return {
        "accounts": counts["accounts"],
        "supervised": counts["supervised"],
        "faults": SupervisionFault.objects.filter(account__central_id=org, cleared_at=None).count(),
        "discovered": DiscoveredAccount.objects.filter(central_id=org, claimed_at=None).count(),
    }


# --- form plumbing: the posted text, the fields, the errors -----------------------------------------------------------


def _text(post: QueryDict, name: str, limit: int) -> str:
    """A posted text, trimmed to what the field takes (PostgreSQL refuses NUL characters in text)."""
    return str(post.get(name, "")).replace("\x00", "").strip()[:limit]


def _seconds(raw: str, *, empty: int | None) -> int | None:
    """A number of seconds typed in a form; not a number: -1, which the service refuses with its range."""
    if not raw:
        return empty
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else -1


@lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    first = ("UTC", "Europe/Brussels")
    return first + tuple(sorted(z for z in zoneinfo.available_timezones() if z not in first))


def field_id(name: str) -> str:
    return "f-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _error_map(exc: RuleError) -> dict[str, list[dict[str, str]]]:
    """Each field's refusals: {field: [{message, rule}]} (``__all__`` for what names no field)."""
    out: dict[str, list[dict[str, str]]] = {}
    for err in list(getattr(exc, "errors", None) or [exc]):
        out.setdefault(err.field or "__all__", []).append({"message": localise(err), "rule": err.rule or ""})
    return out


def _summary(errors: Errors, known: Iterable[str]) -> list[dict[str, Any]]:
    """The list at the top of a refused form: each refusal, linked to its field."""
    known = set(known)
    return [
        {
            "label": LABELS.get(name, "") if name != "__all__" else "",
            "href": field_id(name) if name in known else "",
            **e,
        }
        for name, errs in errors.items()
        for e in errs
    ]


def _bind(
    name: str,
    value: Any,
    errors: Errors,
    *,
    kind: str = "text",
    help: Any = "",
    required: bool = False,
    maxlength: int = 200,
    choices: Iterable[tuple[str, Any]] = (),
    autocomplete: str = "off",
    inputmode: str = "",
) -> dict[str, Any]:
    """One input for ``alarms/org/_field.html``: its value, its errors, and what describes it."""
    ident = field_id(name)
    errs = list(errors.get(name, []))
    described = ([f"{ident}-help"] if help else []) + [f"{ident}-error{i}" for i in range(1, len(errs) + 1)]
    return {
        "name": name,
        "id": ident,
        "label": LABELS[name],
        "kind": kind,
        "help": help,
        "required": required,
        "choices": tuple(choices),
        "input_type": {"number": "text", "check": "checkbox"}.get(kind, kind),
        "inputmode": inputmode or ("numeric" if kind == "number" else ""),
        "maxlength": maxlength,
        "autocomplete": autocomplete,
        "input_name": name,
        "value": bool(value) if kind == "check" else ("" if value is None else str(value)),
        "errors": errs,
        "describedby": " ".join(described),
    }


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 6 and int(raw) > 0 else 1


def _paged(request: HttpRequest, rows: QuerySet[Any]) -> dict[str, Any]:
    total = rows.count()
    pages = max(1, -(-total // PAGE))
    page = min(_page_number(request), pages)
    return {
        "items": list(rows[(page - 1) * PAGE : page * PAGE]),
        "total": total,
        "page": page,
        "pages": pages,
        "previous": page - 1 if page > 1 else None,
        "next": page + 1 if page < pages else None,
    }


def every(seconds: int | None) -> str:
    """A supervision interval as a person reads it: "every 25 h", "every 90 min", "every 75 s"."""
    if not seconds:
        return gettext("not supervised")
    if seconds % 3600 == 0:
        return gettext("every %(n)s h") % {"n": seconds // 3600}
    if seconds % 60 == 0:
        return gettext("every %(n)s min") % {"n": seconds // 60}
    return gettext("every %(n)s s") % {"n": seconds}


# --- the accounts -----------------------------------------------------------------------------------------------------


@_portal
@require_GET
def accounts(request: HttpRequest) -> HttpResponse:
    """The central's accounts: search by account or system reference, 50 a page; the counts on top."""
    member = _central(request)
    query = request.GET.get("q", "").replace("\x00", "").strip()[:40]
    faults_only = request.GET.get("show") == "faults"
    rows = _accounts(member)
    if query:
        number = _number(query)
        rows = rows.filter(Q(account__icontains=number) | Q(system__reference__icontains=number))
    if faults_only:
        rows = rows.filter(_open_fault())
    context = {
        **_paged(request, rows.order_by("account")),
        "query": query,
        "show": "faults" if faults_only else "",
        "counts": _summary_counts(member),
        "current": "accounts",
    }
    context["rows"] = [{"a": row, "every": every(row.poll_interval_s)} for row in context["items"]]
    return render(request, "arc/accounts.html", context)


def _form(shown: Mapping[str, Any], errors: Errors, *, row: ReceiverAccount | None) -> dict[str, Any]:
    """The fields of the account form, bound to the values shown and the errors; the key never filled back."""
    has_key = bool(row is not None and row.key_sealed)
    zones = list(_zones())
    device_tz = str(shown.get("device_tz") or "UTC")
    if device_tz not in zones and device_tz != NO_ZONE:
        zones.append(device_tz)
    key_help = gettext("16, 24 or 32 characters, or 32, 48 or 64 hexadecimal digits: AES-128, 192 or 256.") + " "
    if has_key:
        key_help += gettext("Empty: the stored key is kept. It is never shown, not even to you.")
    else:
        key_help += gettext("Empty: no key, the panel sends plain frames.")
    return {
        "account": _bind(
            "account",
            shown.get("account"),
            errors,
            required=True,
            maxlength=17,
            help=_("3 to 16 hexadecimal digits (0-9, A-F), as the panel sends it: #1234 is 1234."),
        ),
        "system_reference": _bind(
            "system_reference",
            shown.get("system_reference"),
            errors,
            maxlength=12,
            help=_("The reference of the active system in the registry (AS…) that this panel belongs to (KB-7-ARC)."),
        ),
        "key": _bind(
            "key",
            "",
            errors,
            kind="password",
            maxlength=64,
            autocomplete="new-password",
            help=key_help,
        ),
        "key_format": {
            "id": field_id("key_format"),
            "value": shown.get("key_format") or "auto",
            "choices": KEY_FORMATS,
            "errors": list(errors.get("key_format", [])),
        },
        "clear_key": _bind("clear_key", shown.get("clear_key"), errors, kind="check") if has_key else None,
        "encryption_required": _bind(
            "encryption_required",
            shown.get("encryption_required"),
            errors,
            kind="check",
            help=_("Plain frames from this account are then refused. Possible only once a key is set."),
        ),
        "ahead_s": _bind(
            "ahead_s", shown.get("ahead_s"), errors, kind="number", maxlength=4, help=_("0 to 3600; empty: 20.")
        ),
        "behind_s": _bind(
            "behind_s", shown.get("behind_s"), errors, kind="number", maxlength=4, help=_("0 to 3600; empty: 40.")
        ),
        "device_tz": _bind(
            "device_tz",
            device_tz if device_tz != NO_ZONE else "",
            errors,
            kind="select",
            choices=((z, z) for z in zones),
            help=_("UTC unless the panel's clock can only run on local time."),
        ),
        "poll_interval_s": _bind(
            "poll_interval_s",
            shown.get("poll_interval_s"),
            errors,
            kind="number",
            maxlength=6,
            help=_(
                "A supervision message or periodic test is expected at least this often, 60 to 604800 (7 days); "
                "empty: not supervised."
            ),
        ),
        "enabled": _bind("enabled", shown.get("enabled"), errors, kind="check"),
    }


def _posted(post: QueryDict, *, account: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The posted form → (the arguments of ``account_set``, the values shown again: never the key).

    A number that is not one, or a time zone not in the list, is passed on as a value the service refuses: its
    message then stands beside that field together with every other field's, in one check that writes nothing.
    """
    key_format = post.get("key_format", "auto")
    key_format = key_format if key_format in KEY_IS_HEX else "auto"
    clear_key = post.get("clear_key") == "1"
    device_tz = _text(post, "device_tz", 64) or "UTC"
    shown: dict[str, Any] = {
        "account": account,
        "system_reference": _text(post, "system_reference", 40),
        "key_format": key_format,
        "clear_key": clear_key,
        "encryption_required": post.get("encryption_required") == "1",
        "ahead_s": _text(post, "ahead_s", 12),
        "behind_s": _text(post, "behind_s", 12),
        "device_tz": device_tz,
        "poll_interval_s": _text(post, "poll_interval_s", 12),
        "enabled": post.get("enabled") == "1",
    }
    values: dict[str, Any] = {
        "account": account,
        "system_reference": shown["system_reference"],
        # Removing the key wins over a new one typed at the same time: the form says which it does.
        "key": "" if clear_key else str(post.get("key", "")).replace("\x00", "")[:200],
        "key_is_hex": KEY_IS_HEX[key_format],
        "clear_key": clear_key,
        "encryption_required": shown["encryption_required"],
        "ahead_s": _seconds(shown["ahead_s"], empty=20),
        "behind_s": _seconds(shown["behind_s"], empty=40),
        "device_tz": device_tz if device_tz in _zones() else NO_ZONE,
        "poll_interval_s": _seconds(shown["poll_interval_s"], empty=None),
        "enabled": shown["enabled"],
    }
    return values, shown


def _initial(row: ReceiverAccount) -> dict[str, Any]:
    return {
        "account": row.account,
        "system_reference": row.system.reference if row.system else "",
        "key_format": "auto",
        "clear_key": False,
        "encryption_required": row.encryption_required,
        "ahead_s": row.ahead_s,
        "behind_s": row.behind_s,
        "device_tz": row.device_tz,
        "poll_interval_s": row.poll_interval_s or "",
        "enabled": row.enabled,
    }


def _blank(account: str = "") -> dict[str, Any]:
    return {
        "account": account,
        "key_format": "auto",
        "ahead_s": 20,
        "behind_s": 40,
        "device_tz": "UTC",
        "enabled": True,
    }


def _form_page(
    request: HttpRequest, *, shown: Mapping[str, Any], errors: Errors | None = None, status: int = 200
) -> HttpResponse:
    errors = errors or {}
    context = {
        "form": _form(shown, errors, row=None),
        "summary": _summary(errors, ACCOUNT_FIELDS),
        "current": "new",
    }
    return render(request, "arc/account_form.html", context, status=status)


@_portal
@require_http_methods(["GET", "POST"])
def account_new(request: HttpRequest) -> HttpResponse:
    """A new account; ``?account=`` fills in the number of a discovered account being claimed."""
    member = _central(request)
    if request.method != "POST":
        claimed = request.GET.get("account", "").replace("\x00", "").strip()[:17]
        return _form_page(request, shown=_blank(_number(claimed) if _ACCOUNT.fullmatch(claimed) else claimed))
    number = _text(request.POST, "account", 40)
    values, shown = _posted(request.POST, account=number)
    # ``account_set`` creates or changes: this form only creates, so an account the central has already is refused
    # here rather than overwritten (its own page changes it).
    if _ACCOUNT.fullmatch(number) and _accounts(member).filter(account=_number(number)).exists():
        errors = {
            "account": [
                {
                    "message": gettext("Your central has this account already: change it on its own page."),
                    "rule": "",
                }
            ]
        }
        return _form_page(request, shown=shown, errors=errors, status=422)
    try:
        row = services.account_set(actor=_actor(request), **values)
    except RuleError as exc:
        return _form_page(request, shown=shown, errors=_error_map(exc), status=422)
    messages.success(request, gettext("Account %(account)s is saved.") % {"account": row.account})
    return redirect("arc:account", account=row.account)


def _event_rows(signal: Signal, labels: Mapping[str, str]) -> list[dict[str, str]]:
    """A signal's events as the table shows them: code, zone, the zone's label at this central."""
    out = []
    for event in signal.events if isinstance(signal.events, list) else []:
        if not isinstance(event, dict):
            continue
        zone = str(event.get("zone") or "")
        out.append(
            {
                "code": str(event.get("code") or ""),
                "zone": zone,
                "label": labels.get(zone, ""),
                "restore": "1" if event.get("restore") else "",
            }
        )
    return out


def _account_page(
    request: HttpRequest,
    member: User,
    row: ReceiverAccount,
    *,
    shown: Mapping[str, Any] | None = None,
    errors: Errors | None = None,
    zone_shown: Mapping[str, Any] | None = None,
    zone_errors: Errors | None = None,
    status: int = 200,
) -> HttpResponse:
    """One account: its settings form, its zones and the zone form, its last signals, its faults."""
    errors = errors or {}
    zone_errors = zone_errors or {}
    zones = list(ZoneMap.objects.filter(account=row).order_by("zone"))
    if zone_shown is None:
        wanted = request.GET.get("zone", "").replace("\x00", "").strip()[:8]
        picked = next((z for z in zones if z.zone == wanted), None)
        zone_shown = (
            {"zone": picked.zone, "detection_code": picked.detection_code, "label": picked.label} if picked else {}
        )
    labels = {z.zone: z.label or z.detection_code for z in zones}
    signals = Signal.objects.filter(account=row, central_id=member.organisation_id).order_by("-received_at")
    context = {
        "a": row,
        "has_key": bool(row.key_sealed),
        "every": every(row.poll_interval_s),
        "form": _form(shown or _initial(row), errors, row=row),
        "summary": _summary(errors, ACCOUNT_FIELDS),
        "zones": zones,
        "zone_form": {
            "zone": _bind(
                "zone",
                zone_shown.get("zone"),
                zone_errors,
                required=True,
                maxlength=8,
                help=_("The zone (or user) number the panel sends: 1 to 8 letters or digits."),
            ),
            "detection_code": _bind(
                "detection_code",
                zone_shown.get("detection_code"),
                zone_errors,
                required=True,
                maxlength=40,
                help=_("The code the notification carries for this zone (KB-14)."),
            ),
            "label": _bind(
                "label",
                zone_shown.get("label"),
                zone_errors,
                maxlength=200,
                help=_("Where it is, for the operators: for example Front door."),
            ),
        },
        "zone_summary": _summary(zone_errors, ZONE_FIELDS),
        "signals": [{"s": s, "events": _event_rows(s, labels)} for s in signals[:SIGNALS_SHOWN]],
        "faults": list(SupervisionFault.objects.filter(account=row).order_by("-raised_at")[:FAULTS_SHOWN]),
    }
    return render(request, "arc/account.html", context, status=status)


@_portal
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest, account: str) -> HttpResponse:
    """One account of the central, and its settings form (``account_set``); another central's is not found."""
    member = _central(request)
    row = _account(member, account)
    if request.method != "POST":
        return _account_page(request, member, row)
    values, shown = _posted(request.POST, account=row.account)
    try:
        saved = services.account_set(actor=_actor(request), **values)
    except RuleError as exc:
        return _account_page(request, member, row, shown=shown, errors=_error_map(exc), status=422)
    messages.success(request, gettext("Account %(account)s is saved.") % {"account": saved.account})
    return redirect("arc:account", account=saved.account)


@_portal
@require_POST
def account_zone(request: HttpRequest, account: str) -> HttpResponse:
    """KB-14: add a zone of the account, or change its detection code and label (``zone_set``)."""
    member = _central(request)
    row = _account(member, account)
    shown = {name: _text(request.POST, name, 200) for name in ZONE_FIELDS}
    try:
        zone = services.zone_set(actor=_actor(request), account=row.account, **shown)
    except RuleError as exc:
        return _account_page(request, member, row, zone_shown=shown, zone_errors=_error_map(exc), status=422)
    messages.success(
        request,
        gettext("Zone %(zone)s: detection code %(code)s is saved.") % {"zone": zone.zone, "code": zone.detection_code},
    )
    return redirect(reverse("arc:account", kwargs={"account": row.account}) + "#zones")


# --- the accounts the receiver heard but does not know ----------------------------------------------------------------


@_portal
@require_GET
def discovered(request: HttpRequest) -> HttpResponse:
    """The unclaimed accounts the receiver heard from, the latest first, each with a button to claim it."""
    member = _central(request)
    rows = DiscoveredAccount.objects.filter(central_id=member.organisation_id, claimed_at=None).order_by("-last_seen")
    context: dict[str, Any] = {**_paged(request, rows), "current": "discovered"}
    numbers = [d.account for d in context["items"]]
    # An account configured since it was heard (and heard again while disabled) opens its page instead.
    context["configured"] = set(
        ReceiverAccount.objects.filter(central_id=member.organisation_id, account__in=numbers).values_list(
            "account", flat=True
        )
    )
    context["counts"] = _summary_counts(member)
    return render(request, "arc/discovered.html", context)

"""The registry's pages for organisations (Royal Decree of 25 April 2007): /registry/…

Alarm centrals and internal alarm services register, change, hand over and deregister the systems they manage,
one by one or by CSV (KB-7-ARC); the registry administration searches, corrects, follows late declarations and
fixes the number formats; the emergency centre and the police look a system up, with a reason (audited).
Thin: the services and selectors decide and check every rule; these views read the form and show the answer.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from django.contrib import messages
from django.core import signing
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tocsin.alarms import domain, selectors, services
from tocsin.alarms.domain import REMOTE_ALLOWED, FieldErrors, Party, RemoteAction, RemotePurpose, SystemType
from tocsin.alarms.models import PROPERTY_CHOICES, RISK_CHOICES, SYSTEM_TYPE_CHOICES, AlarmSystem, Sketch
from tocsin.alarms.services import Actor, as_member
from tocsin.i18n import localise
from tocsin.organisations.domain import Kind, RuleError, gettext_noop
from tocsin.organisations.models import Organisation, User
from tocsin.organisations.services import AccessDenied, NotFound
from tocsin.web.views import client_ip, portal_page

View = Callable[..., HttpResponse]

REPORT_SALT = "tocsin.alarms.import-report"
SKETCH_SALT = "tocsin.alarms.lookup-sketch"
SKETCH_TOKEN_TTL_S = 2 * 3600  # a lookup opens the sketches it showed for the length of an intervention
REPORT_TOKEN_TTL_S = 3600
REPORT_TOKEN_MAX = 2_000_000  # under Django's 2.5 MB limit on a posted form
REPORT_SHOWN = 1000  # rows of the import report shown on the page besides the refused ones (all are in the CSV)
MIN_CONTACT_ROWS = 3
LATE_SHOWN = 200  # rows of the late list on the page; the CSV has them all
CENTRAL_ACTIONS, CENTRAL_PURPOSES = REMOTE_ALLOWED[Party.ALARM_CENTRAL]


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _actor(request: HttpRequest) -> Actor:
    return as_member(_user(request))


_portal = portal_page  # signed in; another organisation's is not found (404); a refusal is the 403 page


def _can(check: Callable[[], object]) -> bool:
    try:
        check()
    except AccessDenied:
        return False
    return True


def _today() -> date:
    return timezone.localdate()


# --- the form of one system (all of SystemData) -------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    name: str
    label: Any
    kind: str = "text"  # text, email, tel, date, number, select, check
    help: Any = ""
    required: bool = False
    choices: tuple[tuple[str, Any], ...] = ()
    maxlength: int = 200
    autocomplete: str = "off"
    inputmode: str = ""


NUMBERS = (
    Spec(
        "user_number",
        _("User number"),
        required=True,
        maxlength=40,
        help=_("The number your central gives this user, in the format the administration fixed (KB-7-ARC)."),
    ),
    Spec(
        "alarm_report_number",
        _("Alarm-report number"),
        "select",
        required=True,
        help=_("One of the alarm-report numbers the administration assigned to your central (KB-7-ARC)."),
    ),
    Spec(
        "client_informed_on",
        _("Client informed of the rules of the decree on"),
        "date",
        required=True,
        help=_("The day you informed the client of these rules, at the signature of the contract (KB-4, art. 4)."),
    ),
)
SITE = (
    Spec(
        "site_name",
        _("Name of the site"),
        required=True,
        help=_("For example the name of the shop, or the family name for a home."),
    ),
    Spec("site_street", _("Street"), required=True, help=_("As in the address register, in any language.")),
    Spec("site_house_number", _("House number"), required=True, maxlength=20),
    Spec("site_box", _("Box"), maxlength=40),
    Spec("site_postcode", _("Postcode"), required=True, maxlength=4, inputmode="numeric"),
    Spec("site_phone", _("Phone number of the site"), "tel", required=True, maxlength=30),
)
PERSON = (
    Spec("user_name", _("Name of the user"), required=True),
    Spec(
        "user_address",
        _("Address of the user"),
        required=True,
        help=_("Where the user lives or has its seat: street, number, postcode and municipality."),
    ),
    Spec("user_email", _("E-mail address of the user"), "email", required=True, maxlength=254),
    Spec("user_mobile", _("Mobile number of the user"), "tel", maxlength=30, help=_("If the user has one.")),
)
SYSTEM = (
    Spec("system_type", _("Type of system"), "select", required=True, choices=tuple(SYSTEM_TYPE_CHOICES)),
    Spec("property_nature", _("Nature of the property"), "select", required=True, choices=tuple(PROPERTY_CHOICES)),
    Spec("risk_nature", _("Nature of the risk"), "select", required=True, choices=tuple(RISK_CHOICES)),
    Spec(
        "first_use",
        _("First use"),
        "date",
        required=True,
        help=_("The registry is told within 10 days after the first use (KB-7)."),
    ),
    Spec("renewed_on", _("Renewed on"), "date", help=_("If the system was renewed since its first use.")),
    Spec("installer", _("Installing security company"), help=_("If a security company installed it.")),
    Spec(
        "in_building",
        _("Installed in a building"),
        "check",
        help=_("A goods alarm not installed in a building is outside the decree (KB-2)."),
    ),
    Spec("publicly_accessible", _("In a place accessible to the public"), "check"),
)
COMPONENTS = (
    Spec("siren", _("Outdoor siren"), "check"),
    Spec(
        "siren_alarm_s",
        _("Siren: seconds per alarm"),
        "number",
        maxlength=5,
        help=_("At most 180 seconds (3 minutes) per alarm (KB-17)."),
    ),
    Spec(
        "siren_sabotage_s",
        _("Siren: seconds on sabotage"),
        "number",
        maxlength=5,
        help=_("0, or longer than per alarm and at most 480 seconds (8 minutes) (KB-17)."),
    ),
    Spec(
        "light",
        _("Outdoor flashing or rotating light, visible from the street"),
        "check",
        help=_("Required with an outdoor siren (KB-18)."),
    ),
    Spec("light_until_switch_off", _("The light stays lit until the alarm is switched off"), "check"),
    Spec("notification_system", _("Notification system (reports alarms to a central or to persons)"), "check"),
    Spec(
        "visual_verification",
        _("Allows visual verification"),
        "check",
        help=_(
            "Required for a fixed personal alarm in a place accessible to the public, installed or renewed since "
            "4 October 2007 (KB-24)."
        ),
    ),
    Spec(
        "access_code_handed",
        _("The access code was handed to the user"),
        "check",
        help=_("The code to read and program the system, handed over free and unconditionally (KB-5)."),
    ),
    Spec(
        "components_safe",
        _("No component hinders the emergency services or can injure people"),
        "check",
        help=_("Confirm it (KB-9)."),
    ),
)
CHANGED_ON = Spec(
    "changed_on",
    _("Date of the change"),
    "date",
    help=_("The day the data changed; empty: today. A change is declared within 10 days (KB-7)."),
)
CHANGED_ON_REGISTRY = Spec(
    "changed_on",
    _("Date of the change"),
    "date",
    help=_("A correction by the registry has no deadline. The day the data changed; empty: today."),
)
CONTACT_FIELDS = (("name", _("Name"), "text"), ("phone", _("Phone number"), "tel"))
CONTACT_FLAGS = (("has_access", _("Has access to the site")), ("knows_system", _("Knows how to use the system")))

ALL_SPECS = {s.name: s for s in (*NUMBERS, *SITE, *PERSON, *SYSTEM, *COMPONENTS, CHANGED_ON)}
FLAG_NAMES = tuple(s.name for s in ALL_SPECS.values() if s.kind == "check")

# Labels of fields the rules name that are not one input of the form.
OTHER_LABELS: dict[str, Any] = {
    "components": _("Components"),
    "contacts": _("Contact persons"),
    "site_address_id": _("Address of the site"),
    "out_of_use": _("Taken out of use on"),
    "released_on": _("Date the management ends"),
    "reference": _("System"),
    "file": _("File"),
    "sketch": _("Situation sketch"),
    "related_user_numbers": _("Related user numbers"),
    "done_on": _("Maintained on"),
    "party_id": _("Third party"),
    "actions": _("Actions"),
    "purposes": _("Purposes"),
    "given_on": _("Consent given on"),
    "document": _("Signed consent"),
    "action": _("Action"),
    "purpose": _("Purpose"),
    "consent": _("Consent"),
    "informed_on": _("Informed on"),
    "status": _("Status"),
    "central": _("Alarm central"),
}

STATUS_LABELS = {
    "created": _("Created"),
    "updated": _("Updated"),
    "unchanged": _("Unchanged"),
    "deregistered": _("Deregistered"),
    "refused": _("Refused"),
}
SYSTEM_STATUS_LABELS = {"active": _("Active"), "deregistered": _("Deregistered")}
VERSION_LABELS = {
    "registration": _("Registration"),
    "change": _("Change"),
    "deregistration": _("Deregistration"),
    "correction": _("Correction by the registry"),
}
LATE_LABELS = {
    "registration": _("Registration declared late"),
    "change": _("Change declared late"),
    "deregistration": _("Deregistration declared late"),
    "handover": _("Hand-over not registered by the user"),
    "maintenance": _("Yearly maintenance overdue"),
}
ACTION_LABELS = {
    RemoteAction.PROGRAM.value: _("Program"),
    RemoteAction.READ.value: _("Query"),
    RemoteAction.ARM.value: _("Arm"),
    RemoteAction.DISARM.value: _("Disarm"),
}
PURPOSE_LABELS = {
    RemotePurpose.REPAIR.value: _("Repair"),
    RemotePurpose.MANAGE_ALARM.value: _("Manage an alarm for the client"),
    RemotePurpose.VERIFY.value: _("Verify an alarm"),
}
CHOICE_LABELS: dict[str, dict[str, Any]] = {
    "system_type": dict(SYSTEM_TYPE_CHOICES),
    "property_nature": dict(PROPERTY_CHOICES),
    "risk_nature": dict(RISK_CHOICES),
    "status": SYSTEM_STATUS_LABELS,
}


def field_label(name: str) -> Any:
    """The label of a field a rule names: ``contacts[1].phone`` → "Contact person 2: Phone number"."""
    match = re.fullmatch(r"contacts\[(\d+)\]\.(\w+)", name)
    if match:
        part = dict((*((k, v) for k, v, _t in CONTACT_FIELDS), *CONTACT_FLAGS)).get(match[2], match[2])
        return gettext("Contact person %(n)s: %(field)s") % {"n": int(match[1]) + 1, "field": part}
    spec = ALL_SPECS.get(name)
    if spec is not None:
        return spec.label
    return OTHER_LABELS.get(name, name.replace("_", " "))


def field_id(name: str) -> str:
    return "f-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _errors(exc: RuleError) -> list[RuleError]:
    return list(exc.errors) if isinstance(exc, FieldErrors) else [exc]


def _error_map(exc: RuleError, *, rename: Mapping[str, str] | None = None) -> dict[str, list[dict[str, str]]]:
    """Each field's refusals: {field: [{message, rule}]} (``__all__`` for what names no field)."""
    out: dict[str, list[dict[str, str]]] = {}
    for err in _errors(exc):
        name = err.field or "__all__"
        if rename:
            name = rename.get(name, name)
        out.setdefault(name, []).append({"message": localise(err), "rule": err.rule or ""})
    return out


def _bind(spec: Spec, value: Any, errors: Mapping[str, list[dict[str, str]]], *, name: str = "") -> dict[str, Any]:
    """One input for the template: its value, its errors, and what describes it (help, errors)."""
    name = name or spec.name
    ident = field_id(name)
    errs = errors.get(name, [])
    described = ([f"{ident}-help"] if spec.help else []) + [f"{ident}-error{i}" for i in range(1, len(errs) + 1)]
    choices = spec.choices
    if spec.kind == "select" and (not choices or choices[0][0] != ""):
        choices = (("", gettext("Choose")), *choices)
    return {
        "name": name,
        "id": ident,
        "label": spec.label,
        "kind": spec.kind,
        "help": spec.help,
        "required": spec.required,
        "choices": choices,
        "input_type": {"number": "text", "check": "checkbox"}.get(spec.kind, spec.kind),
        "inputmode": spec.inputmode or ("numeric" if spec.kind == "number" else ""),
        "maxlength": spec.maxlength,
        "autocomplete": spec.autocomplete,
        "input_name": name,
        "value": value if spec.kind == "check" else ("" if value is None else str(value)),
        "errors": errs,
        "describedby": " ".join(described),
    }


def _summary(errors: Mapping[str, list[dict[str, str]]], known: Iterable[str]) -> list[dict[str, Any]]:
    """The list at the top of a refused form: each refusal, linked to its field."""
    known = set(known)
    out = []
    for name, errs in errors.items():
        anchor = field_id(name) if name in known else ""
        if name in ("components", "contacts"):
            anchor = f"{field_id(name)}-group"
        for e in errs:
            out.append({"label": "" if name == "__all__" else field_label(name), "href": anchor, **e})
    return out


def _contact_rows(post: Mapping[str, Any]) -> int:
    raw = str(post.get("contact_rows", ""))
    count = int(raw) if raw.isdigit() and len(raw) < 3 else MIN_CONTACT_ROWS
    return max(MIN_CONTACT_ROWS, min(count, domain.MAX_CONTACTS))


def _posted(request: HttpRequest, *, managed: bool) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The posted form → (values for the service, values to show again, contact error renames).

    Unticked boxes are sent as False (a missing flag would take the rule's default); empty contact rows are
    left out, so the service's ``contacts[i]`` is renamed to the form's row.
    """
    post = request.POST
    shown: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for spec in (*SITE, *PERSON, *SYSTEM, *COMPONENTS, *(NUMBERS if managed else ())):
        if spec.kind == "check":
            shown[spec.name] = values[spec.name] = post.get(spec.name) == "1"
        else:
            shown[spec.name] = values[spec.name] = post.get(spec.name, "").strip()
    rows = _contact_rows(post)
    contacts: list[dict[str, Any]] = []
    shown_contacts: list[dict[str, Any]] = []
    rename: dict[str, str] = {}
    for row in range(rows):
        item = {
            "name": post.get(f"contact-{row}-name", "").strip(),
            "phone": post.get(f"contact-{row}-phone", "").strip(),
            "has_access": post.get(f"contact-{row}-has_access") == "1",
            "knows_system": post.get(f"contact-{row}-knows_system") == "1",
        }
        shown_contacts.append(item)
        if item["name"] or item["phone"]:
            for key in ("name", "phone", "has_access", "knows_system"):
                rename[f"contacts[{len(contacts)}].{key}"] = f"contacts[{row}].{key}"
            contacts.append(item)
    values["contacts"] = contacts
    shown["contacts"] = shown_contacts
    shown["changed_on"] = post.get("changed_on", "").strip()
    rename["site_address_id"] = "site_street"
    return values, shown, rename


def _initial(system: AlarmSystem) -> dict[str, Any]:
    """A registered system's data as the form shows it (the site as street, number, box and postcode)."""
    from tocsin.geo.models import Address

    shown: dict[str, Any] = {}
    for name in domain.DATA_FIELDS:
        value = getattr(system, name)
        shown[name] = value.isoformat() if isinstance(value, date) else value
    shown["contacts"] = [dict(c) for c in system.contacts or []]
    address = Address.objects.filter(pk=system.site_address_id).first()
    if address is not None:
        shown["site_street"] = address.street_nl or address.street_fr or address.street_de
        shown["site_house_number"] = address.house_number
        shown["site_box"] = address.box
    shown["site_postcode"] = system.site_postcode
    return shown


def _blank() -> dict[str, Any]:
    shown: dict[str, Any] = {s.name: "" for s in ALL_SPECS.values() if s.kind != "check"}
    shown.update({name: False for name in FLAG_NAMES})
    shown.update(in_building=True, siren_alarm_s="", siren_sabotage_s="0", contacts=[])
    return shown


def _form_sections(
    shown: Mapping[str, Any],
    errors: Mapping[str, list[dict[str, str]]],
    *,
    managed: bool,
    numbers_editable: bool,
    arns: list[str],
    editing: bool,
    registry: bool,
) -> dict[str, Any]:
    """Every section of the form, bound to the values shown and the errors."""

    def bound(specs: Iterable[Spec]) -> list[dict[str, Any]]:
        return [_bind(s, shown.get(s.name), errors) for s in specs]

    numbers: list[dict[str, Any]] = []
    if managed:
        current = str(shown.get("alarm_report_number") or "")
        choices = [("", gettext("Choose a number")), *((n, n) for n in arns)]
        if current and current not in arns:
            choices.append((current, current))
        arn_spec = replace(NUMBERS[1], choices=tuple(choices))
        numbers = [
            _bind(NUMBERS[0], shown.get("user_number"), errors),
            _bind(arn_spec, current, errors),
            _bind(NUMBERS[2], shown.get("client_informed_on"), errors),
        ]
        if not numbers_editable:
            numbers = numbers[2:]
    contacts = list(shown.get("contacts") or [])
    rows = max(MIN_CONTACT_ROWS, min(len(contacts), domain.MAX_CONTACTS))
    contact_rows = []
    for row in range(rows):
        item = contacts[row] if row < len(contacts) else {}
        fields = [
            _bind(
                Spec(f"c{key}", label, kind, maxlength=200 if key == "name" else 30),
                item.get(key, ""),
                errors,
                name=f"contacts[{row}].{key}",
            )
            for key, label, kind in CONTACT_FIELDS
        ] + [
            _bind(Spec(f"c{key}", label, "check"), bool(item.get(key, False)), errors, name=f"contacts[{row}].{key}")
            for key, label in CONTACT_FLAGS
        ]
        for f in fields:
            f["input_name"] = f"contact-{row}-{f['name'].rsplit('.', 1)[1]}"
        contact_rows.append({"n": row + 1, "fields": fields})
    return {
        "numbers": numbers,
        "site": bound(SITE),
        "person": bound(PERSON),
        "system": bound(SYSTEM),
        "components": bound(COMPONENTS),
        "components_errors": errors.get("components", []),
        "contacts": contact_rows,
        "contact_count": rows,
        "contacts_errors": errors.get("contacts", []),
        "changed_on": _bind(CHANGED_ON_REGISTRY if registry else CHANGED_ON, shown.get("changed_on"), errors)
        if editing
        else None,
    }


def _known_fields() -> set[str]:
    names = set(ALL_SPECS)
    for row in range(domain.MAX_CONTACTS):
        names.update(f"contacts[{row}].{key}" for key in ("name", "phone", "has_access", "knows_system"))
    return names


def _form_page(
    request: HttpRequest,
    *,
    shown: Mapping[str, Any],
    errors: Mapping[str, list[dict[str, str]]] | None = None,
    system: AlarmSystem | None = None,
    status: int = 200,
) -> HttpResponse:
    actor = _actor(request)
    member = _user(request)
    registry = services.is_registry(member)
    managed = system is None or system.central_id is not None
    numbers_editable = managed and not registry
    arns = [a.number for a in selectors.arn_list(actor=actor)] if numbers_editable else []
    errors = errors or {}
    context = {
        "system": system,
        "registry": registry,
        "managed": managed,
        "numbers_editable": numbers_editable,
        "form": _form_sections(
            shown,
            errors,
            managed=managed,
            numbers_editable=numbers_editable,
            arns=arns,
            editing=system is not None,
            registry=registry,
        ),
        "summary": _summary(errors, _known_fields()),
    }
    return render(request, "alarms/org/system_form.html", context, status=status)


# --- centrals: the list, the form, one system ----------------------------------------------------------------------


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 6 and int(raw) > 0 else 1


def _list_context(request: HttpRequest) -> dict[str, Any]:
    query = request.GET.get("q", "").strip()[:100]
    status = request.GET.get("status", "active")
    if status not in ("active", "deregistered", "all"):
        status = "active"
    page = _page_number(request)
    items, total = selectors.system_list(actor=_actor(request), query=query, status=status, page=page)
    pages = max(1, -(-total // selectors.PAGE))
    return {
        "items": items,
        "total": total,
        "query": query,
        "status": status,
        "page": page,
        "pages": pages,
        "previous": page - 1 if page > 1 else None,
        "next": page + 1 if page < pages else None,
        "status_labels": SYSTEM_STATUS_LABELS,
        "type_labels": dict(SYSTEM_TYPE_CHOICES),
        "central_names": _org_names(s.central_id for s in items),
    }


def _org_names(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    return dict(Organisation.objects.filter(pk__in=wanted).values_list("pk", "name")) if wanted else {}


@_portal
@require_GET
def systems(request: HttpRequest) -> HttpResponse:
    """The systems a central manages: search by reference, user number, name, postcode or e-mail; 50 a page."""
    member = _user(request)
    if services.is_registry(member):
        return redirect(reverse("alarms:admin") + (f"?{request.GET.urlencode()}" if request.GET else ""))
    context = _list_context(request)
    context["can_write"] = _can(lambda: services.require_central(_actor(request)))
    return render(request, "alarms/org/systems.html", context)


@_portal
@require_http_methods(["GET", "POST"])
def system_new(request: HttpRequest) -> HttpResponse:
    """Register a system the central manages (KB-7-ARC): nothing is written unless every rule passes."""
    actor = _actor(request)
    services.require_central(actor)
    if request.method != "POST":
        return _form_page(request, shown=_blank())
    values, shown, rename = _posted(request, managed=True)
    try:
        system = services.system_register(actor=actor, values=values)
    except RuleError as exc:
        return _form_page(request, shown=shown, errors=_error_map(exc, rename=rename), status=422)
    messages.success(request, gettext("System %(reference)s is registered.") % {"reference": system.reference})
    if system.registration_late_days:
        messages.warning(
            request,
            ngettext(
                "It is registered %(days)s day after the 10 days that followed its first use (KB-7).",
                "It is registered %(days)s days after the 10 days that followed its first use (KB-7).",
                system.registration_late_days,
            )
            % {"days": system.registration_late_days},
        )
    return redirect("alarms:system", reference=system.reference)


@_portal
@require_http_methods(["GET", "POST"])
def system_edit(request: HttpRequest, reference: str) -> HttpResponse:
    """Change a system (its central, KB-7) or correct it (the registry administration): the same form."""
    actor = _actor(request)
    view = selectors.system_get(actor=actor, reference=reference, ip=client_ip(request))
    system = view.system
    if system.status != "active":
        messages.error(request, gettext("This system is deregistered: it cannot be changed."))
        return redirect("alarms:system", reference=system.reference)
    if services.is_registry(_user(request)):
        services.require_registry(actor)
    else:
        services.require_central(actor)
    if request.method != "POST":
        return _form_page(request, shown=_initial(system), system=system)
    managed = system.central_id is not None and not services.is_registry(_user(request))
    values, shown, rename = _posted(request, managed=managed)
    if not managed and system.central_id is not None:
        # The registry corrects a central's system: the service keeps the numbers; the KB-4 date is shown.
        values["client_informed_on"] = shown["client_informed_on"] = request.POST.get("client_informed_on", "")
        shown["user_number"], shown["alarm_report_number"] = system.user_number, system.alarm_report_number
    try:
        system, version = services.system_change(
            actor=actor, reference=system.reference, values=values, changed_on=shown["changed_on"] or None
        )
    except RuleError as exc:
        return _form_page(request, shown=shown, errors=_error_map(exc, rename=rename), system=system, status=422)
    if version is None:
        messages.info(request, gettext("Nothing changed: no new version was written."))
    else:
        messages.success(request, gettext("Version %(n)s is saved.") % {"n": version.number})
        if version.late_days:
            messages.warning(
                request,
                ngettext(
                    "This change is declared %(days)s day late (KB-7: within 10 days).",
                    "This change is declared %(days)s days late (KB-7: within 10 days).",
                    version.late_days,
                )
                % {"days": version.late_days},
            )
    return redirect("alarms:system", reference=system.reference)


def _show(name: str, value: Any) -> str:
    """A stored value as a person reads it."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if name == "contacts" and isinstance(value, list):
        return "; ".join(f"{c.get('name', '')} ({c.get('phone', '')})" for c in value if isinstance(c, dict)) or "—"
    labels = CHOICE_LABELS.get(name)
    if labels and str(value) in labels:
        return str(labels[str(value)])
    return str(value)


def _version_rows(versions: Iterable[Any]) -> list[dict[str, Any]]:
    rows = []
    for v in versions:
        changes = v.changes or {}
        record = v.kind == "registration" and v.number == 1
        if record:
            items = [
                {"label": field_label(k), "new": _show(k, val)} for k, val in changes.items() if k != "site_address_id"
            ]
        else:
            items = [
                {"label": field_label(k), "old": _show(k, pair[0]), "new": _show(k, pair[1])}
                for k, pair in changes.items()
                if k != "site_address_id" and isinstance(pair, list) and len(pair) == 2
            ]
        rows.append({"v": v, "kind": VERSION_LABELS.get(v.kind, v.kind), "record": record, "items": items})
    return rows


def _detail_page(
    request: HttpRequest, reference: str, *, status: int = 200, failed: dict[str, Any] | None = None
) -> HttpResponse:
    actor = _actor(request)
    member = _user(request)
    view = selectors.system_get(actor=actor, reference=reference, ip=client_ip(request))
    system = view.system
    registry = services.is_registry(member)
    central_writer = not registry and _can(lambda: services.require_central(actor))
    registry_writer = registry and _can(lambda: services.require_registry(actor))
    active = system.status == "active"
    sketch = system.sketch if view.has_sketch else None
    context = {
        "view": view,
        "s": system,
        "active": active,
        "registry": registry,
        "can_edit": active and (registry_writer or central_writer),
        "can_central": active and central_writer,
        "fixed_personal": system.system_type == SystemType.PERSONAL_FIXED.value,
        "sketch": sketch,
        "versions": _version_rows(view.versions),
        "facts": _facts(system, view.central_name),
        "status_label": SYSTEM_STATUS_LABELS.get(system.status, system.status),
        "action_labels": ACTION_LABELS,
        "purpose_labels": PURPOSE_LABELS,
        "parties": list(selectors.parties()) if central_writer and active else [],
        "actions": list(ACTION_LABELS.items()),
        "purposes": list(PURPOSE_LABELS.items()),
        # KB-6: what a central may do remotely at all (the service checks it again, with the consent).
        "remote_actions": [(k, v) for k, v in ACTION_LABELS.items() if RemoteAction(k) in CENTRAL_ACTIONS],
        "remote_purposes": [(k, v) for k, v in PURPOSE_LABELS.items() if RemotePurpose(k) in CENTRAL_PURPOSES],
        "failed": failed or {},
        "today": _today().isoformat(),
    }
    return render(request, "alarms/org/system.html", context, status=status)


def _components(system: AlarmSystem, *, durations: bool = False) -> str:
    parts = []
    if system.siren:
        parts.append(
            gettext("outdoor siren (%(s)s s)") % {"s": system.siren_alarm_s} if durations else gettext("outdoor siren")
        )
    if system.light:
        parts.append(gettext("outdoor light"))
    if system.notification_system:
        parts.append(gettext("notification system"))
    if durations and system.visual_verification:
        parts.append(gettext("visual verification"))
    return ", ".join(parts) or "—"


def _facts(system: AlarmSystem, central_name: str) -> list[tuple[Any, str]]:
    siren = (
        gettext("%(alarm)s s per alarm, %(sabotage)s s on sabotage")
        % {"alarm": system.siren_alarm_s, "sabotage": system.siren_sabotage_s}
        if system.siren
        else "—"
    )
    rows: list[tuple[Any, str]] = [
        (_("Alarm central"), central_name or gettext("none: its user registers it")),
        (_("User number"), system.user_number or "—"),
        (_("Alarm-report number"), system.alarm_report_number or "—"),
        (_("Site"), f"{system.site_name}, {system.site_text}"),
        (_("Phone number of the site"), system.site_phone),
        (_("User"), f"{system.user_name}, {system.user_address}"),
        (_("E-mail address of the user"), system.user_email),
        (_("Mobile number of the user"), system.user_mobile or "—"),
        (_("Type of system"), _show("system_type", system.system_type)),
        (_("Nature of the property"), _show("property_nature", system.property_nature)),
        (_("Nature of the risk"), _show("risk_nature", system.risk_nature)),
        (_("Components"), _components(system)),
        (_("Siren"), siren),
        (_("Installed in a building"), _show("in_building", system.in_building)),
        (_("In a place accessible to the public"), _show("publicly_accessible", system.publicly_accessible)),
        (_("Allows visual verification"), _show("visual_verification", system.visual_verification)),
        (_("The access code was handed to the user"), _show("access_code_handed", system.access_code_handed)),
        (_("First use"), _show("first_use", system.first_use)),
        (_("Renewed on"), _show("renewed_on", system.renewed_on)),
        (_("Installing security company"), system.installer or "—"),
        (_("Client informed of the rules of the decree on"), _show("client_informed_on", system.client_informed_on)),
        (_("Last maintenance"), _show("last_maintenance", system.last_maintenance)),
        (_("Next maintenance due"), _show("maintenance_due", system.maintenance_due)),
    ]
    if system.handover_due:
        rows.append((_("The user registers it by"), system.handover_due.isoformat()))
    if system.out_of_use:
        rows.append((_("Taken out of use on"), system.out_of_use.isoformat()))
    return rows


@_portal
@require_GET
def system_detail(request: HttpRequest, reference: str) -> HttpResponse:
    """One system: its data, versions, maintenance, consents, remote actions, KB-4 records, sketch, and the forms
    to deregister it or hand it over to its user."""
    return _detail_page(request, reference)


def _failed(request: HttpRequest, reference: str, form: str, exc: RuleError) -> HttpResponse:
    """A refused form of the detail page: the page again, the reasons in that form, what was typed kept."""
    errs = _errors(exc)
    failed = {
        "form": form,
        "errors": [{"message": localise(e), "rule": e.rule or "", "field": e.field or ""} for e in errs],
        "values": {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"},
    }
    return _detail_page(request, reference, status=422, failed=failed)


def _act(
    request: HttpRequest, reference: str, form: str, call: Callable[[], Any], done: str, anchor: str = ""
) -> HttpResponse:
    """Run one of the detail page's forms (one service call); refused, nothing is written."""
    try:
        call()
    except RuleError as exc:
        return _failed(request, reference, form, exc)
    messages.success(request, done)
    return redirect(reverse("alarms:system", kwargs={"reference": reference.upper()}) + anchor)


@_portal
@require_POST
def system_deregister(request: HttpRequest, reference: str) -> HttpResponse:
    out_of_use = request.POST.get("out_of_use", "").strip()
    return _act(
        request,
        reference,
        "deregister",
        lambda: services.system_deregister(actor=_actor(request), reference=reference, out_of_use=out_of_use),
        gettext("The system is deregistered."),
    )


@_portal
@require_POST
def system_release(request: HttpRequest, reference: str) -> HttpResponse:
    released_on = request.POST.get("released_on", "").strip() or None
    actor = _actor(request)
    try:
        system = services.system_release(actor=actor, reference=reference, released_on=released_on)
    except RuleError as exc:
        return _failed(request, reference, "release", exc)
    messages.success(
        request,
        gettext(
            "Your central no longer manages system %(reference)s. Its user must register it by %(due)s (within "
            "10 days, KB-7); the registry reminds them."
        )
        % {"reference": system.reference, "due": system.handover_due.isoformat() if system.handover_due else ""},
    )
    return redirect("alarms:systems")


def _upload(request: HttpRequest, name: str) -> tuple[bytes, str, str]:
    """The uploaded file, its type as its first bytes show it (the service checks it again), and its name."""
    upload: UploadedFile | None = request.FILES.get(name)
    if upload is None:
        return b"", "", ""
    content = upload.read()
    kind = next((t for t, magic in services.DOCUMENT_TYPES.items() if content.startswith(magic)), "")
    return content, kind or (upload.content_type or ""), (upload.name or "")[:200]


@_portal
@require_http_methods(["GET", "POST"])
def system_sketch(request: HttpRequest, reference: str) -> HttpResponse:
    """KB-21: the situation sketch of a fixed personal alarm: download it, or (its central) upload it."""
    actor = _actor(request)
    if request.method == "POST":
        content, kind, name = _upload(request, "sketch")
        related = re.split(r"[\s,;]+", request.POST.get("related_user_numbers", "").strip())
        return _act(
            request,
            reference,
            "sketch",
            lambda: services.sketch_upload(
                actor=actor,
                reference=reference,
                content=content,
                content_type=kind,
                name=name,
                related_user_numbers=[r for r in related if r],
            ),
            gettext("The situation sketch is saved."),
            "#sketch",
        )
    view = selectors.system_get(actor=actor, reference=reference, ip=client_ip(request))
    if not view.has_sketch:
        raise Http404
    return _file(view.system.sketch.content, view.system.sketch.content_type, view.system.sketch.name)


def _file(content: bytes | memoryview, content_type: str, name: str) -> HttpResponse:
    response = HttpResponse(bytes(content), content_type=content_type)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100] or "document"
    response["Content-Disposition"] = f'attachment; filename="{safe}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@_portal
@require_POST
def system_maintenance(request: HttpRequest, reference: str) -> HttpResponse:
    """KB-8: record a yearly maintenance (the central for its client, or the registry)."""
    post = request.POST
    return _act(
        request,
        reference,
        "maintenance",
        lambda: services.maintenance_record(
            actor=_actor(request),
            reference=reference,
            done_on=post.get("done_on", "").strip(),
            notes=post.get("notes", ""),
            company_name=post.get("company_name", ""),
        ),
        gettext("The maintenance is recorded."),
        "#maintenance",
    )


@_portal
@require_POST
def system_consent_add(request: HttpRequest, reference: str) -> HttpResponse:
    """KB-6: the user's prior written consent to remote actions by one third party, with the signed document."""
    post = request.POST
    party = post.get("party_id", "")
    content, kind, name = _upload(request, "document")
    return _act(
        request,
        reference,
        "consent",
        lambda: services.consent_add(
            actor=_actor(request),
            reference=reference,
            party_id=int(party) if party.isascii() and party.isdigit() and len(party) < 12 else 0,
            actions=post.getlist("actions"),
            purposes=post.getlist("purposes"),
            given_on=post.get("given_on", "").strip(),
            document=content,
            document_type=kind,
            document_name=name,
        ),
        gettext("The consent is recorded."),
        "#consents",
    )


@_portal
@require_POST
def system_consent_withdraw(request: HttpRequest, reference: str, consent_id: int) -> HttpResponse:
    return _act(
        request,
        reference,
        "consents",
        lambda: services.consent_withdraw(actor=_actor(request), reference=reference, consent_id=consent_id),
        gettext("The consent is withdrawn."),
        "#consents",
    )


@_portal
@require_GET
def system_consent_document(request: HttpRequest, reference: str, consent_id: int) -> HttpResponse:
    consent = selectors.consent_document(actor=_actor(request), reference=reference, consent_id=consent_id)
    return _file(consent.document, consent.document_type, consent.document_name)


@_portal
@require_POST
def system_remote(request: HttpRequest, reference: str) -> HttpResponse:
    """KB-6: record a remote action before taking it; without a consent covering it, it is refused (and logged)."""
    post = request.POST
    return _act(
        request,
        reference,
        "remote",
        lambda: services.remote_action(
            actor=_actor(request),
            reference=reference,
            action=post.get("action", ""),
            purpose=post.get("purpose", ""),
            note=post.get("note", ""),
        ),
        gettext("The remote action is recorded: the consent covers it."),
        "#remote",
    )


# --- centrals: the CSV import ---------------------------------------------------------------------------------------

COLUMN_HELP: dict[str, Any] = {
    "user_number": _("The user number (KB-7-ARC); a row with a number already registered by you changes that system."),
    "alarm_report_number": _("One of your alarm-report numbers."),
    "site_name": _("Name of the site."),
    "site_street": _("Street of the site, as in the address register."),
    "site_house_number": _("House number of the site."),
    "site_box": _("Box, if any."),
    "site_postcode": _("Postcode of the site (4 digits)."),
    "site_phone": _("Phone number of the site."),
    "user_name": _("Name of the user."),
    "user_address": _("Address of the user."),
    "user_mobile": _("Mobile number of the user, if any."),
    "user_email": _("E-mail address of the user."),
    "in_building": _("yes or no (empty: yes)."),
    "publicly_accessible": _("yes or no."),
    "siren": _("yes or no: an outdoor siren."),
    "siren_alarm_s": _("Seconds per alarm, 1 to 180 (KB-17)."),
    "siren_sabotage_s": _("Seconds on sabotage: 0, or above the alarm duration and at most 480 (KB-17)."),
    "light": _("yes or no: an outdoor light (required with a siren, KB-18)."),
    "light_until_switch_off": _("yes or no: lit until switched off (KB-18)."),
    "notification_system": _("yes or no."),
    "first_use": _("Date of first use, YYYY-MM-DD."),
    "renewed_on": _("Date of renewal, YYYY-MM-DD, if any."),
    "installer": _("Installing security company, if any."),
    "access_code_handed": _("yes or no (KB-5)."),
    "visual_verification": _("yes or no (KB-24)."),
    "components_safe": _("yes: no component hinders the emergency services or can injure people (KB-9)."),
    "client_informed_on": _("Date the client was informed of the rules, YYYY-MM-DD (KB-4)."),
    "contact1_name": _("Contact persons 1 to 3: name and phone number (contact2_…, contact3_… likewise)."),
    "changed_on": _("Date of a change, YYYY-MM-DD (empty: today)."),
    "out_of_use": _("A date here deregisters the system: taken out of use on that day."),
}
REQUIRED_COLUMNS = frozenset(
    {
        "user_number",
        "alarm_report_number",
        "site_name",
        "site_street",
        "site_house_number",
        "site_postcode",
        "site_phone",
        "user_name",
        "user_address",
        "user_email",
        "property_nature",
        "risk_nature",
        "system_type",
        "first_use",
        "client_informed_on",
        "components_safe",
    }
)


def _columns_help() -> list[dict[str, Any]]:
    skip = {"contact1_phone", "contact2_name", "contact2_phone", "contact3_name", "contact3_phone"}
    codes = {"property_nature": PROPERTY_CHOICES, "risk_nature": RISK_CHOICES, "system_type": SYSTEM_TYPE_CHOICES}
    out = []
    for c in domain.CSV_COLUMNS:
        if c in skip:
            continue
        text = COLUMN_HELP.get(c, "")
        if c in codes:
            text = gettext("One of: %(codes)s.") % {"codes": ", ".join(k for k, _l in codes[c])}
        out.append({"name": c, "help": text, "required": c in REQUIRED_COLUMNS})
    return out


def _report_rows(report: services.ImportReport) -> list[dict[str, Any]]:
    return [
        {
            "line": r.line,
            "user_number": r.user_number,
            "status": r.status,
            "reference": r.reference,
            "errors": [
                {
                    "field": e.field or "",
                    "label": str(field_label(e.field or "")),
                    "message": localise(e),
                    "rule": e.rule or "",
                }
                for e in r.errors
            ],
        }
        for r in report.rows
    ]


def _report_token(member: User, rows: list[dict[str, Any]]) -> tuple[str, bool]:
    """The report, signed, for its CSV download; only the refused rows if the whole is too large to post back."""
    compact = [
        [
            r["line"],
            r["user_number"],
            r["status"],
            r["reference"],
            [[e["field"], e["message"], e["rule"]] for e in r["errors"]],
        ]
        for r in rows
    ]
    token = signing.dumps({"u": member.pk, "r": compact}, salt=REPORT_SALT, compress=True)
    if len(token) <= REPORT_TOKEN_MAX:
        return token, True
    refused = [r for r in compact if r[2] == "refused"]
    return signing.dumps({"u": member.pk, "r": refused}, salt=REPORT_SALT, compress=True), False


def _import_page(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    context: dict[str, Any] = {
        "columns": _columns_help(),
        "max_mb": domain.MAX_IMPORT_BYTES // (1024 * 1024),
        "max_rows": domain.MAX_IMPORT_ROWS,
        "status_labels": STATUS_LABELS,
        "file_errors": [],
        **extra,
    }
    return render(request, "alarms/org/import.html", context, status=status)


@_portal
@require_http_methods(["GET", "POST"])
def import_csv(request: HttpRequest) -> HttpResponse:
    """KB-7-ARC in bulk: register, change or deregister every system of a CSV; each row is refused or written."""
    actor = _actor(request)
    member = services.require_central(actor)
    if request.method != "POST":
        return _import_page(request)
    upload = request.FILES.get("file")
    if upload is None:
        error = {"message": gettext("Choose a CSV file."), "rule": ""}
        return _import_page(request, status=422, file_errors=[error])
    if upload.size is not None and upload.size > domain.MAX_IMPORT_BYTES:
        error = {"message": gettext("The file is larger than 100 MB."), "rule": ""}
        return _import_page(request, status=422, file_errors=[error])
    try:
        report = services.import_csv(actor=actor, data=upload.read())
    except RuleError as exc:
        errs = [{"message": localise(e), "rule": e.rule or ""} for e in _errors(exc)]
        return _import_page(request, status=422, file_errors=errs)
    rows = _report_rows(report)
    refused = [r for r in rows if r["status"] == "refused"]
    others = [r for r in rows if r["status"] != "refused"]
    shown = sorted(refused + others[:REPORT_SHOWN], key=lambda r: r["line"])
    token, whole = _report_token(member, rows)
    counts = report.counts
    return _import_page(
        request,
        report=True,
        file_name=(upload.name or "")[:200],
        rows=shown,
        hidden=max(0, len(others) - REPORT_SHOWN),
        counts=[(key, STATUS_LABELS[key], counts.get(key, 0)) for key in STATUS_LABELS],
        total=len(rows),
        token=token,
        whole=whole,
    )


def _csv_cell(value: Any) -> str:
    """A cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_response(header: list[str], rows: Iterable[Iterable[Any]], name: str) -> HttpResponse:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    response = HttpResponse("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@_portal
@require_POST
def import_report(request: HttpRequest) -> HttpResponse:
    """The report of an import just made, as CSV: one line per refusal, one per row written."""
    try:
        data = signing.loads(request.POST.get("token", ""), salt=REPORT_SALT, max_age=REPORT_TOKEN_TTL_S)
    except signing.BadSignature:
        raise Http404 from None
    if data.get("u") != _user(request).pk:
        raise Http404
    lines: list[list[Any]] = []
    for line, number, status, reference, errors in data.get("r", []):
        label = str(STATUS_LABELS.get(status, status))
        if not errors:
            lines.append([line, number, status, label, reference, "", "", "", ""])
        for name, message, rule in errors:
            lines.append([line, number, status, label, reference, name, str(field_label(name)), message, rule])
    header = ["line", "user_number", "status", "status_text", "reference", "field", "field_text", "message", "rule"]
    return _csv_response(header, lines, f"tocsin-import-report-{_today().isoformat()}.csv")


@_portal
@require_GET
def import_template(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(domain.csv_header(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="tocsin-alarm-systems-template.csv"'
    return response


# --- the registry administration ------------------------------------------------------------------------------------


def _registry_only(request: HttpRequest) -> User:
    member = _user(request)
    if not services.is_registry(member):
        raise AccessDenied(gettext_noop("Only the registry administration opens this page."))
    return member


@_portal
@require_GET
def admin(request: HttpRequest) -> HttpResponse:
    """Every system, for the registry administration: a search is recorded in the audit log (by the selector)."""
    _registry_only(request)
    context = _list_context(request)
    context["registry"] = True
    return render(request, "alarms/org/systems.html", context)


@_portal
@require_GET
def admin_late(request: HttpRequest) -> HttpResponse:
    """KB-7 late declarations, hand-overs past their deadline, KB-8 overdue maintenance; as a page or as CSV."""
    _registry_only(request)
    as_csv = request.GET.get("format") == "csv"
    items = selectors.late_list(actor=_actor(request), limit=None if as_csv else 500)
    names = _org_names(i.system.central_id for i in items)
    if as_csv:
        rows = (
            [
                i.system.reference,
                i.what,
                i.due_on.isoformat(),
                i.late_days,
                timezone.localtime(i.declared_at).isoformat(timespec="minutes") if i.declared_at else "",
                names.get(i.system.central_id or 0, ""),
                i.system.user_number,
                i.system.site_postcode,
            ]
            for i in items
        )
        header = ["reference", "what", "due_on", "late_days", "declared_at", "central", "user_number", "postcode"]
        return _csv_response(header, rows, f"tocsin-alarm-registry-late-{_today().isoformat()}.csv")
    # The counts are the whole registry's; the page lists at most LATE_SHOWN (the CSV has them all).
    counts = {k: n for k, n in selectors.late_counts(actor=_actor(request)).items() if n}
    what = request.GET.get("what", "")
    shown = [i for i in items if i.what == what] if what in counts else items
    context = {
        "items": shown[:LATE_SHOWN],
        "hidden": max(0, (counts[what] if what in counts else sum(counts.values())) - LATE_SHOWN),
        "labels": LATE_LABELS,
        "names": names,
        "what": what if what in counts else "",
        "counts": [(k, LATE_LABELS.get(k, k), n) for k, n in counts.items()],
        "total": sum(counts.values()),
    }
    return render(request, "alarms/org/late.html", context)


def _f(value: float) -> str:
    return f"{value:.1f}"


def _bars(rows: list[tuple[str, int]], *, title: str, unit: str) -> SafeString:
    """Horizontal bars, server-drawn SVG (every string escaped by format_html), the figure beside each bar."""
    label_w, bar_w, row_h, pad = 205, 150, 30, 8  # 400 wide: readable at its size and on a phone
    width, height = label_w + bar_w + 45, pad * 2 + row_h * max(len(rows), 1)
    peak = max((n for _l, n in rows), default=0) or 1
    parts = [format_html("<title>{}</title>", title)]
    for i, (label, n) in enumerate(rows):
        y, w = pad + i * row_h, bar_w * n / peak
        short = label if len(label) <= 26 else label[:25] + "…"
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end" font-size="14" fill="#1a1a1a">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="#0b4f8a"><title>{}: {} {}</title></rect>'
                '<text x="{}" y="{}" font-size="14" fill="#1a1a1a">{}</text>',
                label_w - 8,
                _f(y + row_h * 0.62),
                short,
                label_w,
                _f(y + 5),
                _f(max(w, 1 if n else 0)),
                row_h - 10,
                label,
                n,
                unit,
                _f(label_w + w + 6),
                _f(y + row_h * 0.62),
                n,
            )
        )
    if not rows:
        parts.append(format_html('<text x="8" y="30" font-size="14">{}</text>', gettext("No systems yet.")))
    return format_html(
        '<svg class="chart bars" viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">'
        "{}</svg>",
        width,
        height,
        title,
        format_html_join("", "{}", ((p,) for p in parts)),
    )


@_portal
@require_GET
def admin_stats(request: HttpRequest) -> HttpResponse:
    """Counts by type, region, province and municipality: tables, bar charts and a map of Belgium."""
    from tocsin.geo.maps import belgium_svg
    from tocsin.geo.models import Municipality

    _registry_only(request)
    stats = selectors.statistics(actor=_actor(request))
    unit = gettext("systems")
    types = dict(SYSTEM_TYPE_CHOICES)
    by_type = [(str(types.get(k, k)), n) for k, n in sorted(stats["by_type"].items(), key=lambda kv: -kv[1])]
    by_region = list(stats["by_region"].items())
    by_province = list(stats["by_province"].items())
    per_municipality: dict[str, int] = stats["by_municipality"]
    top = sorted(per_municipality.items(), key=lambda kv: (-kv[1], kv[0]))[:25]
    names = dict(Municipality.objects.filter(pk__in=[k for k, _n in top]).values_list("nis_code", "name_nl"))
    context = {
        "stats": stats,
        "by_type": by_type,
        "by_region": by_region,
        "by_province": by_province,
        "type_chart": _bars(by_type, title=gettext("Active systems by type"), unit=unit),
        "region_chart": _bars(by_region, title=gettext("Active systems by region"), unit=unit),
        "province_chart": _bars(by_province, title=gettext("Active systems by province"), unit=unit),
        "map": mark_safe(  # noqa: S308 — belgium_svg escapes every string it writes
            belgium_svg(per_municipality, title=gettext("Active alarm systems per municipality"), unit=unit)
        ),
        "top": [(nis, names.get(nis, nis), n) for nis, n in top],
        "municipalities": len(per_municipality),
    }
    return render(request, "alarms/org/stats.html", context)


def _numbers_page(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    actor = _actor(request)
    cfg = services.config()
    context: dict[str, Any] = {
        "config": cfg,
        "formats": {"user_number_pattern": cfg.user_number_pattern, "arn_pattern": cfg.arn_pattern},
        "format_errors": {},
        "arns": list(selectors.arn_list(actor=actor)),
        "centrals": list(selectors.centrals(actor=actor).order_by("name")),
        "assign_errors": {},
        "assign": {},
        **extra,
    }
    return render(request, "alarms/org/numbers.html", context, status=status)


@_portal
@require_GET
def admin_numbers(request: HttpRequest) -> HttpResponse:
    """KB-7-ARC: the composition of user and alarm-report numbers, and the alarm-report numbers assigned."""
    _registry_only(request)
    services.require_registry(_actor(request))
    return _numbers_page(request)


@_portal
@require_POST
def admin_formats(request: HttpRequest) -> HttpResponse:
    _registry_only(request)
    formats = {name: request.POST.get(name, "") for name in ("user_number_pattern", "arn_pattern")}
    try:
        services.config_set(actor=_actor(request), **formats)
    except RuleError as exc:
        return _numbers_page(request, status=422, formats=formats, format_errors=_error_map(exc))
    messages.success(request, gettext("The number formats are saved."))
    return redirect("alarms:admin_numbers")


@_portal
@require_POST
def admin_arn_assign(request: HttpRequest) -> HttpResponse:
    _registry_only(request)
    raw = request.POST.get("organisation_id", "")
    values = {"organisation_id": raw, "number": request.POST.get("number", "")}
    try:
        row = services.arn_assign(
            actor=_actor(request),
            organisation_id=int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else 0,
            number=values["number"],
        )
    except RuleError as exc:
        return _numbers_page(request, status=422, assign=values, assign_errors=_error_map(exc))
    messages.success(
        request,
        gettext("Alarm-report number %(number)s is assigned to %(central)s.")
        % {"number": row.number, "central": row.organisation.name},
    )
    return redirect(reverse("alarms:admin_numbers") + "#arns")


# --- the emergency centre and the police ---------------------------------------------------------------------------


def _sketch_names(found: list[AlarmSystem]) -> dict[int, str]:
    """Which of the systems found have a situation sketch (KB-21), without loading the drawings."""
    ids = [s.pk for s in found if s.system_type == SystemType.PERSONAL_FIXED.value]
    return dict(Sketch.objects.filter(system_id__in=ids).values_list("system_id", "name")) if ids else {}


@_portal
@require_http_methods(["GET", "POST"])
def lookup(request: HttpRequest) -> HttpResponse:
    """Find a system by user number, alarm-report number or address, with the reason (incident number): every
    lookup is recorded in the audit log, with what was asked and why."""
    member = _user(request)
    if Kind(member.organisation.kind) not in selectors.LOOKUP_KINDS:
        raise AccessDenied(gettext_noop("Only the emergency centre, the police and the registry look systems up."))
    names = ("user_number", "alarm_report_number", "address", "reason")
    values = {n: request.POST.get(n, "").strip() for n in names}
    context: dict[str, Any] = {"values": values, "errors": {}, "searched": False}
    status = 200
    if request.method == "POST":
        try:
            found = selectors.lookup(actor=_actor(request), ip=client_ip(request), **values)
        except RuleError as exc:
            context["errors"] = _error_map(exc)
            status = 422
        else:
            sketches = _sketch_names(found)
            centrals = _org_names(s.central_id for s in found)
            context["searched"] = True
            context["results"] = [
                {
                    "s": s,
                    "central": centrals.get(s.central_id or 0, ""),
                    "type": _show("system_type", s.system_type),
                    "property": _show("property_nature", s.property_nature),
                    "risk": _show("risk_nature", s.risk_nature),
                    "components": _components(s, durations=True),
                    "sketch": signing.dumps({"s": s.pk, "u": member.pk}, salt=SKETCH_SALT) if s.pk in sketches else "",
                }
                for s in found
            ]
    return render(request, "alarms/org/lookup.html", context, status=status)


@_portal
@require_GET
def lookup_sketch(request: HttpRequest, token: str) -> HttpResponse:
    """KB-21: the sketch of a system an audited lookup of this person showed, for two hours after it."""
    try:
        data = signing.loads(token, salt=SKETCH_SALT, max_age=SKETCH_TOKEN_TTL_S)
    except signing.BadSignature:
        raise Http404 from None
    if data.get("u") != _user(request).pk:
        raise Http404
    try:
        sketch = selectors.lookup_sketch(actor=as_member(_user(request)), system_id=int(data.get("s") or 0),
                                         ip=client_ip(request))  # fmt: skip
    except NotFound:
        raise Http404 from None
    return _file(sketch.content, sketch.content_type, sketch.name)

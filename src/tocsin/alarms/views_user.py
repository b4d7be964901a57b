"""The public portal of alarm-system users (KB-7-USER): /alarm/…

The user of an alarm system no alarm central manages registers it within 10 days of its first use,
and reports a change or its taking out of use within 10 days (Royal Decree of 25 April 2007, art. 7).
There is no account: a one-time code (or link) proves the e-mail address or mobile number, which the
session keeps for one hour. Thin views: the services check every rule and write nothing on refusal.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tocsin.alarms import domain, selectors, services
from tocsin.alarms.models import (
    PROPERTY_CHOICES,
    RISK_CHOICES,
    SYSTEM_TYPE_CHOICES,
    AlarmSystem,
    SystemVersion,
)
from tocsin.alarms.services import Actor
from tocsin.citizens import services as citizens
from tocsin.geo import selectors as geo_selectors
from tocsin.geo.models import Address
from tocsin.i18n import localise
from tocsin.organisations.domain import Explained, RuleError
from tocsin.organisations.services import AccessDenied, NotFound
from tocsin.web.views import client_ip

SESSION_KEY = "alarm_user"
ATTEMPT_KEY = "alarm_user_attempt"
NEXT_KEY = "alarm_user_next"
# A code proves the contact for one hour, as the API's bearer token does (services.TOKEN_TTL_S).
SESSION_TTL_S = 3600
CONTACT_ROWS = 3
LANGUAGES = ("nl", "fr", "de", "en")

ACTION_CHOICES = [
    (domain.RemoteAction.PROGRAM.value, _("program the system")),
    (domain.RemoteAction.READ.value, _("read its data and log")),
    (domain.RemoteAction.ARM.value, _("arm it")),
    (domain.RemoteAction.DISARM.value, _("disarm it")),
]
PURPOSE_CHOICES = [
    (domain.RemotePurpose.REPAIR.value, _("to repair it")),
    (domain.RemotePurpose.MANAGE_ALARM.value, _("to manage an alarm")),
    (domain.RemotePurpose.VERIFY.value, _("to verify an alarm")),
]
KIND_LABELS = {
    domain.VersionKind.REGISTRATION.value: _("Registration"),
    domain.VersionKind.CHANGE.value: _("Change"),
    domain.VersionKind.DEREGISTRATION.value: _("Deregistration"),
    domain.VersionKind.CORRECTION.value: _("Correction by the registry"),
}
# Fields a version may name that the form does not show.
EXTRA_LABELS = {
    "status": _("Status"),
    "out_of_use": _("Taken out of use on"),
    "central": _("Alarm central"),
    "user_number": _("User number"),
    "alarm_report_number": _("Alarm-report number"),
    "client_informed_on": _("Client informed of the rules on"),
    "contacts": _("Contact persons"),
    "site_address_id": _("Address of the site"),
}
STATUS_LABELS = {domain.Status.ACTIVE.value: _("registered"), domain.Status.DEREGISTERED.value: _("deregistered")}
# Where a service's field lands on the form: the site is one typed address, resolved in the register.
FIELD_MAP = {
    "site_address_id": "site_address",
    "site_street": "site_address",
    "site_postcode": "site_address",
    "site_house_number": "site_address",
}
GROUPS = ("components",)  # KB-2 names the components as a whole: shown on their fieldset
CONTACT_FIELD = re.compile(r"^contacts\[(\d+)\]\.(\w+)$")

DATE = {"type": "date"}
TEL = {"type": "tel", "autocomplete": "tel", "inputmode": "tel"}
SECONDS = {"min": "0", "step": "1", "inputmode": "numeric", "class": "short"}


# --- the session ------------------------------------------------------------------------------


def _contact(request: HttpRequest) -> str | None:
    """The e-mail address or mobile number the session proved with a code, for an hour after it."""
    data = request.session.get(SESSION_KEY)
    if not isinstance(data, dict) or not data.get("contact"):
        return None
    if time.time() - float(data.get("at", 0)) > SESSION_TTL_S:
        request.session.pop(SESSION_KEY, None)
        return None
    return str(data["contact"])


def _signed_in(request: HttpRequest, contact: str) -> HttpResponse:
    following = request.session.pop(NEXT_KEY, "")
    request.session.cycle_key()  # no session fixation: a new id once the code is proved
    request.session.pop(ATTEMPT_KEY, None)
    request.session[SESSION_KEY] = {"contact": contact, "at": time.time()}
    if isinstance(following, str) and following.startswith("/alarm/systems/") and "//" not in following:
        return redirect(following)
    return redirect("alarm_user:systems")


def _sign_in_again(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        request.session[NEXT_KEY] = request.get_full_path()
    messages.info(request, gettext("Sign in to see and change your alarm systems."))
    return redirect(reverse("alarm_user:start") + "#sign-in")


def user_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page for a signed-in user: the view gets the Actor; unknown or foreign systems answer 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        contact = _contact(request)
        if contact is None:
            return _sign_in_again(request)
        try:
            return view(request, services.as_user(contact), *args, **kwargs)
        except AccessDenied:
            request.session.pop(SESSION_KEY, None)
            return _sign_in_again(request)
        except NotFound:
            raise Http404 from None

    return wrapper


# --- errors on forms ----------------------------------------------------------------------------


def _message(error: Explained) -> str:
    """The translated text, with the rule it applies when the text does not name it already."""
    text = localise(error)
    rule = getattr(error, "rule", None)
    return f"{text} ({rule})" if rule and rule not in text else text


def _errors_of(exc: RuleError) -> list[RuleError]:
    return list(getattr(exc, "errors", None) or [exc])


def _put_errors(form: forms.Form, errors: Iterable[RuleError], contact_rows: list[int] | None = None) -> None:
    """Each refusal next to the field it names (the rule id visible); the rest above the form."""
    groups: dict[str, list[str]] = getattr(form, "group_errors", {})
    for error in errors:
        name = FIELD_MAP.get(error.field or "", error.field or "")
        match = CONTACT_FIELD.match(name)
        if match and contact_rows is not None and int(match.group(1)) < len(contact_rows):
            name = f"contact_{contact_rows[int(match.group(1))]}_{match.group(2)}"
        if name in GROUPS:
            groups.setdefault(name, []).append(_message(error))
        else:
            form.add_error(name if name in form.fields else None, _message(error))
    form.group_errors = groups  # type: ignore[attr-defined]


def _describe(form: forms.Form) -> forms.Form:
    """Tie each input to its help text and its error (aria-describedby), for screen readers."""
    for bound in form:
        ids = []
        if bound.help_text:
            ids.append(f"{bound.auto_id}-help")
        if bound.errors:
            ids.append(f"{bound.auto_id}-error")
            bound.field.widget.attrs["aria-invalid"] = "true"
        else:
            bound.field.widget.attrs.pop("aria-invalid", None)
        if ids:
            bound.field.widget.attrs["aria-describedby"] = " ".join(ids)
        else:
            bound.field.widget.attrs.pop("aria-describedby", None)
    return form


@dataclass
class Summary:
    """The list of problems at the top of a refused form, each a link to its field."""

    items: list[tuple[str, str]] = field(default_factory=list)  # (anchor, message)
    out_of_scope: bool = False


def _summary(form: forms.Form, errors: Iterable[RuleError] = ()) -> Summary:
    summary = Summary(out_of_scope=any(e.rule == "KB-2" for e in errors))
    for name, group in getattr(form, "group_errors", {}).items():
        summary.items += [(name, f"{gettext('Components')}: {message}") for message in group]
    for name, messages_ in form.errors.items():
        if name == "__all__":
            summary.items += [("", str(message)) for message in messages_]
            continue
        label = str(form.fields[name].label or name)
        row = re.match(r"contact_(\d+)_", name)
        if row:
            label = gettext("Contact person %(number)s, %(field)s") % {"number": row.group(1), "field": label}
        summary.items += [(form[name].auto_id or "", f"{label}: {message}") for message in messages_]
    return summary


# --- the system form (every KB-7-USER field) ---------------------------------------------------


class SystemForm(forms.Form):
    """Plain fields: the domain checks and normalises every value (one rule, one place)."""

    site_name = forms.CharField(
        label=_("Name of the site"), required=False, help_text=_("For example: house Peeters, bakery De Molen.")
    )
    site_address = forms.CharField(
        label=_("Address of the site"),
        required=False,
        help_text=_("Type the street, house number and postal code, then choose from the list."),
        widget=forms.TextInput(
            attrs={"list": "id_site_address-list", "autocomplete": "off", "data-address": "id_site_address_id"}
        ),
    )
    site_address_id = forms.CharField(required=False, widget=forms.HiddenInput)
    site_phone = forms.CharField(label=_("Phone number at the site"), required=False, widget=forms.TextInput(TEL))
    user_name = forms.CharField(
        label=_("Your name (the user)"), required=False, widget=forms.TextInput({"autocomplete": "name"})
    )
    user_address = forms.CharField(
        label=_("Your address"),
        required=False,
        widget=forms.TextInput({"autocomplete": "street-address"}),
        help_text=_("Where we reach you by post, if it is not the site."),
    )
    user_mobile = forms.CharField(label=_("Your mobile number"), required=False, widget=forms.TextInput(TEL))
    user_email = forms.CharField(
        label=_("Your e-mail address"),
        required=False,
        widget=forms.TextInput({"type": "email", "autocomplete": "email"}),
    )
    property_nature = forms.ChoiceField(
        label=_("Nature of the property"), required=False, choices=[("", "—"), *PROPERTY_CHOICES]
    )
    risk_nature = forms.ChoiceField(label=_("Nature of the risk"), required=False, choices=[("", "—"), *RISK_CHOICES])
    system_type = forms.ChoiceField(
        label=_("Type of system"),
        required=False,
        choices=[("", "—"), *SYSTEM_TYPE_CHOICES],
        help_text=_("A goods alarm protects against offences against property; a personal alarm against people."),
    )
    in_building = forms.BooleanField(label=_("Installed in a building"), required=False, initial=True)
    publicly_accessible = forms.BooleanField(label=_("In a place open to the public"), required=False)
    siren = forms.BooleanField(label=_("Outdoor siren"), required=False)
    siren_alarm_s = forms.CharField(
        label=_("Siren duration per alarm, in seconds"),
        required=False,
        help_text=_("At most 180 seconds (KB-17)."),
        widget=forms.NumberInput(SECONDS),
    )
    siren_sabotage_s = forms.CharField(
        label=_("Siren duration on sabotage, in seconds"),
        required=False,
        help_text=_("0, or longer than the alarm duration and at most 480 seconds (KB-17)."),
        widget=forms.NumberInput(SECONDS),
    )
    light = forms.BooleanField(label=_("Outdoor flashing or rotating light"), required=False)
    light_until_switch_off = forms.BooleanField(
        label=_("The light stays lit until the alarm is switched off (KB-18)"), required=False
    )
    notification_system = forms.BooleanField(
        label=_("Notification system (the system calls a person, an alarm central or a phone)"), required=False
    )
    first_use = forms.CharField(
        label=_("Date of first use"),
        required=False,
        help_text=_("Register within 10 days after it (KB-7)."),
        widget=forms.TextInput(DATE),
    )
    renewed_on = forms.CharField(label=_("Date of renewal, if renewed"), required=False, widget=forms.TextInput(DATE))
    installer = forms.CharField(label=_("Security company that installed it (if any)"), required=False)
    access_code_handed = forms.BooleanField(
        label=_("The installer handed me the access codes (KB-5, KB-26)"), required=False
    )
    visual_verification = forms.BooleanField(
        label=_("The system allows visual verification (camera) of an alarm (KB-24)"),
        required=False,
        help_text=_(
            "Required for a fixed personal alarm in a place accessible to the public, installed or renewed since "
            "4 October 2007 (KB-24)."
        ),
    )
    components_safe = forms.BooleanField(
        label=_("I declare that no component hinders the emergency services or can injure people (KB-9)"),
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group_errors: dict[str, list[str]] = {}
        for i in range(1, CONTACT_ROWS + 1):
            self.fields[f"contact_{i}_name"] = forms.CharField(label=_("Name"), required=False)
            self.fields[f"contact_{i}_phone"] = forms.CharField(
                label=_("Phone number"), required=False, widget=forms.TextInput(TEL)
            )
            self.fields[f"contact_{i}_has_access"] = forms.BooleanField(
                label=_("Has access to the site"), required=False, initial=True
            )
            self.fields[f"contact_{i}_knows_system"] = forms.BooleanField(
                label=_("Knows how to operate the system"), required=False, initial=True
            )

    def contact_rows(self) -> list[tuple[int, list[forms.BoundField]]]:
        return [
            (i, [self[f"contact_{i}_{part}"] for part in ("name", "phone", "has_access", "knows_system")])
            for i in range(1, CONTACT_ROWS + 1)
        ]

    def values(self) -> tuple[dict[str, Any], list[int]]:
        """What the services take, and which form row each contact person came from."""
        d = self.cleaned_data
        out: dict[str, Any] = {name: d[name] for name in self.fields if name in domain.DATA_FIELDS}
        contacts, rows = [], []
        for i in range(1, CONTACT_ROWS + 1):
            name, phone = d[f"contact_{i}_name"].strip(), d[f"contact_{i}_phone"].strip()
            if name or phone:
                contacts.append(
                    {
                        "name": name,
                        "phone": phone,
                        "has_access": d[f"contact_{i}_has_access"],
                        "knows_system": d[f"contact_{i}_knows_system"],
                    }
                )
                rows.append(i)
        out["contacts"] = contacts
        return out, rows


class ChangeForm(SystemForm):
    changed_on = forms.CharField(
        label=_("Date of the change"),
        required=False,
        help_text=_("Report a change within 10 days after it (KB-7)."),
        widget=forms.TextInput(DATE),
    )


def _initial_for(contact: str) -> dict[str, Any]:
    initial: dict[str, Any] = {"user_email" if "@" in contact else "user_mobile": contact}
    for i in range(1, CONTACT_ROWS + 1):
        initial[f"contact_{i}_has_access"] = initial[f"contact_{i}_knows_system"] = True
    return initial


def _initial_of(system: AlarmSystem) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    for name in domain.DATA_FIELDS:
        value = getattr(system, name)
        initial[name] = value.isoformat() if hasattr(value, "isoformat") else value
    initial["site_address"] = system.site_text
    for i, person in enumerate((system.contacts or [])[:CONTACT_ROWS], start=1):
        for part in ("name", "phone", "has_access", "knows_system"):
            initial[f"contact_{i}_{part}"] = person.get(part, "")
    for i in range(len(system.contacts or []) + 1, CONTACT_ROWS + 1):
        initial[f"contact_{i}_has_access"] = initial[f"contact_{i}_knows_system"] = True
    initial["changed_on"] = timezone.localdate().isoformat()
    return initial


def _site(request: HttpRequest, text: str, hidden_id: str) -> tuple[int | None, str]:
    """The site in the address register: the suggestion chosen (JavaScript fills the hidden id), or
    the typed text looked up on submit, as the citizens' sign-up does. A stale id (the text was
    retyped without JavaScript) does not win over the text."""
    text = text.strip()[:300]
    if not text:
        return None, gettext("This field is required.") + " (KB-7-USER)"
    if hidden_id.isdigit():
        chosen = Address.objects.filter(pk=int(hidden_id)).first()
        if chosen is not None and text in {chosen.label(language) for language in ("nl", "fr", "de")}:
            return chosen.pk, ""
    try:
        citizens.address_lookup_allowed(client_ip(request))
    except citizens.Throttled as exc:
        return None, localise(exc)
    found = geo_selectors.address_search(text, limit=2)
    labels = {a.label(language): a.pk for a in found for language in ("nl", "fr", "de")}
    if text in labels:
        return labels[text], ""
    if len(found) == 1:
        return found[0].pk, ""
    return None, gettext("Not found in the address register: choose one from the list.")


def _system_values(request: HttpRequest, form: SystemForm) -> tuple[dict[str, Any], list[int], str]:
    values, rows = form.values()
    address_id, problem = _site(request, form.cleaned_data["site_address"], form.cleaned_data["site_address_id"])
    # An unresolved site still goes through the rules, so every other problem shows at once too.
    values["site_address_id"] = address_id if address_id is not None else 0
    return values, rows, problem


def _refused(form: SystemForm, exc: RuleError, rows: list[int], site_problem: str) -> list[RuleError]:
    errors = _errors_of(exc)
    if site_problem:
        form.add_error("site_address", site_problem)
        errors = [e for e in errors if FIELD_MAP.get(e.field or "") != "site_address"]
    _put_errors(form, errors, rows)
    return errors


# --- landing, sign-in, sign-out ------------------------------------------------------------------


def _language(request: HttpRequest) -> str:
    language = (get_language() or "nl")[:2]
    return language if language in LANGUAGES else "nl"


def _start_page(request: HttpRequest, *, error: str = "", error_field: str = "", status: int = 200) -> HttpResponse:
    challenge = citizens.challenge_issue()
    context = {
        "contact": _contact(request),
        "challenge": challenge["challenge"],
        "bits": challenge["bits"],
        "typed": request.POST.get("contact", "")[:254],
        "error": error,
        "error_field": error_field,
        "deadline_days": domain.DEADLINE_DAYS,
    }
    return render(request, "alarms/user/start.html", context, status=status)


@require_GET
def start(request: HttpRequest) -> HttpResponse:
    """What the decree asks of a user, and the sign-in."""
    return _start_page(request)


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return redirect(reverse("alarm_user:start") + "#sign-in")
    if "attempt" in request.POST:
        try:
            contact = services.sign_in_finish(
                attempt=request.session.get(ATTEMPT_KEY, ""), code=request.POST.get("code", "")
            )
        except RuleError as exc:
            return render(request, "alarms/user/sign_in_code.html", {"error": _message(exc)}, status=422)
        return _signed_in(request, contact)
    try:
        attempt = services.sign_in_start(
            contact=request.POST.get("contact", ""),
            challenge=request.POST.get("challenge", ""),
            nonce=request.POST.get("nonce", ""),
            ip=client_ip(request),
            language=_language(request),
        )
    except RuleError as exc:
        return _start_page(request, error=_message(exc), error_field=exc.field or "", status=422)
    except citizens.Throttled as exc:
        return _start_page(request, error=localise(exc), status=429)
    request.session[ATTEMPT_KEY] = attempt
    return render(request, "alarms/user/sign_in_code.html", {"sent_to": request.POST.get("contact", "").strip()[:254]})


@require_http_methods(["GET", "POST"])
def sign_in_link(request: HttpRequest, link: str) -> HttpResponse:
    if request.method != "POST":
        # Mail scanners follow links: signing in takes a button press.
        return render(request, "alarms/user/sign_in_link.html", {})
    try:
        contact = services.sign_in_link(link=link)
    except RuleError as exc:
        return render(request, "alarms/user/sign_in_link.html", {"error": _message(exc)}, status=422)
    return _signed_in(request, contact)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    for key in (SESSION_KEY, ATTEMPT_KEY, NEXT_KEY):
        request.session.pop(key, None)
    request.session.cycle_key()
    messages.success(request, gettext("You are signed out."))
    return redirect("alarm_user:start")


# --- the user's systems ---------------------------------------------------------------------------


@require_GET
@user_view
def systems(request: HttpRequest, actor: Actor) -> HttpResponse:
    try:
        page = max(1, min(int(request.GET.get("page") or 1), 10_000))
    except ValueError:
        page = 1
    items, total = selectors.system_list(actor=actor, status="all", page=page)
    today = timezone.localdate()
    context = {
        "contact": actor.user_contact,
        "rows": [
            {
                "system": s,
                "status": STATUS_LABELS.get(s.status, s.status),
                "active": s.status == domain.Status.ACTIVE.value,
                "maintenance_overdue": s.status == domain.Status.ACTIVE.value and s.maintenance_due < today,
                "type": dict(SYSTEM_TYPE_CHOICES).get(s.system_type, s.system_type),
            }
            for s in items
        ],
        "handovers": [s for s in items if s.handover_due and s.status == domain.Status.ACTIVE.value],
        "today": today,
        "total": total,
        "page": page,
        "pages": (total + selectors.PAGE - 1) // selectors.PAGE,
    }
    return render(request, "alarms/user/systems.html", context)


@require_http_methods(["GET", "POST"])
@user_view
def system_new(request: HttpRequest, actor: Actor) -> HttpResponse:
    form = SystemForm(request.POST or None, initial=_initial_for(actor.user_contact))
    errors: list[RuleError] = []
    if request.method == "POST" and form.is_valid():
        values, rows, site_problem = _system_values(request, form)
        try:
            system = services.system_register(actor=actor, values=values)
        except RuleError as exc:
            errors = _refused(form, exc, rows, site_problem)
        else:
            messages.success(
                request,
                gettext("Registered: your alarm system has the reference %(reference)s.")
                % {"reference": system.reference},
            )
            _late(request, system.registration_late_days)
            return redirect("alarm_user:system", reference=system.reference)
    context = {
        "form": _describe(form),
        "summary": _summary(form, errors),
        "contact": actor.user_contact,
        "deadline_days": domain.DEADLINE_DAYS,
    }
    return render(request, "alarms/user/system_new.html", context, status=422 if form.errors or errors else 200)


def _late(request: HttpRequest, late_days: int) -> None:
    if late_days:
        messages.warning(
            request,
            ngettext(
                "Recorded %(days)s day after the 10-day deadline (KB-7).",
                "Recorded %(days)s days after the 10-day deadline (KB-7).",
                late_days,
            )
            % {"days": late_days},
        )


# --- one system: history, change, deregistration, maintenance, consents ----------------------------


@dataclass
class HistoryRow:
    version: SystemVersion
    kind: str
    by: str
    changes: list[tuple[str, str, str]]  # label, old, new
    record: list[tuple[str, str]]  # a first registration: every value registered


def _labels() -> dict[str, str]:
    form = ChangeForm()
    labels = {name: str(f.label) for name, f in form.fields.items() if f.label}
    labels.update({k: str(v) for k, v in EXTRA_LABELS.items()})
    return labels


CHOICE_LABELS: dict[str, dict[str, Any]] = {
    "property_nature": dict(PROPERTY_CHOICES),
    "risk_nature": dict(RISK_CHOICES),
    "system_type": dict(SYSTEM_TYPE_CHOICES),
    "status": STATUS_LABELS,
}


def _show(name: str, value: Any, places: dict[int, str]) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if name in CHOICE_LABELS:
        return str(CHOICE_LABELS[name].get(value, value))
    if name == "site_address_id":
        return places.get(value, str(value)) if isinstance(value, int) else str(value)
    if name in ("siren_alarm_s", "siren_sabotage_s"):
        return f"{value} s"
    if name == "contacts" and isinstance(value, list):
        return "; ".join(
            f"{c.get('name', '')} ({c.get('phone', '')})" if isinstance(c, dict) else str(c) for c in value
        )
    return str(value)


def _history(versions: list[SystemVersion]) -> list[HistoryRow]:
    labels = _labels()
    ids: set[int] = set()
    for v in versions:
        value = (v.changes or {}).get("site_address_id")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, int):
                ids.add(item)
    places = {a.pk: a.label() for a in Address.objects.filter(pk__in=ids)}
    rows = []
    for v in versions:
        changes: list[tuple[str, str, str]] = []
        record: list[tuple[str, str]] = []
        # The first version keeps the whole record registered; the later ones each field's [old, new].
        for name, value in (v.changes or {}).items():
            label = labels.get(name, name)
            if v.number == 1:
                record.append((label, _show(name, value, places)))
            elif isinstance(value, list) and len(value) == 2:
                changes.append((label, _show(name, value[0], places), _show(name, value[1], places)))
            else:
                changes.append((label, "", _show(name, value, places)))
        by = v.by_label
        if v.by_id is None and by.startswith("user "):
            by = gettext("the user (%(contact)s)") % {"contact": by[5:]}
        rows.append(HistoryRow(v, str(KIND_LABELS.get(v.kind, v.kind)), by, changes, record))
    return rows


class DeregisterForm(forms.Form):
    out_of_use = forms.CharField(
        label=_("Date the system was taken out of use"),
        required=False,
        help_text=_("Deregister within 10 days after it (KB-7)."),
        widget=forms.TextInput(DATE),
    )


class MaintenanceForm(forms.Form):
    done_on = forms.CharField(label=_("Date of the maintenance"), required=False, widget=forms.TextInput(DATE))
    company_name = forms.CharField(
        label=_("Security company that did it"),
        required=False,
        help_text=_("Leave empty if you maintained it yourself."),
    )
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea({"rows": 2}))


class ConsentForm(forms.Form):
    party_id = forms.TypedChoiceField(
        label=_("Security company or alarm central"), coerce=int, required=False, empty_value=None
    )
    actions = forms.MultipleChoiceField(
        label=_("It may remotely"), choices=ACTION_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    purposes = forms.MultipleChoiceField(
        label=_("Only for this purpose"), choices=PURPOSE_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    given_on = forms.CharField(label=_("Date you signed the consent"), required=False, widget=forms.TextInput(DATE))
    document = forms.FileField(
        label=_("The signed consent (PDF, PNG or JPEG, at most 10 MB)"),
        required=False,
        widget=forms.ClearableFileInput({"accept": "application/pdf,image/png,image/jpeg"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        party = self.fields["party_id"]
        assert isinstance(party, forms.TypedChoiceField)
        party.choices = [("", "—")] + [(o.pk, o.name) for o in selectors.parties()]


def _detail(
    request: HttpRequest,
    actor: Actor,
    reference: str,
    *,
    change: ChangeForm | None = None,
    deregister: DeregisterForm | None = None,
    maintenance: MaintenanceForm | None = None,
    consent: ConsentForm | None = None,
    confirm_errors: list[str] | None = None,
    errors: list[RuleError] | None = None,
    status: int = 200,
) -> HttpResponse:
    view = selectors.system_get(actor=actor, reference=reference)
    system = view.system
    today = timezone.localdate()
    change = change or ChangeForm(initial=_initial_of(system))
    deregister = deregister or DeregisterForm(initial={"out_of_use": today.isoformat()})
    maintenance = maintenance or MaintenanceForm(initial={"done_on": today.isoformat()})
    consent = consent or ConsentForm(initial={"given_on": today.isoformat()})
    actions, purposes = dict(ACTION_CHOICES), dict(PURPOSE_CHOICES)
    context = {
        "contact": actor.user_contact,
        "system": system,
        "view": view,
        "active": system.status == domain.Status.ACTIVE.value,
        "status": STATUS_LABELS.get(system.status, system.status),
        "type": dict(SYSTEM_TYPE_CHOICES).get(system.system_type, system.system_type),
        "property": dict(PROPERTY_CHOICES).get(system.property_nature, system.property_nature),
        "risk": dict(RISK_CHOICES).get(system.risk_nature, system.risk_nature),
        "history": _history(view.versions),
        "maintenance_overdue": system.status == domain.Status.ACTIVE.value and system.maintenance_due < today,
        "handover_late": bool(system.handover_due and system.handover_due < today),
        "consents": [
            (c, [str(actions.get(a, a)) for a in c.actions], [str(purposes.get(p, p)) for p in c.purposes])
            for c in view.consents
        ],
        "change": _describe(change),
        "change_summary": _summary(change, errors or []) if change.errors or change.group_errors else None,
        "deregister": _describe(deregister),
        "maintenance": _describe(maintenance),
        "consent": _describe(consent),
        "confirm_errors": confirm_errors or [],
        # A deregistered system shows no forms: what refused a late post shows on top.
        "page_errors": []
        if system.status == domain.Status.ACTIVE.value
        else [e for f in (change, deregister, maintenance, consent) for e in f.non_field_errors()],
        "today": today,
    }
    return render(request, "alarms/user/system.html", context, status=status)


@require_GET
@user_view
def system(request: HttpRequest, actor: Actor, reference: str) -> HttpResponse:
    return _detail(request, actor, reference)


@require_POST
@user_view
def system_change(request: HttpRequest, actor: Actor, reference: str) -> HttpResponse:
    form = ChangeForm(request.POST)
    if not form.is_valid():
        return _detail(request, actor, reference, change=form, status=422)
    values, rows, site_problem = _system_values(request, form)
    try:
        system, version = services.system_change(
            actor=actor, reference=reference, values=values, changed_on=form.cleaned_data["changed_on"]
        )
    except RuleError as exc:
        errors = _refused(form, exc, rows, site_problem)
        return _detail(request, actor, reference, change=form, errors=errors, status=422)
    if version is None:
        messages.info(request, gettext("Nothing changed: nothing was recorded."))
    else:
        messages.success(request, gettext("Change recorded (version %(number)s).") % {"number": version.number})
        _late(request, version.late_days)
    return redirect("alarm_user:system", reference=system.reference)


@require_POST
@user_view
def system_confirm(request: HttpRequest, actor: Actor, reference: str) -> HttpResponse:
    """KB-7-USER: a central stopped managing the system; its user confirms the data, which registers it."""
    try:
        system, version = services.system_change(actor=actor, reference=reference, values={})
    except RuleError as exc:
        problems = [_message(e) for e in _errors_of(exc)]
        return _detail(request, actor, reference, confirm_errors=problems, status=422)
    if version is not None:
        messages.success(request, gettext("Thank you: your alarm system is registered in your name."))
        _late(request, version.late_days)
    return redirect("alarm_user:system", reference=system.reference)


@require_POST
@user_view
def system_deregister(request: HttpRequest, actor: Actor, reference: str) -> HttpResponse:
    form = DeregisterForm(request.POST)
    if form.is_valid():
        try:
            services.system_deregister(actor=actor, reference=reference, out_of_use=form.cleaned_data["out_of_use"])
        except RuleError as exc:
            _put_errors(form, _errors_of(exc))
        else:
            messages.success(request, gettext("Deregistered: the registry knows the system is out of use."))
            return redirect("alarm_user:system", reference=reference)
    return _detail(request, actor, reference, deregister=form, status=422)


@require_POST
@user_view
def maintenance_record(request: HttpRequest, actor: Actor, reference: str) -> HttpResponse:
    form = MaintenanceForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.maintenance_record(
                actor=actor, reference=reference, done_on=d["done_on"], notes=d["notes"], company_name=d["company_name"]
            )
        except RuleError as exc:
            _put_errors(form, _errors_of(exc))
        else:
            messages.success(request, gettext("Maintenance recorded (KB-8)."))
            return redirect(reverse("alarm_user:system", args=[reference]) + "#maintenance")
    return _detail(request, actor, reference, maintenance=form, status=422)


def _document_type(content: bytes, declared: str) -> str:
    """The type the file's first bytes show (browsers often send application/octet-stream); the
    services check the bytes against it again."""
    for content_type, magic in services.DOCUMENT_TYPES.items():
        if content.startswith(magic):
            return content_type
    return declared


@require_POST
@user_view
def consent_add(request: HttpRequest, actor: Actor, reference: str) -> HttpResponse:
    form = ConsentForm(request.POST, request.FILES)
    if form.is_valid():
        d = form.cleaned_data
        upload = d["document"]
        content = upload.read(domain.MAX_CONSENT_BYTES + 1) if upload else b""
        try:
            services.consent_add(
                actor=actor,
                reference=reference,
                party_id=d["party_id"] or 0,
                actions=list(d["actions"]),
                purposes=list(d["purposes"]),
                given_on=d["given_on"],
                document=content,
                document_type=_document_type(content, getattr(upload, "content_type", "") or ""),
                document_name=getattr(upload, "name", "") or "",
            )
        except RuleError as exc:
            _put_errors(form, _errors_of(exc))
        else:
            messages.success(request, gettext("Consent recorded (KB-6)."))
            return redirect(reverse("alarm_user:system", args=[reference]) + "#consents")
    return _detail(request, actor, reference, consent=form, status=422)


@require_POST
@user_view
def consent_withdraw(request: HttpRequest, actor: Actor, reference: str, consent_id: int) -> HttpResponse:
    selectors.system_get(actor=actor, reference=reference)  # another's system: 404, as everywhere
    try:
        services.consent_withdraw(actor=actor, reference=reference, consent_id=consent_id)
    except NotFound:
        # A second press of the button: the consent is withdrawn already.
        messages.info(request, gettext("This consent is withdrawn already."))
        return redirect(reverse("alarm_user:system", args=[reference]) + "#consents")
    messages.success(request, gettext("Consent withdrawn: this party may no longer act remotely (KB-6)."))
    return redirect(reverse("alarm_user:system", args=[reference]) + "#consents")


@require_GET
@user_view
def consent_document(request: HttpRequest, actor: Actor, reference: str, consent_id: int) -> HttpResponse:
    consent = selectors.consent_document(actor=actor, reference=reference, consent_id=consent_id)
    response = HttpResponse(bytes(consent.document), content_type=consent.document_type)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", consent.document_name)[:100] or "consent"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response

"""The registry administration's pages for the alarm centrals' work (issue 9): /registry/admin/arc/…

The approved verification methods (KB-13, KB-23: the minister's list; their codes are the verification codes a
notification states, KB-14), the direct emergency numbers the minister gave centrals and internal alarm services
(KB-10), and the KB-11 exception of goods alarms in police stations and the National Bank (never a personal alarm,
KB-20). Thin: ``tocsin.arc.registry`` checks every rule and writes (audited); these views read the form and show
the answer, each refusal beside its field. Only the registry administration opens them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from tocsin.alarms import selectors as registry_selectors
from tocsin.alarms.domain import FieldErrors
from tocsin.alarms.models import SYSTEM_TYPE_CHOICES
from tocsin.alarms.services import Actor, as_member, is_registry, require_registry
from tocsin.arc import registry
from tocsin.arc.models import DirectNumber, VerificationMethod
from tocsin.i18n import localise
from tocsin.organisations.domain import Kind, RuleError, gettext_noop
from tocsin.organisations.models import Organisation, User
from tocsin.organisations.services import AccessDenied, NotFound
from tocsin.web.views import _denied, client_ip

View = Callable[..., HttpResponse]
Errors = dict[str, list[dict[str, str]]]

LABELS: dict[str, Any] = {
    "code": _("Verification code"),
    "name": _("Name of the method"),
    "goods": _("Approved for goods alarms (KB-13)"),
    "personal": _("Approved for personal alarms (KB-23)"),
    "active": _("Active: centrals may use it"),
    "decision": _("Ministerial decision"),
    "central": _("Alarm central or internal alarm service"),
    "number": _("Direct emergency number"),
    "emergency_centre": _("Emergency centre it reaches"),
    "reference": _("Reference of the alarm system"),
    "direct_signal_exception": _("May signal the emergency number directly"),
}
METHOD_FIELDS = ("code", "name", "goods", "personal", "active", "decision")
NUMBER_FIELDS = ("central", "number", "emergency_centre", "decision")


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _actor(request: HttpRequest) -> Actor:
    return as_member(_user(request))


def _registry(view: View) -> View:
    """Signed in (two factors: the middleware), a member of the registry administration with a role that writes
    (``require_registry``); anyone else sees the 403 page. What does not exist is not found (404)."""

    @wraps(view)
    def run(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            if not is_registry(_user(request)):
                raise AccessDenied(gettext_noop("Only the registry administration opens this page."))
            require_registry(_actor(request))
            return view(request, *args, **kwargs)
        except NotFound:
            raise Http404 from None
        except AccessDenied as exc:
            return _denied(request, exc)

    return login_required(run)


def _error_map(exc: RuleError) -> Errors:
    errs = list(exc.errors) if isinstance(exc, FieldErrors) else [exc]
    out: Errors = {}
    for err in errs:
        out.setdefault(err.field or "__all__", []).append({"message": localise(err), "rule": err.rule or ""})
    return out


def _summary(errors: Mapping[str, list[dict[str, str]]], prefix: str, known: Iterable[str]) -> list[dict[str, str]]:
    """The list above a refused form: each refusal with its field's label and rule, linked to the field."""
    known = set(known)
    return [
        {
            "label": str(LABELS.get(name, "")) if name != "__all__" else "",
            "href": f"{prefix}-{name.replace('_', '-')}" if name in known else "",
            **e,
        }
        for name, errs in errors.items()
        for e in errs
    ]


def _flag(request: HttpRequest, name: str) -> bool:
    return request.POST.get(name) == "1"


def _id(raw: str) -> int:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else 0


# --- approved verification methods (KB-13, KB-23) --------------------------------------------------------------------


def _method_values(request: HttpRequest) -> dict[str, Any]:
    post = request.POST
    return {
        "code": post.get("code", "").strip(),
        "name": post.get("name", ""),
        "goods": _flag(request, "goods"),
        "personal": _flag(request, "personal"),
        "active": _flag(request, "active"),
        "decision": post.get("decision", ""),
    }


def _methods_page(
    request: HttpRequest, *, values: Mapping[str, Any] | None = None, errors: Errors | None = None, status: int = 200
) -> HttpResponse:
    errors = errors or {}
    context = {
        "methods": list(VerificationMethod.objects.order_by("-active", "code")),
        "values": values or {"code": "", "name": "", "goods": True, "personal": False, "active": True, "decision": ""},
        "errors": errors,
        "summary": _summary(errors, "m", METHOD_FIELDS),
        "labels": LABELS,
    }
    return render(request, "arc_registry/methods.html", context, status=status)


@_registry
@require_http_methods(["GET", "POST"])
def methods(request: HttpRequest) -> HttpResponse:
    """The approved methods, and a form to add one."""
    if request.method != "POST":
        return _methods_page(request)
    values = _method_values(request)
    try:  # adding never changes an existing method: the service refuses its code (create=True)
        row = registry.method_set(actor=_actor(request), create=True, **values)
    except RuleError as exc:
        return _methods_page(request, values=values, errors=_error_map(exc), status=422)
    messages.success(request, gettext("Method %(code)s is added.") % {"code": row.code})
    return redirect("arc_registry:methods")


@_registry
@require_http_methods(["GET", "POST"])
def method(request: HttpRequest, code: str) -> HttpResponse:
    """Change one method: its name, what it is approved for, whether it is active (withdrawn, never deleted)."""
    row = VerificationMethod.objects.filter(code=code.upper()[:8]).first()
    if row is None:
        raise Http404
    errors: Errors = {}
    status = 200
    values: dict[str, Any] = {
        "code": row.code, "name": row.name, "goods": row.goods, "personal": row.personal, "active": row.active,
        "decision": row.decision,
    }  # fmt: skip
    if request.method == "POST":
        values = {**_method_values(request), "code": row.code}
        try:
            registry.method_set(actor=_actor(request), **values)
        except RuleError as exc:
            errors, status = _error_map(exc), 422
        else:
            messages.success(request, gettext("Method %(code)s is saved.") % {"code": row.code})
            return redirect("arc_registry:methods")
    context = {"method": row, "values": values, "errors": errors, "summary": _summary(errors, "m", METHOD_FIELDS),
               "labels": LABELS}  # fmt: skip
    return render(request, "arc_registry/method.html", context, status=status)


# --- direct emergency numbers (KB-10) --------------------------------------------------------------------------------


def _numbers_page(
    request: HttpRequest, *, values: Mapping[str, Any] | None = None, errors: Errors | None = None, status: int = 200
) -> HttpResponse:
    actor = _actor(request)
    centrals = list(registry_selectors.centrals(actor=actor).order_by("name"))
    numbers = {n.central_id: n for n in DirectNumber.objects.select_related("emergency_centre")}
    centres = list(Organisation.objects.filter(kind=Kind.EMERGENCY_CENTRE.value).order_by("name"))
    chosen = _id(request.GET.get("central", ""))
    if values is None:
        current = numbers.get(chosen)
        values = {
            "central": str(chosen) if chosen else "",
            "number": current.number if current else "",
            "emergency_centre": str(current.emergency_centre_id) if current else "",
            "decision": current.decision if current else "",
        }
    errors = errors or {}
    context = {
        "rows": [{"central": c, "number": numbers.get(c.pk)} for c in centrals],
        "centrals": centrals,
        "centres": centres,
        "values": values,
        "errors": errors,
        "summary": _summary(errors, "n", NUMBER_FIELDS),
        "labels": LABELS,
        "changing": bool(values.get("central")) and _id(str(values.get("central"))) in numbers,
    }
    return render(request, "arc_registry/numbers.html", context, status=status)


@_registry
@require_http_methods(["GET", "POST"])
def numbers(request: HttpRequest) -> HttpResponse:
    """KB-10: every central with its direct emergency number and the emergency centre it reaches; assign or change."""
    if request.method != "POST":
        return _numbers_page(request)
    post = request.POST
    values = {name: post.get(name, "").strip() for name in NUMBER_FIELDS}
    try:
        row = registry.direct_number_set(
            actor=_actor(request),
            central_id=_id(values["central"]),
            number=values["number"],
            emergency_centre_id=_id(values["emergency_centre"]),
            decision=values["decision"],
        )
    except RuleError as exc:
        return _numbers_page(request, values=values, errors=_error_map(exc), status=422)
    messages.success(
        request,
        gettext("%(central)s has direct emergency number %(number)s, to %(centre)s.")
        % {"central": row.central.name, "number": row.number, "centre": row.emergency_centre.name},
    )
    return redirect(reverse("arc_registry:numbers") + "#numbers")


@_registry
@require_POST
def number_withdraw(request: HttpRequest, central_id: int) -> HttpResponse:
    """KB-10: the minister withdrew the number; the central then notifies by phone only (KB-12)."""
    registry.direct_number_withdraw(actor=_actor(request), central_id=central_id)
    messages.success(request, gettext("The direct emergency number is withdrawn."))
    return redirect(reverse("arc_registry:numbers") + "#numbers")


# --- the KB-11 exception ---------------------------------------------------------------------------------------------


def _exception_page(
    request: HttpRequest,
    *,
    reference: str,
    typed: str | None = None,
    errors: Errors | None = None,
    status: int = 200,
    searched: bool = False,
    wanted: bool | None = None,
) -> HttpResponse:
    actor = _actor(request)
    errors = dict(errors or {})
    found: dict[str, Any] | None = None
    if reference:
        try:
            view = registry_selectors.system_get(actor=actor, reference=reference, ip=client_ip(request))
        except NotFound as exc:
            errors.setdefault("reference", []).append({"message": localise(exc), "rule": ""})
        else:
            found = {"s": view.system, "central": view.central_name}
    elif searched:
        errors.setdefault("reference", []).append({"message": gettext("Give the reference of a system."), "rule": ""})
    allowed = list(
        registry_selectors.systems_visible(actor)
        .filter(direct_signal_exception=True)
        .order_by("reference")
        .values_list("reference", "system_type", "central__name", "site_postcode")[:200]
    )
    types = dict(SYSTEM_TYPE_CHOICES)
    context = {
        "reference": reference if typed is None else typed,
        "found": found,
        "type_label": types.get(found["s"].system_type, "") if found else "",
        # The box as it was posted when refused; else as it stands.
        "wanted": wanted if wanted is not None else bool(found and found["s"].direct_signal_exception),
        "errors": errors,
        "summary": _summary(errors, "x", ("reference", "direct_signal_exception")),
        "allowed": [(ref, types.get(t, t), central or "—", postcode) for ref, t, central, postcode in allowed],
        "labels": LABELS,
    }
    return render(request, "arc_registry/exception.html", context, status=status)


@_registry
@require_http_methods(["GET", "POST"])
def exception(request: HttpRequest) -> HttpResponse:
    """KB-11: find a system by its reference and mark whether it may signal the emergency number directly (a goods
    alarm in a police station or the National Bank); a personal alarm never may (KB-20)."""
    if request.method != "POST":
        reference = request.GET.get("reference", "").strip()[:40]
        return _exception_page(request, reference=reference, searched="reference" in request.GET)
    reference = request.POST.get("reference", "").strip()[:40]
    allowed = _flag(request, "direct_signal_exception")
    try:
        system = registry.direct_signal_exception_set(actor=_actor(request), reference=reference, allowed=allowed)
    except NotFound as exc:
        errors: Errors = {"reference": [{"message": localise(exc), "rule": ""}]}
        return _exception_page(request, reference="", typed=reference, errors=errors, status=422)
    except RuleError as exc:
        return _exception_page(request, reference=reference, errors=_error_map(exc), status=422, wanted=allowed)
    text = (
        gettext("System %(reference)s may now signal the emergency number directly (KB-11).")
        if system.direct_signal_exception
        else gettext("System %(reference)s no longer signals the emergency number directly.")
    )
    messages.success(request, text % {"reference": system.reference})
    return redirect(reverse("arc_registry:exception") + f"?reference={system.reference}")

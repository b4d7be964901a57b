"""The public pages for citizens (BA-7.3): sign up, verify, sign in, change, pause, export, erase.

No account and no staff login: a citizen is known in the session only after a
one-time code (or link). Thin views: the services decide.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import segno
from django import forms
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from tocsin.citizens import domain, selectors, services
from tocsin.citizens.models import ContactPoint, Registration
from tocsin.geo import selectors as geo_selectors
from tocsin.geo.models import Municipality
from tocsin.i18n import localise
from tocsin.organisations.domain import RuleError
from tocsin.web.views import client_ip

SESSION_KEY = "citizen"
PENDING_KEY = "citizen_pending"
SESSION_IDLE_S = 30 * 60
LABELS = [
    ("home", _("Home")),
    ("work", _("Work")),
    ("school", _("School")),
    ("family", _("Family")),
    ("other", _("Other")),
]
LANGUAGE_CHOICES = [("nl", "Nederlands"), ("fr", "Français"), ("de", "Deutsch"), ("en", "English")]


class SignUpForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=200)
    language = forms.ChoiceField(label=_("Language for messages"), choices=LANGUAGE_CHOICES)
    mobile = forms.CharField(label=_("Mobile number"), max_length=30, required=False)
    mobile_sms = forms.BooleanField(label=_("SMS"), required=False, initial=True)
    mobile_voice = forms.BooleanField(label=_("Voice call"), required=False)
    landline = forms.CharField(label=_("Landline number (voice call)"), max_length=30, required=False)
    email = forms.CharField(label=_("E-mail address"), max_length=254, required=False)
    deaf = forms.BooleanField(label=_("I am deaf or hard of hearing: no calls, text instead"), required=False)
    opt_out_general = forms.BooleanField(label=_("Only emergencies: no messages of general interest"), required=False)
    opt_out_bin = forms.BooleanField(
        label=_("No messages from neighbourhood information networks (BIN)"), required=False
    )
    consent = forms.BooleanField(label=_("I have read the privacy notice and register voluntarily"), required=False)
    consent_version = forms.CharField(widget=forms.HiddenInput, initial=domain.CONSENT_VERSION)
    challenge = forms.CharField(widget=forms.HiddenInput, required=False)
    nonce = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for i in range(1, domain.MAX_ADDRESSES + 1):
            self.fields[f"address_{i}"] = forms.CharField(
                label=_("Address %(n)s") % {"n": i}, max_length=300, required=(i == 1)
            )
            self.fields[f"address_{i}_id"] = forms.CharField(widget=forms.HiddenInput, required=False)
            self.fields[f"label_{i}"] = forms.ChoiceField(
                label=_("Kind of address %(n)s") % {"n": i}, choices=LABELS, initial="home" if i == 1 else "other"
            )


def _fresh_challenge(form: forms.Form) -> None:
    challenge = services.challenge_issue()
    form.initial["challenge"] = challenge["challenge"]
    data = getattr(form, "data", None)
    if data is not None and hasattr(data, "_mutable"):
        data = data.copy()
        data["challenge"], data["nonce"] = challenge["challenge"], ""
        form.data = data


def _pow_context() -> dict[str, Any]:
    challenge = services.challenge_issue()
    return {"challenge": challenge["challenge"], "bits": challenge["bits"]}


def _resolve_address(text: str, hidden_id: str) -> int | None:
    if hidden_id.isdigit():
        return int(hidden_id)
    found = geo_selectors.address_search(text, limit=2)
    labels = {a.label(language): a.pk for a in found for language in ("nl", "fr", "de")}
    if text.strip() in labels:
        return labels[text.strip()]
    return found[0].pk if len(found) == 1 else None


def _error_field(exc: RuleError) -> str:
    """Map a service field (``contact_points[1].value``) to the form field that holds it."""
    return exc.field.split("[")[0].split(".")[0] if exc.field else "__all__"


def _citizen(request: HttpRequest) -> Registration | None:
    data = request.session.get(SESSION_KEY)
    if not data or time.time() - data.get("at", 0) > SESSION_IDLE_S:
        return None
    registration = Registration.objects.filter(public_id=data.get("id")).first()
    if registration is not None:
        request.session[SESSION_KEY] = {"id": data["id"], "at": time.time()}
    return registration


def start(request: HttpRequest) -> HttpResponse:
    return render(request, "citizens/start.html", {"signed_in": _citizen(request) is not None})


def join(request: HttpRequest, nis_code: str) -> HttpResponse:
    """A municipality's shareable sign-up link (BA-7.3): the sign-up page, remembering where it came from."""
    municipality = Municipality.objects.filter(nis_code=nis_code).first()
    if municipality is None:
        raise Http404
    request.session["citizen_referrer"] = nis_code
    return redirect(reverse("citizens:sign_up") + f"?from={nis_code}")


def join_qr(request: HttpRequest, nis_code: str) -> HttpResponse:
    if not Municipality.objects.filter(nis_code=nis_code).exists():
        raise Http404
    url = f"{settings.BASE_URL.rstrip('/')}{reverse('citizens:join', args=[nis_code])}"
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=8, border=2, dark="#000", light="#fff")
    response = HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
    response["Content-Disposition"] = f'inline; filename="tocsin-sign-up-{nis_code}.svg"'
    return response


@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    language = (get_language() or "nl")[:2]
    form = SignUpForm(request.POST or None, initial={"language": language if language in domain.LANGUAGES else "nl"})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            services.address_lookup_allowed(client_ip(request))  # the form looks addresses up too
        except services.Throttled as exc:
            form.add_error(None, localise(exc))
        points = []
        if d["mobile"].strip():
            points.append(services.PointIn("mobile", d["mobile"], d["mobile_sms"], d["mobile_voice"]))
        if d["landline"].strip():
            points.append(services.PointIn("landline", d["landline"], False, True))
        if d["email"].strip():
            points.append(services.PointIn("email", d["email"]))
        addresses = []
        for i in range(1, domain.MAX_ADDRESSES + 1 if not form.errors else 1):
            text = d.get(f"address_{i}", "").strip()
            if not text:
                continue
            address_id = _resolve_address(text, d.get(f"address_{i}_id", ""))
            if address_id is None:
                form.add_error(f"address_{i}", _("Not found in the address register: choose one from the list."))
            else:
                addresses.append(services.AddressIn(d[f"label_{i}"], address_id))
        if not form.errors:
            try:
                result = services.registration_sign_up(
                    name=d["name"],
                    language=d["language"],
                    contact_points=points,
                    addresses=addresses,
                    deaf=d["deaf"],
                    opt_out_general=d["opt_out_general"],
                    opt_out_bin=d["opt_out_bin"],
                    consent=d["consent"],
                    consent_version=d["consent_version"],
                    challenge=d["challenge"],
                    nonce=d["nonce"],
                    ip=client_ip(request),
                    referrer_nis=request.session.get("citizen_referrer", ""),
                )
            except RuleError as exc:
                field = _error_field(exc)
                field = {"contact_points": "mobile", "addresses": "address_1", "proof_of_work": "__all__"}.get(
                    field, field
                )
                form.add_error(field if field in form.fields else None, localise(exc))
            except services.Throttled as exc:
                form.add_error(None, localise(exc))
            else:
                request.session.cycle_key()
                request.session[PENDING_KEY] = str(result.registration.public_id)
                return redirect("citizens:verify")
        _fresh_challenge(form)
    elif request.method == "GET":
        form.initial["challenge"] = services.challenge_issue()["challenge"]
    more_open = any(form[f"address_{i}"].value() or form[f"address_{i}"].errors for i in range(2, 6))
    context = {
        "form": form,
        "bits": services.pow_bits(),
        "max_addresses": domain.MAX_ADDRESSES,
        "more_open": more_open,
    }
    context["address_rows"] = [
        (form[f"address_{i}"], form[f"address_{i}_id"], form[f"label_{i}"]) for i in range(1, domain.MAX_ADDRESSES + 1)
    ]
    return render(request, "citizens/sign_up.html", context, status=422 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    public_id = request.session.get(PENDING_KEY)
    registration = Registration.objects.filter(public_id=public_id).first() if public_id else None
    if registration is None:
        return redirect("citizens:start")
    points = list(ContactPoint.objects.filter(registration=registration).order_by("id"))
    errors: dict[int, str] = {}
    if request.method == "POST":
        resend = request.POST.get("resend", "")
        if resend.isdigit():
            try:
                services.contact_point_resend(registration=registration, point_id=int(resend))
            except (RuleError, services.Throttled) as exc:
                errors[int(resend)] = localise(exc)
        else:
            for point in points:
                code = request.POST.get(f"code_{point.pk}", "").strip()
                if code and not point.verified_at:
                    try:
                        services.contact_point_verify(registration=registration, point_id=point.pk, code=code)
                    except RuleError as exc:
                        errors[point.pk] = localise(exc)
            points = list(ContactPoint.objects.filter(registration=registration).order_by("id"))
            if not errors and all(p.verified_at or p.kind == "landline" for p in points):
                request.session.pop(PENDING_KEY, None)
                request.session[SESSION_KEY] = {"id": str(registration.public_id), "at": time.time()}
                return redirect(reverse("citizens:me") + "?welcome=1")
    rows = [(p, errors.get(p.pk, "")) for p in points]
    context = {"rows": rows, "calls": services.landline_calls()}
    return render(request, "citizens/verify.html", context, status=422 if errors else 200)


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    error = ""
    if request.method == "POST" and "attempt" not in request.POST:
        try:
            attempt = services.sign_in_start(
                contact=request.POST.get("contact", ""),
                challenge=request.POST.get("challenge", ""),
                nonce=request.POST.get("nonce", ""),
                ip=client_ip(request),
            )
        except (RuleError, services.Throttled) as exc:
            error = localise(exc)
        else:
            request.session["citizen_attempt"] = attempt
            return render(request, "citizens/sign_in_code.html", {})
    elif request.method == "POST":
        try:
            registration = services.sign_in_finish(
                attempt=request.session.get("citizen_attempt", ""), code=request.POST.get("code", "")
            )
        except RuleError as exc:
            return render(request, "citizens/sign_in_code.html", {"error": localise(exc)}, status=422)
        return _signed_in(request, registration)
    context = {**_pow_context(), "error": error, "contact": request.POST.get("contact", "")}
    return render(request, "citizens/sign_in.html", context, status=422 if error else 200)


def sign_in_link(request: HttpRequest, token: str) -> HttpResponse:
    if request.method != "POST":
        # Mail scanners follow links: signing in takes a button press.
        return render(request, "citizens/sign_in_link.html", {})
    try:
        registration = services.sign_in_link(link=token)
    except RuleError as exc:
        return render(request, "citizens/sign_in_link.html", {"error": localise(exc)}, status=422)
    return _signed_in(request, registration)


def _signed_in(request: HttpRequest, registration: Registration) -> HttpResponse:
    following = request.session.pop("citizen_next", "")
    request.session.cycle_key()
    request.session.pop("citizen_attempt", None)
    request.session[SESSION_KEY] = {"id": str(registration.public_id), "at": time.time()}
    if following.startswith("/citizen/") and "//" not in following:
        return redirect(following)
    return redirect("citizens:me")


class ChangeForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=200)
    language = forms.ChoiceField(label=_("Language for messages"), choices=LANGUAGE_CHOICES)
    deaf = forms.BooleanField(label=_("I am deaf or hard of hearing: no calls, text instead"), required=False)
    opt_out_general = forms.BooleanField(label=_("Only emergencies: no messages of general interest"), required=False)
    opt_out_bin = forms.BooleanField(
        label=_("No messages from neighbourhood information networks (BIN)"), required=False
    )


@require_http_methods(["GET", "POST"])
def me(request: HttpRequest) -> HttpResponse:
    registration = _citizen(request)
    if registration is None:
        return redirect("citizens:sign_in")
    initial = {f: getattr(registration, f) for f in ("name", "language", "deaf", "opt_out_general", "opt_out_bin")}
    form = ChangeForm(request.POST or None, initial=initial)
    saved = False
    if request.method == "POST" and form.is_valid():
        try:
            registration = services.registration_update(registration=registration, **form.cleaned_data)
            saved = True
        except RuleError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, localise(exc))
    context = {
        "registration": registration,
        "form": form,
        "saved": saved,
        "welcome": request.GET.get("welcome") == "1",
        "points": ContactPoint.objects.filter(registration=registration).order_by("id"),
        "addresses": [(a.text, dict(LABELS).get(a.label, a.label)) for a in registration.addresses.order_by("id")],
        "labels": LABELS,
        "max_addresses": domain.MAX_ADDRESSES,
        "groups": _groups(registration),
        "joined": request.GET.get("joined") == "1",
    }
    context["calls"] = services.landline_calls()
    return render(request, "citizens/me.html", context, status=422 if form.errors else 200)


def _groups(registration: Registration) -> list[Any]:
    from tocsin.audiences.selectors import bin_groups_of_registration

    return list(bin_groups_of_registration(registration_id=registration.pk))


@require_POST
def me_pause(request: HttpRequest) -> HttpResponse:
    registration = _citizen(request)
    if registration is None:
        return redirect("citizens:sign_in")
    if request.POST.get("action") == "resume":
        services.registration_resume(registration=registration)
    else:
        services.registration_pause(registration=registration)
    return redirect("citizens:me")


def me_export(request: HttpRequest) -> HttpResponse:
    registration = _citizen(request)
    if registration is None:
        return redirect("citizens:sign_in")
    data = selectors.registration_export(registration)
    response = HttpResponse(json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="tocsin-my-data.json"'
    return response


@require_http_methods(["GET", "POST"])
def me_delete(request: HttpRequest) -> HttpResponse:
    registration = _citizen(request)
    if registration is None:
        return redirect("citizens:sign_in")
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        services.registration_erase(registration=registration, ip=client_ip(request))
        request.session.flush()
        return render(request, "citizens/deleted.html", {})
    return render(request, "citizens/delete.html", {})


def addresses(request: HttpRequest) -> HttpResponse:
    """Autocomplete for the sign-up form (the page works without it: typed text is looked up on submit)."""
    try:
        services.address_lookup_allowed(client_ip(request))
    except services.Throttled:
        return JsonResponse({"results": []}, status=429)
    language = (get_language() or "nl")[:2]
    language = language if language in ("nl", "fr", "de") else "nl"
    found = geo_selectors.address_search(request.GET.get("q", "")[:200])
    return JsonResponse({"results": [{"id": a.pk, "label": a.label(language)} for a in found]})


@require_http_methods(["GET", "POST"])
def bin_join(request: HttpRequest, code: str) -> HttpResponse:
    """Join a BIN group with its invitation link or code (BA-7-BIN); signing in first when needed."""
    from tocsin.audiences import selectors as audience_selectors
    from tocsin.audiences import services as audience_services
    from tocsin.organisations.services import NotFound

    registration = _citizen(request)
    if registration is None:
        request.session["citizen_next"] = reverse("citizens:bin_join", args=[code])
        return redirect("citizens:sign_in")
    try:
        group = audience_selectors.bin_group_by_code(code=code)
    except NotFound:
        raise Http404 from None
    error = ""
    if request.method == "POST":
        try:
            audience_services.bin_group_join(code=code, registration_id=registration.pk)
        except RuleError as exc:
            error = localise(exc)
        else:
            return redirect(reverse("citizens:me") + "?joined=1")
    return render(request, "citizens/bin_join.html", {"group": group, "error": error}, status=422 if error else 200)


@require_POST
def bin_code(request: HttpRequest) -> HttpResponse:
    code = "".join(ch for ch in request.POST.get("code", "") if ch.isalnum())[:40]
    if not code:
        return redirect("citizens:me")
    return redirect("citizens:bin_join", code=code)


def coverage_page(request: HttpRequest) -> HttpResponse:
    """For a municipality or governor: how many people registered in its area (counts only, BA-7.4),
    and its sign-up link and QR code to promote registration (BA-7.3)."""
    from django.contrib.auth.views import redirect_to_login

    from tocsin.geo.domain import Area
    from tocsin.organisations.services import AccessDenied

    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    user = request.user
    org = user.organisation
    nis = request.GET.get("nis", "") if org.is_crisis_centre else org.nis_code
    context: dict[str, Any] = {"nis": nis, "counts": selectors.registration_counts() if org.is_crisis_centre else None}
    if request.method == "POST" and org.is_crisis_centre:
        # A look-up of one person: a crisis-centre administrator, a stated reason, the audit log (BA-7.4).
        context["lookup_contact"] = request.POST.get("contact", "")
        context["lookup_reason"] = request.POST.get("reason", "")
        try:
            context["found"] = selectors.registration_lookup(
                actor=user, contact=context["lookup_contact"], reason=context["lookup_reason"], ip=client_ip(request)
            )
            context["looked_up"] = True
        except (RuleError, AccessDenied) as exc:
            context["lookup_error"] = localise(exc)
    if nis and Municipality.objects.filter(nis_code=nis).exists():
        try:
            context["coverage"] = selectors.coverage(actor=user, area=Area("municipalities", codes=(nis,)))
        except AccessDenied as exc:
            return render(request, "web/refused.html", {"reason": localise(exc)}, status=403)
        context["municipality"] = Municipality.objects.get(nis_code=nis)
        context["cells"] = True
        context["link"] = f"{settings.BASE_URL.rstrip('/')}{reverse('citizens:join', args=[nis])}"
    if org.is_crisis_centre or context.get("coverage"):
        from django.utils.translation import gettext

        from tocsin.geo.maps import belgium_svg

        per_municipality = selectors.people_per_municipality()
        context["map"] = belgium_svg(
            per_municipality,
            title=gettext("Registered people per municipality"),
            highlight=nis if context.get("coverage") else "",
            unit=gettext("people"),
        )
        if context.get("coverage"):
            context["zoom"] = belgium_svg(
                per_municipality,
                title=gettext("Registered people in %(name)s") % {"name": context["municipality"].name_nl},
                highlight=nis,
                focus=nis,
                cells=selectors.people_per_cell(nis),
                unit=gettext("people"),
            )
    return render(request, "citizens/coverage.html", context)


@require_POST
def me_points(request: HttpRequest) -> HttpResponse:
    """Add, verify, resend a code for, or remove a contact point."""
    from django.contrib import messages
    from django.utils.translation import gettext

    registration = _citizen(request)
    if registration is None:
        return redirect("citizens:sign_in")
    action = request.POST.get("action", "")
    point_id = request.POST.get("point_id", "")
    try:
        if action == "add":
            kind = request.POST.get("kind", "")
            services.contact_point_add(
                registration=registration,
                point=services.PointIn(
                    kind,
                    request.POST.get("value", ""),
                    sms=request.POST.get("sms") == "on" or kind != "mobile",
                    voice=request.POST.get("voice") == "on" or kind == "landline",
                ),
            )
            messages.success(request, gettext("Added: enter the code we sent to check it."))
        elif action == "verify" and point_id.isdigit():
            services.contact_point_verify(
                registration=registration, point_id=int(point_id), code=request.POST.get("code", "")
            )
            messages.success(request, gettext("Checked."))
        elif action == "resend" and point_id.isdigit():
            services.contact_point_resend(registration=registration, point_id=int(point_id))
            messages.success(request, gettext("A new code is on its way."))
        elif action == "remove" and point_id.isdigit():
            services.contact_point_remove(registration=registration, point_id=int(point_id))
            messages.success(request, gettext("Removed."))
    except (RuleError, services.Throttled) as exc:
        messages.error(request, localise(exc))
    return redirect(reverse("citizens:me") + "#points")


@require_POST
def me_addresses(request: HttpRequest) -> HttpResponse:
    """Add or remove an address (at least one, at most five)."""
    from django.contrib import messages
    from django.utils.translation import gettext

    registration = _citizen(request)
    if registration is None:
        return redirect("citizens:sign_in")
    current = [services.AddressIn(a.label, a.address_id or 0) for a in registration.addresses.order_by("id")]
    action = request.POST.get("action", "")
    try:
        if action == "add":
            services.address_lookup_allowed(client_ip(request))
            address_id = _resolve_address(request.POST.get("address", ""), request.POST.get("address_id", ""))
            if address_id is None:
                raise RuleError(str(_("Not found in the address register: choose one from the list.")), field="address")
            current.append(services.AddressIn(request.POST.get("label", "other"), address_id))
        elif action == "remove" and request.POST.get("index", "").isdigit():
            index = int(request.POST["index"])
            current = [a for i, a in enumerate(current) if i != index]
        services.registration_update(registration=registration, addresses=current)
        messages.success(request, gettext("Saved."))
    except (RuleError, services.Throttled) as exc:
        messages.error(request, localise(exc))
    return redirect(reverse("citizens:me") + "#addresses")

"""Portal views: parse the form, call one service, show the result."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from tocsin.audit.selectors import audit_entries_for
from tocsin.i18n import localise
from tocsin.organisations import selectors, services
from tocsin.organisations.domain import RuleError
from tocsin.organisations.models import User
from tocsin.web import forms as f

T = TypeVar("T")


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _apply(form: forms.Form, call: Callable[[], T]) -> T | None:
    """Run a service; put a refused rule on the form field it names. Writes nothing on error."""
    try:
        return call()
    except RuleError as exc:
        field = exc.field if exc.field in form.fields else None
        message = f"{localise(exc)} ({exc.rule})" if exc.rule else localise(exc)
        form.add_error(field, message)
    except services.NotFound as exc:
        form.add_error(None, localise(exc))
    return None


def _denied(request: HttpRequest, exc: services.AccessDenied) -> HttpResponse:
    return render(request, "web/refused.html", {"reason": localise(exc)}, status=403)


PortalView = TypeVar("PortalView", bound=Callable[..., HttpResponse])


def portal_page(view: PortalView) -> PortalView:
    """A portal page of a signed-in member (two factors: the access middleware): what another organisation owns
    is not found (``NotFound`` → 404), a refusal of the member's organisation or role is the 403 page."""

    @wraps(view)
    def run(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except services.NotFound:
            raise Http404 from None
        except services.AccessDenied as exc:
            return _denied(request, exc)

    return login_required(run)  # type: ignore[return-value]


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


# --- signing in --------------------------------------------------------------


def sign_in(request: HttpRequest) -> HttpResponse:
    form = f.SignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.sign_in_check(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                ip=client_ip(request),
            )
        except services.SignInRefused as exc:
            form.add_error(None, localise(exc))
        else:
            refusal = services.access_refusal(user.organisation)
            if refusal is not None:
                return _denied(request, refusal)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session["access_epoch"] = user.organisation.access_epoch
            if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
                return redirect("web:login_verify")
            if user.needs_2fa:
                return redirect("web:login_enrol")
            services.sign_in_succeeded(
                user=user, ip=client_ip(request), second_factor=False, language=request.LANGUAGE_CODE
            )
            return _after_sign_in(request)
    next_url = request.GET.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        request.session["after_sign_in"] = next_url
    return render(request, "web/login.html", {"form": form})


def _after_sign_in(request: HttpRequest) -> HttpResponse:
    """Back to the page that asked for sign-in (same site only), else the dashboard."""
    target = request.session.pop("after_sign_in", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("web:dashboard")


@login_required
def sign_in_verify(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        return redirect("web:login_enrol")
    if services.sign_in_locked(user):
        logout(request)
        return redirect("web:login")
    form = f.CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"].strip()
        allowed, _why = device.verify_is_allowed()
        if not allowed:
            # django-otp's own throttle after a wrong code: the wait doubles each time.
            form.add_error("code", _("Too many wrong codes in a row: wait a few seconds and try again."))
            return render(request, "web/login_verify.html", {"form": form})
        if code.isdigit() and device.verify_token(code):
            otp_login(request, device)
            services.sign_in_succeeded(
                user=user, ip=client_ip(request), second_factor=True, language=request.LANGUAGE_CODE
            )
            return _after_sign_in(request)
        if services.second_factor_failed(user=user, ip=client_ip(request)):
            logout(request)
            return redirect("web:login")
        form.add_error("code", _("This code is not right. Check the time on your phone and try again."))
    return render(request, "web/login_verify.html", {"form": form})


@login_required
def sign_in_enrol(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app (TOTP); mandatory for anyone who can alert or see personal data."""
    user: User = request.user  # type: ignore[assignment]
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        # Replacing an authenticator goes through an administrator's reset, never through a
        # session alone: a stolen session must not turn into lasting access.
        return redirect("web:dashboard" if user.is_verified() else "web:login_verify")  # type: ignore[attr-defined]
    device_id = request.session.get("enrol_device_id")
    device = TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first() if device_id else None
    if device is None:
        device = services.totp_device_start(user=user)
        request.session["enrol_device_id"] = device.pk
    form = f.CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        confirmed = _apply(
            form,
            lambda: services.totp_device_confirm(user=user, device_id=device.pk, code=form.cleaned_data["code"]),
        )
        if confirmed is not None:
            request.session.pop("enrol_device_id", None)
            otp_login(request, confirmed)
            services.sign_in_succeeded(
                user=user, ip=client_ip(request), second_factor=True, language=request.LANGUAGE_CODE
            )
            messages.success(request, _("Two-factor sign-in is set up."))
            return _after_sign_in(request)
    qr = segno.make(device.config_url, error="m").svg_inline(scale=4, title=_("QR code for your authenticator app"))
    secret = _base32(device.bin_key)
    return render(request, "web/login_enrol.html", {"form": form, "qr": qr, "secret": secret})


def _base32(key: bytes) -> str:
    import base64

    raw = base64.b32encode(key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("web:login")


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invite = services.invitation_lookup(token)
    except services.NotFound as exc:
        return render(request, "web/invitation_invalid.html", {"reason": localise(exc)}, status=404)
    form = f.SetPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = _apply(
            form,
            lambda: services.invitation_accept(
                token=token,
                password=form.cleaned_data["password"],
                password_again=form.cleaned_data["password_again"],
            ),
        )
        if user is not None:
            messages.success(request, _("Your password is set. Sign in with it now."))
            return redirect("web:login")
    return render(request, "web/invitation.html", {"form": form, "invite": invite})


# --- the organisation's own screens -------------------------------------------


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    ctx: dict[str, Any] = {
        "notices": selectors.notices_unread(actor=user)[:10],
        "pending_conditions": selectors.conditions_pending(actor=user),
        "open_directives": [d for d, ack in selectors.directive_list(actor=user) if ack is None],
        "member_count": User.objects.filter(organisation_id=user.organisation_id, is_active=True).count(),
    }
    if user.organisation.is_crisis_centre:
        ctx["organisations"] = selectors.organisation_list(actor=user).exclude(pk=user.organisation_id)
    return render(request, "web/dashboard.html", ctx)


@login_required
@require_POST
def notice_read(request: HttpRequest, notice_id: int) -> HttpResponse:
    services.notice_mark_read(actor=request.user, notice_id=notice_id)  # type: ignore[arg-type]
    return redirect("web:dashboard")


@login_required
def members(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = f.InviteForm(request.POST or None, kind=user.organisation.kind)
    try:
        if request.method == "POST" and form.is_valid():
            invited = _apply(
                form,
                lambda: services.user_invite(
                    actor=user,
                    email=form.cleaned_data["email"],
                    full_name=form.cleaned_data["full_name"],
                    roles=form.cleaned_data["roles"],
                ),
            )
            if invited is not None:
                messages.success(request, _("Invitation sent to %(email)s.") % {"email": invited.email})
                return redirect("web:members")
        people = list(selectors.member_list(actor=user, ip=client_ip(request)))
    except services.AccessDenied as exc:
        return _denied(request, exc)
    status = 400 if form.errors else 200
    return render(request, "web/members.html", {"form": form, "people": people}, status=status)


@login_required
def member_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    actor: User = request.user  # type: ignore[assignment]
    try:
        person = selectors.member_get(actor=actor, user_id=user_id, ip=client_ip(request))
        if not actor.has_role(services.Role.ADMIN):
            raise services.AccessDenied(_("Only an administrator of your organisation may manage members."))
    except services.NotFound:
        raise Http404 from None
    except services.AccessDenied as exc:
        return _denied(request, exc)
    form = f.RolesForm(request.POST or None, initial={"roles": person.roles}, kind=actor.organisation.kind)
    if request.method == "POST":
        action = request.POST.get("action")
        done: object | None = None
        try:
            if action == "roles" and form.is_valid():
                done = _apply(
                    form,
                    lambda: services.user_set_roles(actor=actor, user_id=user_id, roles=form.cleaned_data["roles"]),
                )
            elif action == "deactivate":
                done = _apply(form, lambda: services.user_deactivate(actor=actor, user_id=user_id))
            elif action == "resend":
                done = _apply(form, lambda: services.invitation_resend(actor=actor, user_id=user_id))
            elif action == "reset":
                done = _apply(form, lambda: services.user_reset_access(actor=actor, user_id=user_id))
        except services.AccessDenied as exc:
            return _denied(request, exc)
        if done is not None:
            messages.success(request, _("Saved."))
            return redirect("web:member_detail", user_id=user_id)
    status = 400 if form.errors else 200
    return render(request, "web/member_detail.html", {"person": person, "form": form}, status=status)


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = f.TokenForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        created = _apply(form, lambda: services.api_token_create(actor=user, name=form.cleaned_data["name"]))
        if created is not None:
            secret = created[1]
            form = f.TokenForm()
    return render(
        request,
        "web/tokens.html",
        {"form": form, "tokens": selectors.api_token_list(actor=user), "secret": secret},
    )


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        services.api_token_revoke(actor=request.user, token_id=token_id)  # type: ignore[arg-type]
    except services.NotFound:
        raise Http404 from None
    messages.success(request, _("Token revoked."))
    return redirect("web:tokens")


@login_required
def agreement(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    latest = selectors.conditions_latest()
    form = forms.Form(request.POST or None)
    if request.method == "POST" and latest is not None:
        decision = request.POST.get("decision", "")
        try:
            done = _apply(
                form,
                lambda: services.agreement_decide(actor=user, version_number=latest.number, decision=decision),
            )
        except services.AccessDenied as exc:
            return _denied(request, exc)
        if done is not None:
            if decision == "terminate":
                logout(request)
                return render(request, "web/refused.html", {"reason": _("The agreement has ended.")})
            messages.success(request, _("Your decision is recorded."))
            return redirect("web:agreement")
    ctx = {
        "latest": latest,
        "pending": selectors.conditions_pending(actor=user),
        "decisions": selectors.agreement_decisions(actor=user),
        "agreement": getattr(user.organisation, "agreement", None),
        "form": form,
    }
    return render(request, "web/agreement.html", ctx, status=400 if form.errors else 200)


@login_required
def directives(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if request.method == "POST":
        try:
            services.directive_acknowledge(actor=user, directive_id=int(request.POST.get("directive", "0") or 0))
        except services.AccessDenied as exc:
            return _denied(request, exc)
        except (services.NotFound, ValueError):
            raise Http404 from None
        messages.success(request, _("Acknowledged."))
        return redirect("web:directives")
    return render(request, "web/directives.html", {"items": selectors.directive_list(actor=user)})


@login_required
def audit(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        entries = audit_entries_for(actor=user)
    except PermissionError as exc:
        return _denied(request, services.AccessDenied(str(exc)))
    return render(request, "web/audit.html", {"entries": entries})


# --- crisis centre -----------------------------------------------------------


def _cc_admin(request: HttpRequest) -> User | None:
    user: User = request.user  # type: ignore[assignment]
    if user.organisation.is_crisis_centre and user.has_role(services.Role.ADMIN):
        return user
    return None


@login_required
def cc_organisations(request: HttpRequest) -> HttpResponse:
    actor = _cc_admin(request)
    if actor is None:
        return _denied(request, services.AccessDenied(_("Only the crisis centre manages organisations.")))
    form = f.OrganisationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        org = _apply(form, lambda: services.organisation_create(actor=actor, **form.cleaned_data))
        if org is not None:
            messages.success(request, _("%(name)s is registered as requested.") % {"name": org.name})
            return redirect("web:cc_organisation", organisation_id=org.pk)
    orgs = selectors.organisation_list(actor=actor)
    return render(
        request,
        "web/cc/organisations.html",
        {"form": form, "orgs": orgs},
        status=400 if form.errors else 200,
    )


@login_required
def cc_organisation(request: HttpRequest, organisation_id: int) -> HttpResponse:
    actor = _cc_admin(request)
    if actor is None:
        return _denied(request, services.AccessDenied(_("Only the crisis centre manages organisations.")))
    try:
        org = selectors.organisation_get(actor=actor, organisation_id=organisation_id)
    except services.NotFound:
        raise Http404 from None
    activation = f.ActivationForm(request.POST if request.POST.get("action") == "activate" else None,
                                  initial={"languages": ["nl", "fr"]})  # fmt: skip
    action = request.POST.get("action")
    reason = f.ReasonForm(request.POST if action in {"suspend", "reinstate"} else None, prefix="access")
    terminate = f.TerminateForm(request.POST if action == "terminate" else None, prefix="terminate")
    if request.method == "POST":
        done = None
        if action == "activate" and activation.is_valid():
            done = _apply(activation, lambda: services.organisation_activate(
                actor=actor, organisation_id=org.pk, **activation.cleaned_data))  # fmt: skip
        elif action in {"suspend", "reinstate"} and reason.is_valid():
            call = services.organisation_suspend if action == "suspend" else services.organisation_reinstate
            done = _apply(
                reason,
                lambda: call(actor=actor, organisation_id=org.pk, reason=reason.cleaned_data["reason"]),
            )
        elif action == "terminate" and terminate.is_valid():
            done = _apply(
                terminate,
                lambda: services.organisation_terminate(
                    actor=actor, organisation_id=org.pk, reason=terminate.cleaned_data["reason"]
                ),
            )
        if done is not None:
            messages.success(request, _("Saved."))
            return redirect("web:cc_organisation", organisation_id=org.pk)
    ctx = {
        "o": org,
        "events": org.events.select_related("by"),
        "activation": activation,
        "reason_form": reason,
        "terminate_form": terminate,
        "decisions": org.agreement_decisions.select_related("version"),
    }
    return render(
        request,
        "web/cc/organisation.html",
        ctx,
        status=400 if activation.errors or reason.errors or terminate.errors else 200,
    )


@login_required
def cc_publish(request: HttpRequest, what: str) -> HttpResponse:
    actor = _cc_admin(request)
    if actor is None:
        return _denied(
            request,
            services.AccessDenied(_("Only the crisis centre publishes conditions and directives.")),
        )
    if what not in {"conditions", "directives"}:
        raise Http404
    form = f.PublishForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        publish = services.conditions_publish if what == "conditions" else services.directive_publish
        done = _apply(form, lambda: publish(actor=actor, **form.cleaned_data))
        if done is not None:
            messages.success(request, _("Published; the entities' administrators are notified."))
            return redirect("web:cc_publish", what=what)
    items: Any
    if what == "conditions":
        items = selectors.conditions_versions(actor=actor)
    else:
        items = selectors.directive_overview(actor=actor)
    return render(
        request,
        "web/cc/publish.html",
        {"form": form, "what": what, "items": items},
        status=400 if form.errors else 200,
    )

"""Access rules applied to every portal request (BA-7.4)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from tocsin.i18n import localise
from tocsin.organisations.services import access_refusal

# Paths reachable before the second factor is given.
_OPEN_PREFIXES = ("/i18n/", "/login/", "/logout/", "/invitation/", "/healthz")


class AccessMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and not request.path.startswith(("/static/", "/api/")):
            response = self._check(request)
            if response is not None:
                return response
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> HttpResponse | None:
        user = request.user
        org = user.organisation  # type: ignore[union-attr]
        refusal = access_refusal(org)
        if refusal is not None:
            logout(request)
            return render(request, "web/refused.html", {"reason": localise(refusal)}, status=403)
        # Suspension bumps the epoch: sessions opened before it stay closed after reinstatement.
        if not user.is_active or request.session.get("access_epoch") != org.access_epoch:
            logout(request)
            return redirect(reverse("web:login"))
        if request.path.startswith(_OPEN_PREFIXES):
            return None
        if not user.is_verified():  # type: ignore[attr-defined]  # added by django-otp's middleware
            if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
                return redirect(reverse("web:login_verify"))
            if user.needs_2fa:
                return redirect(reverse("web:login_enrol"))
        return None


# Only our own scripts and styles (the API docs page needs inline styles), no framing, forms post here only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeadersMiddleware:
    """A Content-Security-Policy on every response: an injected script would not run."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def portal(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    ctx: dict[str, Any] = {"LANGUAGES": settings.LANGUAGES}
    if user.is_authenticated:
        org = user.organisation
        ctx["org"] = org
        ctx["is_admin"] = "admin" in user.roles
        ctx["is_cc_admin"] = org.is_crisis_centre and ctx["is_admin"]
    return ctx

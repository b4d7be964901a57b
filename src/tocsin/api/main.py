"""The HTTP API under /api/v1/: the same domain functions as the portal.

Authentication is a per-user bearer token (``Authorization: Bearer tcs_…``).
Errors are JSON: 401 no or bad token, 403 with the reason (a suspended
organisation, a missing role), 404 for anything of another organisation,
422 with one message per field for bad input.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.security import HttpBearer

from tocsin.alarms.domain import FieldErrors
from tocsin.citizens.services import Throttled
from tocsin.i18n import localise
from tocsin.organisations.domain import RuleError
from tocsin.organisations.models import User
from tocsin.organisations.services import (
    AccessDenied,
    NotFound,
    access_refusal,
    api_token_authenticate,
)


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = api_token_authenticate(token)
        if user is None:
            return None
        refusal = access_refusal(user.organisation)
        if refusal is not None:
            raise refusal  # 403 with the reason (BA-7.4)
        return user


api = NinjaAPI(
    title="Tocsin API",
    version="1",
    description=__doc__ or "",
    auth=TokenAuth(),
    urls_namespace="api",
)


def _error(request: HttpRequest, status: int, detail: list[dict[str, Any]] | str) -> HttpResponse:
    return api.create_response(request, {"detail": detail}, status=status)


@api.exception_handler(RuleError)
def on_rule_error(request: HttpRequest, exc: RuleError) -> HttpResponse:
    item: dict[str, Any] = {
        "loc": ["body", exc.field] if exc.field else ["body"],
        "msg": exc.message,
    }
    if exc.rule:
        item["rule"] = exc.rule
    return _error(request, 422, [item])


@api.exception_handler(FieldErrors)
def on_field_errors(request: HttpRequest, exc: FieldErrors) -> HttpResponse:
    items: list[dict[str, Any]] = []
    for error in exc.errors:
        item: dict[str, Any] = {"loc": ["body", error.field] if error.field else ["body"], "msg": error.message}
        if error.rule:
            item["rule"] = error.rule
        items.append(item)
    return _error(request, 422, items)


@api.exception_handler(Throttled)
def on_throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    response = _error(request, 429, localise(exc))
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(AccessDenied)
def on_access_denied(request: HttpRequest, exc: AccessDenied) -> HttpResponse:
    return _error(request, 403, localise(exc))


@api.exception_handler(NotFound)
def on_not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
    return _error(request, 404, localise(exc))


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "A valid API token is required (Authorization: Bearer tcs_…).")


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    detail = [{"loc": list(e.get("loc", [])), "msg": str(e.get("msg", "invalid"))} for e in exc.errors]
    return _error(request, 422, detail)


from tocsin.organisations.api import router as organisations_router  # noqa: E402

api.add_router("/", organisations_router)
from tocsin.delivery.api import router as delivery_router  # noqa: E402

api.add_router("/", delivery_router)
from tocsin.audiences.api import router as audiences_router  # noqa: E402

api.add_router("/", audiences_router)
from tocsin.citizens.api import router as citizens_router  # noqa: E402

api.add_router("/", citizens_router)
from tocsin.alerts.api import router as alerts_router  # noqa: E402

api.add_router("/", alerts_router)
from tocsin.billing.api import router as billing_router  # noqa: E402

api.add_router("/", billing_router)
from tocsin.alarms.api import router as alarms_router  # noqa: E402

api.add_router("/", alarms_router)
from tocsin.arc.api import router as arc_router  # noqa: E402

api.add_router("/", arc_router)

"""Citizens' registration through the API: the same services as the public sign-up page.

Sign-up, verification and sign-in need no account (``auth=None``) but a proof
of work (``GET /citizens/challenge``); what follows uses the short-lived
citizen token that sign-in returns (``Authorization: Bearer …``).
Entities get counts only (``/citizens/coverage``); a crisis-centre
administrator can look a registration up with a reason (``/citizens/lookup``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Body, Router, Schema, Status
from ninja.errors import HttpError
from ninja.security import HttpBearer
from pydantic import Field

from tocsin.citizens import selectors, services
from tocsin.citizens.models import ContactPoint, Registration
from tocsin.geo import domain as geo_domain
from tocsin.geo import selectors as geo_selectors
from tocsin.organisations.domain import RuleError, gettext_noop
from tocsin.organisations.models import User
from tocsin.web.views import client_ip

router = Router(tags=["citizens"])


class CitizenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Registration | None:
        return services.registration_from_token(token)


class ChallengeOut(Schema):
    challenge: str
    bits: int


class PointSchema(Schema):
    kind: Literal["mobile", "landline", "email"]
    value: str = Field(max_length=254)
    sms: bool = True
    voice: bool = False


class AddressSchema(Schema):
    label: Literal["home", "work", "school", "family", "other"] = "home"
    address_id: int


class SignUpIn(Schema):
    name: str = Field(max_length=200)
    language: Literal["nl", "fr", "de", "en"]
    contact_points: list[PointSchema] = Field(max_length=6)
    addresses: list[AddressSchema] = Field(max_length=5)
    deaf: bool = False
    opt_out_general: bool = False
    opt_out_bin: bool = False
    consent: bool
    consent_version: str
    challenge: str = Field(max_length=200)
    nonce: str = Field(max_length=20)
    referrer_nis: str = Field(default="", max_length=5)


class PointOut(Schema):
    id: int
    kind: str
    value: str
    sms: bool
    voice: bool
    verified: bool


class RegistrationOut(Schema):
    id: str
    status: str
    name: str
    language: str
    deaf: bool
    opt_out_general: bool
    opt_out_bin: bool
    contact_points: list[PointOut]
    addresses: list[dict[str, Any]]


class VerifyIn(Schema):
    point_id: int
    code: str = Field(max_length=12)


class SignInIn(Schema):
    contact: str = Field(max_length=254)
    challenge: str = Field(max_length=200)
    nonce: str = Field(max_length=20)


class SignInStarted(Schema):
    attempt: str
    detail: str


class SignInFinish(Schema):
    attempt: str = Field(max_length=500)
    code: str = Field(max_length=12)


class TokenOut(Schema):
    token: str
    expires_in: int
    registration: RegistrationOut


class UpdateIn(Schema):
    name: str | None = Field(default=None, max_length=200)
    language: Literal["nl", "fr", "de", "en"] | None = None
    deaf: bool | None = None
    opt_out_general: bool | None = None
    opt_out_bin: bool | None = None
    addresses: list[AddressSchema] | None = Field(default=None, max_length=5)


class AddressOut(Schema):
    id: int
    label: str
    postcode: str
    nis_code: str
    lon: float
    lat: float


class CoverageOut(Schema):
    people: int
    addresses: int
    by_language: dict[str, int]
    by_channel: dict[str, int]
    suppressed: bool = Field(description="true when a figure below 5 was reported as 0 (BA-7.4)")


class LookupIn(Schema):
    contact: str = Field(max_length=254)
    reason: str = Field(max_length=500)


def _out(registration: Registration) -> RegistrationOut:
    points = ContactPoint.objects.filter(registration=registration).order_by("id")
    return RegistrationOut(
        id=str(registration.public_id),
        status=registration.status,
        name=registration.name,
        language=registration.language,
        deaf=registration.deaf,
        opt_out_general=registration.opt_out_general,
        opt_out_bin=registration.opt_out_bin,
        contact_points=[
            PointOut(id=p.pk, kind=p.kind, value=p.value, sms=p.sms, voice=p.voice, verified=bool(p.verified_at))
            for p in points
        ],
        addresses=[
            {"label": a.label, "address": a.text, "postcode": a.postcode, "nis_code": a.nis_code}
            for a in registration.addresses.order_by("id")
        ],
    )


def _registration(public_id: str) -> Registration:
    """The registration whose points are being verified: its id (random, given only to the registrant) and the
    code sent to the point are both needed."""
    registration = Registration.objects.filter(public_id=public_id).first() if _is_uuid(public_id) else None
    if registration is None:
        raise RuleError(gettext_noop("Unknown registration."), field="id")
    return registration


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@router.get("/citizens/challenge", response=ChallengeOut, auth=None, summary="A proof-of-work challenge")
def challenge(request: HttpRequest) -> dict[str, Any]:
    """Find a decimal ``nonce`` such that SHA-256 of ``challenge + ":" + nonce`` starts with ``bits`` zero bits."""
    return services.challenge_issue()


@router.get("/citizens/addresses", response=list[AddressOut], auth=None, summary="Find an address in the register")
def addresses(request: HttpRequest, q: str = "", language: str = "nl") -> list[AddressOut]:
    services.address_lookup_allowed(client_ip(request))
    found = geo_selectors.address_search(q[:200])
    lang = language if language in ("nl", "fr", "de") else "nl"
    return [
        AddressOut(id=a.pk, label=a.label(lang), postcode=a.postcode, nis_code=a.municipality_id, lon=a.lon, lat=a.lat)
        for a in found
    ]


@router.post("/citizens/registrations", response={201: RegistrationOut}, auth=None, summary="Register (voluntarily)")
def sign_up(request: HttpRequest, payload: SignUpIn) -> Status[RegistrationOut]:
    _json_only(request)
    result = services.registration_sign_up(
        name=payload.name,
        language=payload.language,
        contact_points=[services.PointIn(p.kind, p.value, p.sms, p.voice) for p in payload.contact_points],
        addresses=[services.AddressIn(a.label, a.address_id) for a in payload.addresses],
        deaf=payload.deaf,
        opt_out_general=payload.opt_out_general,
        opt_out_bin=payload.opt_out_bin,
        consent=payload.consent,
        consent_version=payload.consent_version,
        challenge=payload.challenge,
        nonce=payload.nonce,
        ip=client_ip(request),
        referrer_nis=payload.referrer_nis,
    )
    return Status(201, _out(result.registration))


class VerifyOut(Schema):
    status: str
    point_id: int
    verified: bool


@router.post("/citizens/registrations/{public_id}/verify", response=VerifyOut, auth=None)
def verify(request: HttpRequest, public_id: str, payload: VerifyIn) -> VerifyOut:
    """Verify one contact point with its code. The answer holds no personal data: sign in to see the record."""
    _json_only(request)
    registration = _registration(public_id)
    services.contact_point_verify(registration=registration, point_id=payload.point_id, code=payload.code)
    registration.refresh_from_db()
    return VerifyOut(status=registration.status, point_id=payload.point_id, verified=True)


def _json_only(request: HttpRequest) -> None:
    """No-account POSTs take JSON only: a hostile page cannot make browsers post them as text/plain
    (a "simple" cross-site request, sent without asking) and so spend their IP addresses' limits."""
    if request.content_type != "application/json":
        raise HttpError(415, "Send JSON (Content-Type: application/json).")


@router.post("/citizens/sign-in", response=SignInStarted, auth=None, summary="Ask for a sign-in code")
def sign_in(request: HttpRequest, payload: SignInIn) -> SignInStarted:
    _json_only(request)
    attempt = services.sign_in_start(
        contact=payload.contact, challenge=payload.challenge, nonce=payload.nonce, ip=client_ip(request)
    )
    return SignInStarted(attempt=attempt, detail="If this contact point is registered, a code is on its way.")


@router.post("/citizens/sign-in/verify", response=TokenOut, auth=None, summary="Exchange the code for a token")
def sign_in_verify(request: HttpRequest, payload: SignInFinish) -> TokenOut:
    _json_only(request)
    registration = services.sign_in_finish(attempt=payload.attempt, code=payload.code)
    return TokenOut(
        token=services.api_token_for(registration), expires_in=services.TOKEN_TTL_S, registration=_out(registration)
    )


@router.get("/citizens/me", response=RegistrationOut, auth=CitizenAuth())
def me(request: HttpRequest) -> RegistrationOut:
    return _out(request.auth)  # type: ignore[attr-defined]


@router.patch("/citizens/me", response=RegistrationOut, auth=CitizenAuth())
def me_update(request: HttpRequest, payload: UpdateIn) -> RegistrationOut:
    registration = services.registration_update(
        registration=request.auth,  # type: ignore[attr-defined]
        name=payload.name,
        language=payload.language,
        deaf=payload.deaf,
        opt_out_general=payload.opt_out_general,
        opt_out_bin=payload.opt_out_bin,
        addresses=[services.AddressIn(a.label, a.address_id) for a in payload.addresses]
        if payload.addresses is not None
        else None,
    )
    return _out(registration)


@router.post("/citizens/me/pause", response=RegistrationOut, auth=CitizenAuth())
def me_pause(request: HttpRequest) -> RegistrationOut:
    return _out(services.registration_pause(registration=request.auth))  # type: ignore[attr-defined]


@router.post("/citizens/me/resume", response=RegistrationOut, auth=CitizenAuth())
def me_resume(request: HttpRequest) -> RegistrationOut:
    return _out(services.registration_resume(registration=request.auth))  # type: ignore[attr-defined]


@router.get("/citizens/me/export", response=dict[str, Any], auth=CitizenAuth(), summary="All my data (GDPR)")
def me_export(request: HttpRequest) -> dict[str, Any]:
    return selectors.registration_export(request.auth)  # type: ignore[attr-defined]


@router.delete("/citizens/me", response={204: None}, auth=CitizenAuth(), summary="Erase my registration")
def me_delete(request: HttpRequest) -> Status[None]:
    services.registration_erase(registration=request.auth, ip=client_ip(request))  # type: ignore[attr-defined]
    return Status(204, None)


@router.post("/citizens/coverage", response=CoverageOut, summary="Registered people in an area: counts only")
def coverage(request: HttpRequest, area: Annotated[dict[str, Any], Body()]) -> CoverageOut:
    """The area as ``{"type": "polygon", "geometry": GeoJSON}``,
    ``{"type": "circle", "center": [lon, lat], "radius_m": 500}``,
    ``{"type": "municipalities", "nis_codes": […]}`` or ``{"type": "postcodes", "postcodes": […]}``."""
    user: User = request.auth  # type: ignore[attr-defined]
    result = selectors.coverage(actor=user, area=geo_domain.area_from_json(area))
    return CoverageOut(**result.__dict__)


@router.post("/citizens/lookup", response=list[dict[str, Any]], summary="Look a registration up (crisis centre)")
def lookup(request: HttpRequest, payload: LookupIn) -> list[dict[str, Any]]:
    user: User = request.auth  # type: ignore[attr-defined]
    return selectors.registration_lookup(
        actor=user, contact=payload.contact, reason=payload.reason, ip=client_ip(request)
    )


class BinJoinIn(Schema):
    code: str = Field(max_length=40)


class BinLeaveIn(Schema):
    group_id: int


class BinGroupOut(Schema):
    id: int
    name: str
    organisation: str


def _groups(registration: Registration) -> list[BinGroupOut]:
    from tocsin.audiences.selectors import bin_groups_of_registration

    return [
        BinGroupOut(id=g.pk, name=g.name, organisation=g.organisation.name)
        for g in bin_groups_of_registration(registration_id=registration.pk)
    ]


@router.get("/citizens/me/bin-groups", response=list[BinGroupOut], auth=CitizenAuth(), summary="My BIN groups")
def me_bin_groups(request: HttpRequest) -> list[BinGroupOut]:
    return _groups(request.auth)  # type: ignore[attr-defined]


@router.post("/citizens/me/bin-groups", response=list[BinGroupOut], auth=CitizenAuth(), summary="Join a BIN group")
def me_bin_join(request: HttpRequest, payload: BinJoinIn) -> list[BinGroupOut]:
    """Join with the group's invitation code (BA-7-BIN); refused while the BIN opt-out is on."""
    from tocsin.audiences.services import bin_group_join

    registration: Registration = request.auth  # type: ignore[attr-defined]
    bin_group_join(code=payload.code, registration_id=registration.pk)
    return _groups(registration)


@router.post("/citizens/me/bin-groups/leave", response=list[BinGroupOut], auth=CitizenAuth(), summary="Leave one")
def me_bin_leave(request: HttpRequest, payload: BinLeaveIn) -> list[BinGroupOut]:
    from tocsin.audiences.services import bin_group_leave

    registration: Registration = request.auth  # type: ignore[attr-defined]
    bin_group_leave(group_id=payload.group_id, registration_id=registration.pk)
    return _groups(registration)


@router.post("/citizens/me/contact-points", response=RegistrationOut, auth=CitizenAuth(), summary="Add a contact point")
def me_point_add(request: HttpRequest, payload: PointSchema) -> RegistrationOut:
    """The new point gets a code; verify it with ``POST /citizens/registrations/{id}/verify``."""
    registration: Registration = request.auth  # type: ignore[attr-defined]
    services.contact_point_add(
        registration=registration, point=services.PointIn(payload.kind, payload.value, payload.sms, payload.voice)
    )
    return _out(registration)


class PointRef(Schema):
    point_id: int


@router.post("/citizens/me/contact-points/remove", response=RegistrationOut, auth=CitizenAuth())
def me_point_remove(request: HttpRequest, payload: PointRef) -> RegistrationOut:
    registration: Registration = request.auth  # type: ignore[attr-defined]
    services.contact_point_remove(registration=registration, point_id=payload.point_id)
    return _out(registration)

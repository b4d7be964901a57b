"""API operations for organisations, members, agreements and directives (thin: one service each)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from pydantic import AfterValidator

from tocsin.organisations import selectors, services
from tocsin.organisations.models import User

router = Router()


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; say so on the field instead of failing at the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


def _actor(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


def _ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class OrganisationOut(Schema):
    id: int
    name: str
    kind: str
    entity_type: int | None
    status: str
    status_reason: str
    bin_option: bool
    nis_code: str
    sms_sender: str
    languages: list[str]
    recognition_reference: str
    activated_at: datetime | None


class MemberOut(Schema):
    id: int
    email: str
    full_name: str
    roles: list[str]
    is_active: bool
    has_password: bool

    @staticmethod
    def resolve_has_password(obj: User) -> bool:
        return obj.has_usable_password()


class MeOut(Schema):
    id: int
    email: str
    full_name: str
    roles: list[str]
    organisation: OrganisationOut


class InviteIn(Schema):
    email: Text = Field(max_length=254)
    full_name: Text = Field(min_length=1, max_length=200)
    roles: list[Text]


class RolesIn(Schema):
    roles: list[Text]


class OrganisationIn(Schema):
    name: Text = Field(min_length=1, max_length=200)
    kind: Text
    admin_email: Text = Field(max_length=254)
    admin_name: Text = Field(min_length=1, max_length=200)
    bin_option: bool = False
    contact_email: Text = Field(default="", max_length=254)


class ActivationIn(Schema):
    nis_code: Text = Field(default="", max_length=5)
    sms_sender: Text = Field(default="", max_length=11)
    languages: list[Text] = Field(default_factory=list)
    recognition_reference: Text = Field(default="", max_length=100)


class ReasonIn(Schema):
    reason: Text = Field(max_length=2000)


class PublishIn(Schema):
    title: Text = Field(min_length=1, max_length=200)
    text: Text = Field(min_length=1, max_length=100_000)


class ConditionsOut(Schema):
    number: int
    title: str
    text: str
    published_at: datetime


class DecisionIn(Schema):
    version: int
    decision: Literal["accept", "refuse", "terminate"]


class DecisionOut(Schema):
    version: int
    decision: str
    at: datetime

    @staticmethod
    def resolve_version(obj: object) -> int:
        return obj.version.number  # type: ignore[attr-defined]


class DirectiveOut(Schema):
    id: int
    title: str
    text: str
    published_at: datetime
    acknowledged: bool = False


def _directive(d: object, acknowledged: bool) -> dict[str, object]:
    return {
        "id": d.pk,  # type: ignore[attr-defined]
        "title": d.title,  # type: ignore[attr-defined]
        "text": d.text,  # type: ignore[attr-defined]
        "published_at": d.published_at,  # type: ignore[attr-defined]
        "acknowledged": acknowledged,
    }


@router.get("/me", response=MeOut, tags=["people"], summary="The token's user and organisation")
def me(request: HttpRequest) -> User:
    return _actor(request)


@router.get(
    "/members",
    response=list[MemberOut],
    tags=["people"],
    summary="Members of your organisation (admins)",
)
def member_list(request: HttpRequest) -> list[User]:
    return list(selectors.member_list(actor=_actor(request), ip=_ip(request)))


@router.post(
    "/members",
    response={201: MemberOut},
    tags=["people"],
    summary="Invite a person (one-time link by e-mail)",
)
def member_invite(request: HttpRequest, payload: InviteIn) -> Status[User]:
    return Status(201, services.user_invite(actor=_actor(request), **payload.dict()))


@router.get("/members/{user_id}", response=MemberOut, tags=["people"])
def member_get(request: HttpRequest, user_id: int) -> User:
    return selectors.member_get(actor=_actor(request), user_id=user_id, ip=_ip(request))


@router.put("/members/{user_id}/roles", response=MemberOut, tags=["people"])
def member_roles(request: HttpRequest, user_id: int, payload: RolesIn) -> User:
    return services.user_set_roles(actor=_actor(request), user_id=user_id, roles=payload.roles)


@router.post("/members/{user_id}/reset-access", response=MemberOut, tags=["people"],
             summary="Clear password and authenticator; a new one-time link is e-mailed")  # fmt: skip
def member_reset_access(request: HttpRequest, user_id: int) -> User:
    return services.user_reset_access(actor=_actor(request), user_id=user_id).user


@router.post("/members/{user_id}/deactivate", response=MemberOut, tags=["people"])
def member_deactivate(request: HttpRequest, user_id: int) -> User:
    return services.user_deactivate(actor=_actor(request), user_id=user_id)


@router.get("/organisations", response=list[OrganisationOut], tags=["organisations"],
            summary="All organisations (crisis centre) or your own")  # fmt: skip
def organisation_list(request: HttpRequest) -> list[object]:
    return list(selectors.organisation_list(actor=_actor(request)))


@router.post("/organisations", response={201: OrganisationOut}, tags=["organisations"],
             summary="Register a requested organisation (crisis centre)")  # fmt: skip
def organisation_create(request: HttpRequest, payload: OrganisationIn) -> Status[object]:
    return Status(201, services.organisation_create(actor=_actor(request), **payload.dict()))


@router.get("/organisations/{organisation_id}", response=OrganisationOut, tags=["organisations"])
def organisation_get(request: HttpRequest, organisation_id: int) -> object:
    return selectors.organisation_get(actor=_actor(request), organisation_id=organisation_id)


@router.post("/organisations/{organisation_id}/activate", response=OrganisationOut, tags=["organisations"])
def organisation_activate(request: HttpRequest, organisation_id: int, payload: ActivationIn) -> object:
    return services.organisation_activate(actor=_actor(request), organisation_id=organisation_id, **payload.dict())


@router.post("/organisations/{organisation_id}/suspend", response=OrganisationOut, tags=["organisations"])
def organisation_suspend(request: HttpRequest, organisation_id: int, payload: ReasonIn) -> object:
    return services.organisation_suspend(actor=_actor(request), organisation_id=organisation_id, reason=payload.reason)


@router.post("/organisations/{organisation_id}/reinstate", response=OrganisationOut, tags=["organisations"])
def organisation_reinstate(request: HttpRequest, organisation_id: int, payload: ReasonIn) -> object:
    return services.organisation_reinstate(
        actor=_actor(request), organisation_id=organisation_id, reason=payload.reason
    )


@router.post("/organisations/{organisation_id}/terminate", response=OrganisationOut, tags=["organisations"])
def organisation_terminate(request: HttpRequest, organisation_id: int, payload: ReasonIn) -> object:
    return services.organisation_terminate(
        actor=_actor(request), organisation_id=organisation_id, reason=payload.reason
    )


@router.get("/conditions", response=list[ConditionsOut], tags=["agreement"], summary="Published versions")
def conditions_list(request: HttpRequest) -> list[object]:
    return list(selectors.conditions_versions(actor=_actor(request)))


@router.post("/conditions", response={201: ConditionsOut}, tags=["agreement"],
             summary="Publish a new version (crisis centre); every entity's admins are notified")  # fmt: skip
def conditions_publish(request: HttpRequest, payload: PublishIn) -> Status[object]:
    return Status(201, services.conditions_publish(actor=_actor(request), **payload.dict()))


@router.get("/agreement/decisions", response=list[DecisionOut], tags=["agreement"])
def agreement_decisions(request: HttpRequest) -> list[object]:
    return list(selectors.agreement_decisions(actor=_actor(request)))


@router.post("/agreement/decisions", response={201: DecisionOut}, tags=["agreement"],
             summary="Accept, refuse or terminate under a version of the conditions (BA-9)")  # fmt: skip
def agreement_decide(request: HttpRequest, payload: DecisionIn) -> Status[object]:
    return Status(
        201, services.agreement_decide(actor=_actor(request), version_number=payload.version, decision=payload.decision)
    )


@router.get("/directives", response=list[DirectiveOut], tags=["directives"])
def directive_list(request: HttpRequest) -> list[dict[str, object]]:
    return [_directive(d, ack is not None) for d, ack in selectors.directive_list(actor=_actor(request))]


@router.post("/directives", response={201: DirectiveOut}, tags=["directives"],
             summary="Publish a security directive (crisis centre)")  # fmt: skip
def directive_publish(request: HttpRequest, payload: PublishIn) -> Status[dict[str, object]]:
    return Status(201, _directive(services.directive_publish(actor=_actor(request), **payload.dict()), False))


@router.post("/directives/{directive_id}/acknowledge", response=DirectiveOut, tags=["directives"])
def directive_acknowledge(request: HttpRequest, directive_id: int) -> dict[str, object]:
    ack = services.directive_acknowledge(actor=_actor(request), directive_id=directive_id)
    return _directive(ack.directive, True)

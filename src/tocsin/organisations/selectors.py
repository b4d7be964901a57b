"""Reads, always through the acting user (tenant isolation, invariant 4)."""

from __future__ import annotations

from django.db.models import QuerySet

from tocsin.audit.services import audit_record
from tocsin.organisations.domain import Role, gettext_noop
from tocsin.organisations.models import (
    AgreementDecision,
    ApiToken,
    ConditionsVersion,
    DirectiveAcknowledgement,
    Notice,
    Organisation,
    SecurityDirective,
    User,
)
from tocsin.organisations.services import AccessDenied, NotFound, access_check


def member_list(*, actor: User, ip: str | None = None) -> QuerySet[User]:
    """The members of the actor's organisation. Names and e-mails are personal data: audited."""
    access_check(actor)
    if not actor.has_role(Role.ADMIN):
        raise AccessDenied(gettext_noop("Only an administrator of your organisation may see its members."))
    qs = User.objects.filter(organisation_id=actor.organisation_id).order_by("full_name")
    audit_record(
        action="personal_data.read",
        actor=actor,
        organisation_id=actor.organisation_id,
        object_type="member_list",
        data={"count": qs.count()},
        ip=ip,
    )
    return qs


def member_get(*, actor: User, user_id: int, ip: str | None = None) -> User:
    access_check(actor)
    if not actor.has_role(Role.ADMIN) and actor.pk != user_id:
        raise AccessDenied(gettext_noop("Only an administrator of your organisation may see its members."))
    user = User.objects.filter(pk=user_id, organisation_id=actor.organisation_id).first()
    if user is None:
        raise NotFound(gettext_noop("No such member."))
    if user.pk != actor.pk:
        audit_record(
            action="personal_data.read",
            actor=actor,
            organisation_id=actor.organisation_id,
            object_type="user",
            object_id=user.pk,
            ip=ip,
        )
    return user


def api_token_list(*, actor: User) -> QuerySet[ApiToken]:
    access_check(actor)
    return ApiToken.objects.filter(user=actor).order_by("-created_at")


def organisation_list(*, actor: User) -> QuerySet[Organisation]:
    access_check(actor)
    if not actor.organisation.is_crisis_centre:
        return Organisation.objects.filter(pk=actor.organisation_id)
    return Organisation.objects.all().order_by("name")


def organisation_get(*, actor: User, organisation_id: int) -> Organisation:
    org = organisation_list(actor=actor).filter(pk=organisation_id).first()
    if org is None:
        raise NotFound(gettext_noop("No such organisation."))
    return org


def conditions_latest() -> ConditionsVersion | None:
    return ConditionsVersion.objects.order_by("-number").first()


def conditions_pending(*, actor: User) -> ConditionsVersion | None:
    """The latest conditions when the actor's organisation has not decided on them yet."""
    latest = conditions_latest()
    if latest is None or actor.organisation.is_crisis_centre:
        return None
    if AgreementDecision.objects.filter(organisation_id=actor.organisation_id, version=latest).exists():
        return None
    return latest


def agreement_decisions(*, actor: User) -> QuerySet[AgreementDecision]:
    access_check(actor)
    return AgreementDecision.objects.filter(organisation_id=actor.organisation_id).select_related("version", "by")


def directive_list(*, actor: User) -> list[tuple[SecurityDirective, DirectiveAcknowledgement | None]]:
    access_check(actor)
    acks = {
        a.directive_id: a
        for a in DirectiveAcknowledgement.objects.filter(organisation_id=actor.organisation_id).select_related("by")
    }
    return [(d, acks.get(d.pk)) for d in SecurityDirective.objects.order_by("-published_at")]


def notices_unread(*, actor: User) -> QuerySet[Notice]:
    return Notice.objects.filter(user=actor, read_at__isnull=True).order_by("-created_at")


def conditions_versions(*, actor: User) -> QuerySet[ConditionsVersion]:
    access_check(actor)
    return ConditionsVersion.objects.order_by("-number")


def directive_overview(*, actor: User) -> list[tuple[SecurityDirective, list[DirectiveAcknowledgement]]]:
    """Crisis centre: each directive with the entities that acknowledged it."""
    access_check(actor)
    if not actor.organisation.is_crisis_centre:
        raise AccessDenied(gettext_noop("Only the crisis centre sees who acknowledged a directive."))
    acks: dict[int, list[DirectiveAcknowledgement]] = {}
    for ack in DirectiveAcknowledgement.objects.select_related("organisation", "by").order_by("at"):
        acks.setdefault(ack.directive_id, []).append(ack)
    return [(d, acks.get(d.pk, [])) for d in SecurityDirective.objects.order_by("-published_at")]

"""Writes for organisations, people, access, agreements and directives.

Every function takes the acting user (``actor``) and checks what that actor
may do, so the portal, the API and the CLI obey the same rules.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from tocsin.audit.services import audit_record
from tocsin.organisations import domain
from tocsin.organisations.domain import Explained, Kind, Role, RuleError, Status, gettext_noop
from tocsin.organisations.models import (
    Agreement,
    AgreementDecision,
    ApiToken,
    ConditionsVersion,
    DirectiveAcknowledgement,
    Invitation,
    Notice,
    Organisation,
    OrganisationEvent,
    SecurityDirective,
    User,
)


class AccessDenied(Explained, PermissionError):
    """The actor may not do this; the message says why (shown to the person)."""

    def __init__(self, message: str, *, rule: str | None = None, params: dict[str, object] | None = None):
        super().__init__(message, params)
        self.rule = rule


class NotFound(Explained, LookupError):
    """Absent, or belongs to another organisation: both look the same from outside."""


# --- who may act -------------------------------------------------------------


def access_refusal(org: Organisation) -> AccessDenied | None:
    """Why an organisation's members may not act now, or None when they may (BA-7.4)."""
    if org.status == Status.SUSPENDED.value:
        return AccessDenied(
            gettext_noop("Access for %(name)s has been suspended by the crisis centre. Reason: %(reason)s"),
            rule="BA-7.4",
            params={"name": org.name, "reason": org.status_reason or "—"},
        )
    if org.status == Status.TERMINATED.value:
        return AccessDenied(
            gettext_noop("The agreement of %(name)s has ended; access is closed."),
            rule="BA-9",
            params={"name": org.name},
        )
    if org.status != Status.ACTIVE.value:
        return AccessDenied(
            gettext_noop("%(name)s is not activated yet."), rule="BA-8-ACTIVATION", params={"name": org.name}
        )
    return None


def access_check(user: Any) -> None:
    """Refuse every action of a user whose organisation is not active (BA-7.4)."""
    if not user or not user.is_authenticated or not user.is_active:
        raise AccessDenied(gettext_noop("Sign in first."))
    refusal = access_refusal(user.organisation)
    if refusal is not None:
        raise refusal


def _require_org_admin(actor: User) -> None:
    access_check(actor)
    if not actor.has_role(Role.ADMIN):
        raise AccessDenied(gettext_noop("Only an administrator of your organisation may do this."))


def require_crisis_admin(actor: User) -> None:
    access_check(actor)
    if not (actor.organisation.is_crisis_centre and actor.has_role(Role.ADMIN)):
        raise AccessDenied(gettext_noop("Only an administrator of the crisis centre may do this."))


_require_crisis_admin = require_crisis_admin


def _member(actor: User, user_id: int) -> User:
    """A member of the actor's own organisation, locked for update (tenant isolation).

    The organisation's admins are locked first, always in the same order, so two admins
    changing each other at once wait for each other instead of deadlocking.
    """
    list(
        User.objects.select_for_update()
        .filter(organisation_id=actor.organisation_id, roles__contains=[Role.ADMIN.value])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    try:
        return User.objects.select_for_update().get(pk=user_id, organisation_id=actor.organisation_id)
    except User.DoesNotExist:
        raise NotFound(gettext_noop("No such member.")) from None


def _notify(users: Any, *, subject: str, body: str, params: dict[str, Any], link: str) -> None:
    """Subject and body are English templates; each person reads them in their own language."""
    from tocsin.organisations.tasks import send_notice_email

    for user in users:
        notice = Notice.objects.create(user=user, subject=subject, body=body, params=params, link=link)
        # Deferred on Django's connection: the job commits with the notice, or not at all.
        send_notice_email.defer(notice_id=notice.pk)


def _audit_organisation(
    action: str, *, actor: User | None, org: Organisation, data: dict[str, Any] | None = None
) -> None:
    audit_record(
        action=action, actor=actor, organisation_id=org.pk, object_type="organisation", object_id=org.pk, data=data
    )


def _audit_user(action: str, *, actor: User | None, user: User, data: dict[str, Any] | None = None) -> None:
    audit_record(
        action=action,
        actor=actor,
        organisation_id=user.organisation_id,
        object_type="user",
        object_id=user.pk,
        data=data,
    )


# --- organisations -----------------------------------------------------------


def _clean_email(value: str, field: str) -> str:
    value = (value or "").strip().lower()
    try:
        validate_email(value)
    except ValidationError:
        raise RuleError(gettext_noop("Enter a valid e-mail address."), field=field) from None
    return value


def _record_status(org: Organisation, *, to: Status, reason: str, actor: User | None) -> None:
    OrganisationEvent.objects.create(
        organisation=org, from_status=org.status, to_status=to.value, reason=reason, by=actor
    )
    org.status = to.value
    org.status_reason = reason


def _close_access(org: Organisation, *, to: Status, reason: str, actor: User) -> None:
    """Suspend or terminate: the status changes and every open session ends with the epoch (BA-7.4)."""
    domain.check_transition(Status(org.status), to)
    _record_status(org, to=to, reason=reason, actor=actor)
    org.access_epoch = F("access_epoch") + 1
    org.save()
    org.refresh_from_db()


def organisation_create(
    *,
    actor: User,
    name: str,
    kind: str,
    admin_email: str,
    admin_name: str,
    bin_option: bool = False,
    contact_email: str = "",
) -> Organisation:
    """Register an entity as *requested*, with the person who will be its first admin."""
    _require_crisis_admin(actor)
    name = (name or "").strip()
    if not name:
        raise RuleError(gettext_noop("Enter the organisation's name."), field="name")
    try:
        kind_ = Kind(kind)
    except ValueError:
        raise RuleError(gettext_noop("Choose a kind of organisation."), field="kind") from None
    if kind_ is Kind.CRISIS_CENTRE:
        raise RuleError(gettext_noop("There is one crisis centre; it cannot be created again."), field="kind")
    if bin_option and kind_ not in domain.ALERTING:
        raise RuleError(
            gettext_noop("The BIN option is for alerting entities (type 1 or 2)."),
            field="bin_option",
            rule="BA-7-BIN",
        )
    admin_email = _clean_email(admin_email, "admin_email")
    admin_name = (admin_name or "").strip()
    if not admin_name:
        raise RuleError(gettext_noop("Enter the first administrator's name."), field="admin_name")
    if contact_email:
        contact_email = _clean_email(contact_email, "contact_email")
    if User.objects.filter(email__iexact=admin_email).exists():
        raise RuleError(gettext_noop("A person with this e-mail address already has an account."), field="admin_email")
    with transaction.atomic():
        org = Organisation.objects.create(
            name=name, kind=kind_.value, bin_option=bin_option, contact_email=contact_email
        )
        OrganisationEvent.objects.create(organisation=org, to_status=Status.REQUESTED.value, by=actor)
        Agreement.objects.create(organisation=org)
        admin = User(email=admin_email, full_name=admin_name, organisation=org, roles=[Role.ADMIN.value])
        admin.set_unusable_password()
        try:
            with transaction.atomic():
                admin.save()
        except IntegrityError:
            raise RuleError(
                gettext_noop("A person with this e-mail address already has an account."), field="admin_email"
            ) from None
        _audit_organisation(
            "organisation.requested",
            actor=actor,
            org=org,
            data={"name": name, "kind": kind_.value, "bin_option": bin_option},
        )
    return org


def organisation_activate(
    *,
    actor: User,
    organisation_id: int,
    nis_code: str = "",
    sms_sender: str = "",
    languages: list[str] | None = None,
    recognition_reference: str = "",
) -> Organisation:
    """Activate with the entity's own parameters (BA-8-ACTIVATION; KB-3 for internal services)."""
    _require_crisis_admin(actor)
    languages = list(languages or [])
    with transaction.atomic():
        org = _org_for_update(organisation_id)
        kind = Kind(org.kind)
        domain.check_transition(Status(org.status), Status.ACTIVE)
        if org.status != Status.REQUESTED.value:
            raise RuleError(gettext_noop("Use reinstate for a suspended organisation."), field="status")
        domain.check_activation(
            kind,
            recognition_reference=recognition_reference,
            nis_code=nis_code,
            sms_sender=sms_sender,
            languages=languages,
        )
        org.nis_code = nis_code
        org.sms_sender = sms_sender
        org.languages = languages
        org.recognition_reference = recognition_reference.strip()
        org.activated_at = timezone.now()
        _record_status(org, to=Status.ACTIVE, reason="", actor=actor)
        org.save()
        from tocsin.billing.services import activation_book

        activation_book(org)  # BA-8-ACTIVATION, with the first year's subscription (BA-8-SUBSCRIPTION)
        _audit_organisation(
            "organisation.activated",
            actor=actor,
            org=org,
            data={
                "nis_code": nis_code,
                "sms_sender": sms_sender,
                "languages": languages,
                "recognition_reference": org.recognition_reference,
            },
        )
        for admin in org.members.filter(roles__contains=[Role.ADMIN.value], is_active=True):
            if not admin.has_usable_password():
                _invitation_create(user=admin, invited_by=actor)
    return org


def _org_for_update(organisation_id: int) -> Organisation:
    try:
        return Organisation.objects.select_for_update().get(pk=organisation_id)
    except Organisation.DoesNotExist:
        raise NotFound(gettext_noop("No such organisation.")) from None


def _need_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise RuleError(
            gettext_noop("Give the reason; the organisation's members will see it."),
            field="reason",
            rule="BA-7.4",
        )
    return reason


def organisation_suspend(*, actor: User, organisation_id: int, reason: str) -> Organisation:
    """Cut an entity's access at once: sessions and API tokens included (BA-7.4)."""
    _require_crisis_admin(actor)
    reason = _need_reason(reason)
    with transaction.atomic():
        org = _org_for_update(organisation_id)
        if org.is_crisis_centre:
            raise RuleError(gettext_noop("The crisis centre cannot suspend itself."), field="organisation")
        _close_access(org, to=Status.SUSPENDED, reason=reason, actor=actor)
        _audit_organisation("organisation.suspended", actor=actor, org=org, data={"reason": reason})
    return org


def organisation_reinstate(*, actor: User, organisation_id: int, reason: str) -> Organisation:
    _require_crisis_admin(actor)
    reason = _need_reason(reason)
    with transaction.atomic():
        org = _org_for_update(organisation_id)
        if org.status != Status.SUSPENDED.value:
            raise RuleError(gettext_noop("Only a suspended organisation can be reinstated."), field="status")
        domain.check_transition(Status(org.status), Status.ACTIVE)
        _record_status(org, to=Status.ACTIVE, reason=reason, actor=actor)
        org.status_reason = ""
        org.save()
        _audit_organisation("organisation.reinstated", actor=actor, org=org, data={"reason": reason})
    return org


def _terminate(org: Organisation, *, reason: str, actor: User) -> None:
    _close_access(org, to=Status.TERMINATED, reason=reason, actor=actor)
    now = timezone.now()
    ApiToken.objects.filter(user__organisation=org, revoked_at__isnull=True).update(revoked_at=now)
    Agreement.objects.filter(organisation=org).update(terminated_at=now)


def organisation_terminate(*, actor: User, organisation_id: int, reason: str) -> Organisation:
    _require_crisis_admin(actor)
    reason = _need_reason(reason)
    with transaction.atomic():
        org = _org_for_update(organisation_id)
        if org.is_crisis_centre:
            raise RuleError(gettext_noop("The crisis centre cannot terminate itself."), field="organisation")
        _terminate(org, reason=reason, actor=actor)
        _audit_organisation("organisation.terminated", actor=actor, org=org, data={"reason": reason})
    return org


# --- people ------------------------------------------------------------------


_TOKEN_SHAPE = re.compile(r"[0-9]{1,18}\.[0-9a-f]{40}")


def _invitation_token(invitation: Invitation, nonce: str) -> str:
    mac = hmac.new(settings.SECRET_KEY.encode(), f"invite:{invitation.pk}:{nonce}".encode(), hashlib.sha256)
    return f"{invitation.pk}.{mac.hexdigest()[:40]}"


def invitation_url(invitation: Invitation) -> str:
    """The one-time link; derived from a stored nonce and the secret key, never stored itself."""
    token = _invitation_token(invitation, invitation.nonce)
    return settings.BASE_URL.rstrip("/") + reverse("web:invitation", args=[token])


def _invitation_create(*, user: User, invited_by: User | None) -> Invitation:
    from tocsin.organisations.tasks import send_invitation_email

    Invitation.objects.filter(user=user, used_at__isnull=True).update(expires_at=timezone.now())
    invitation = Invitation.objects.create(
        organisation=user.organisation,
        user=user,
        nonce=secrets.token_hex(32),
        invited_by=invited_by,
        expires_at=timezone.now() + timedelta(hours=settings.TOCSIN_INVITATION_HOURS),
    )
    _audit_user("user.invited", actor=invited_by, user=user, data={"email": user.email, "roles": user.roles})
    send_invitation_email.defer(invitation_id=invitation.pk)
    return invitation


def user_invite(*, actor: User, email: str, full_name: str, roles: list[str]) -> User:
    """Invite a person into the actor's organisation; they set their own password (BA-7.4)."""
    _require_org_admin(actor)
    email = _clean_email(email, "email")
    full_name = (full_name or "").strip()
    if not full_name:
        raise RuleError(gettext_noop("Enter the person's full name."), field="full_name")
    roles = domain.check_roles(Kind(actor.organisation.kind), roles)
    with transaction.atomic():
        if User.objects.filter(email__iexact=email).exists():
            raise RuleError(gettext_noop("A person with this e-mail address already has an account."), field="email")
        user = User(
            email=email, full_name=full_name, organisation=actor.organisation, roles=roles, language=actor.language
        )
        user.set_unusable_password()
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:
            raise RuleError(
                gettext_noop("A person with this e-mail address already has an account."), field="email"
            ) from None
        _invitation_create(user=user, invited_by=actor)
    return user


def invitation_resend(*, actor: User, user_id: int) -> Invitation:
    _require_org_admin(actor)
    with transaction.atomic():
        user = _member(actor, user_id)
        if not user.is_active:
            raise RuleError(gettext_noop("This account is deactivated."), field="user")
        if user.has_usable_password():
            raise RuleError(gettext_noop("This person has already set a password."), field="user")
        return _invitation_create(user=user, invited_by=actor)


def user_reset_access(*, actor: User, user_id: int) -> Invitation:
    """A forgotten password or a lost phone: the admin clears both and a new one-time link goes out.

    The person chooses a new password and enrols a new authenticator; nobody
    else ever sees or sets either (BA-7.4). Their open sessions end with the
    old password (Django ties a session to the password hash) and the lock
    is lifted.
    """
    _require_org_admin(actor)
    with transaction.atomic():
        user = _member(actor, user_id)
        if user.pk == actor.pk:
            raise RuleError(gettext_noop("Ask another administrator to reset your own access."), field="user")
        if not user.is_active:
            raise RuleError(gettext_noop("This account is deactivated."), field="user")
        user.set_unusable_password()
        user.failed_logins = 0
        user.locked_until = None
        user.save(update_fields=["password", "failed_logins", "locked_until"])
        TOTPDevice.objects.filter(user=user).delete()
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        _audit_user("user.access_reset", actor=actor, user=user)
        return _invitation_create(user=user, invited_by=actor)


def invitation_lookup(token: str) -> Invitation:
    """The open invitation behind a token, or NotFound (same answer for every failure)."""
    if not _TOKEN_SHAPE.fullmatch(token or ""):
        raise NotFound(gettext_noop("This invitation link is not valid."))
    invitation = Invitation.objects.select_related("user", "organisation").filter(pk=int(token.split(".")[0])).first()
    if invitation is None or not hmac.compare_digest(_invitation_token(invitation, invitation.nonce), token):
        raise NotFound(gettext_noop("This invitation link is not valid."))
    if invitation.used_at is not None or invitation.expires_at <= timezone.now() or not invitation.user.is_active:
        raise NotFound(
            gettext_noop("This invitation link has expired or was already used. Ask your administrator for a new one.")
        )
    return invitation


def invitation_accept(*, token: str, password: str, password_again: str) -> User:
    """The invited person chooses their own password; the link then stops working."""
    invitation = invitation_lookup(token)
    if password != password_again:
        raise RuleError(gettext_noop("The two passwords differ."), field="password_again")
    user = invitation.user
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise RuleError(" ".join(exc.messages), field="password") from None
    with transaction.atomic():
        updated = Invitation.objects.filter(pk=invitation.pk, used_at__isnull=True).update(used_at=timezone.now())
        if not updated:
            raise NotFound(gettext_noop("This invitation link was already used."))
        user.set_password(password)
        user.save(update_fields=["password"])
        _audit_user("user.password_set", actor=user, user=user)
    return user


def user_set_roles(*, actor: User, user_id: int, roles: list[str]) -> User:
    _require_org_admin(actor)
    roles = domain.check_roles(Kind(actor.organisation.kind), roles)
    with transaction.atomic():
        user = _member(actor, user_id)
        before = list(user.roles)
        if Role.ADMIN.value in before and Role.ADMIN.value not in roles:
            _check_not_last_admin(user)
        user.roles = roles
        user.save(update_fields=["roles"])
        if domain.requires_2fa(roles) and not domain.requires_2fa(before):
            # Tokens made by someone who needed no second factor must not carry the new rights.
            ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        _audit_user("user.roles_changed", actor=actor, user=user, data={"before": before, "after": roles})
    return user


def _check_not_last_admin(user: User) -> None:
    # Lock all the organisation's admins: two admins demoting each other at once must not both succeed.
    admins = list(
        User.objects.select_for_update()
        .filter(organisation_id=user.organisation_id, is_active=True, roles__contains=[Role.ADMIN.value])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    others = [pk for pk in admins if pk != user.pk]
    if not others:
        raise RuleError(gettext_noop("An organisation keeps at least one active administrator."), field="roles")


def user_deactivate(*, actor: User, user_id: int) -> User:
    """Close a member's access: sign-in, sessions and API tokens."""
    _require_org_admin(actor)
    with transaction.atomic():
        user = _member(actor, user_id)
        if user.pk == actor.pk:
            raise RuleError(gettext_noop("You cannot deactivate your own account."), field="user")
        if user.has_role(Role.ADMIN):
            _check_not_last_admin(user)
        user.is_active = False
        user.save(update_fields=["is_active"])
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        Invitation.objects.filter(user=user, used_at__isnull=True).update(expires_at=timezone.now())
        _audit_user("user.deactivated", actor=actor, user=user)
    return user


# --- signing in --------------------------------------------------------------


class SignInRefused(Explained):
    pass


def _count_failure(*, user: User, why: str, ip: str | None) -> Any:
    """One more failed attempt, counted atomically; returns the lock end when it locks (BA-7.4).

    The row is locked while counting, so parallel guesses cannot each see a low count.
    """
    with transaction.atomic():
        row = User.objects.select_for_update().only("failed_logins", "locked_until").get(pk=user.pk)
        now = timezone.now()
        failures = row.failed_logins
        if row.locked_until and row.locked_until <= now:
            failures = 0  # an expired lock starts a fresh count
        failures += 1
        locked_until = None
        if failures >= settings.TOCSIN_LOGIN_MAX_FAILURES:
            locked_until = now + timedelta(seconds=settings.TOCSIN_LOGIN_LOCK_SECONDS)
        User.objects.filter(pk=user.pk).update(failed_logins=failures, locked_until=locked_until)
        audit_record(
            action="auth.sign_in_failed",
            actor=user,
            organisation_id=user.organisation_id,
            data={"why": why, "failures": failures, "locked": locked_until is not None},
            ip=ip,
        )
    return locked_until


def sign_in_check(*, email: str, password: str, ip: str | None) -> User:
    """Check a password with throttling and lock-out; audits every outcome."""
    email = (email or "").strip().lower()
    # One answer for every refusal (unknown address, wrong password, locked, deactivated): nothing
    # tells an outsider which addresses have an account.
    refused = SignInRefused(
        gettext_noop(
            "The e-mail address or the password is wrong. After %(max)s failed attempts an account is "
            "locked for %(minutes)s minutes."
        ),
        {"max": settings.TOCSIN_LOGIN_MAX_FAILURES, "minutes": settings.TOCSIN_LOGIN_LOCK_SECONDS // 60},
    )
    user = User.objects.select_related("organisation").filter(email__iexact=email).first()
    if user is None:
        User().set_password(password)  # same work as a real check: no timing oracle
        with transaction.atomic():
            audit_record(action="auth.sign_in_failed", data={"email": email[:254], "why": "unknown"}, ip=ip)
        raise refused
    with transaction.atomic():
        # The row stays locked through the check: parallel guesses queue up behind each other and
        # each one sees the count (and the lock) the one before it left.
        row = User.objects.select_for_update().get(pk=user.pk)
        password_ok = row.check_password(password)  # always, so a deactivated account answers as slowly
        locked = bool(row.locked_until and row.locked_until > timezone.now())
        if locked:
            audit_record(
                action="auth.sign_in_failed", actor=user, organisation_id=user.organisation_id,
                data={"why": "locked"}, ip=ip,
            )  # fmt: skip
        elif not row.is_active or not password_ok:
            _count_failure(user=user, why="password" if row.is_active else "inactive", ip=ip)
    # Raised only after the commit: the failure count and the audit entry must stay.
    if locked or not row.is_active or not password_ok:
        raise refused
    return user


def sign_in_succeeded(*, user: User, ip: str | None, second_factor: bool, language: str = "") -> None:
    """Resets the failure count; remembers the portal language for the person's e-mails."""
    changes: dict[str, Any] = {"failed_logins": 0, "locked_until": None, "last_login": timezone.now()}
    if language in domain.LANGS:
        changes["language"] = language
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(**changes)
        audit_record(
            action="auth.signed_in",
            actor=user,
            organisation_id=user.organisation_id,
            data={"second_factor": second_factor},
            ip=ip,
        )


def second_factor_failed(*, user: User, ip: str | None) -> bool:
    """A wrong TOTP code counts towards the same lock-out as a wrong password; True when now locked."""
    return _count_failure(user=user, why="second_factor", ip=ip) is not None


def sign_in_locked(user: User) -> bool:
    """A session between password and code must not outlive a lock set meanwhile."""
    locked_until = User.objects.filter(pk=user.pk).values_list("locked_until", flat=True).first()
    return bool(locked_until and locked_until > timezone.now())


def totp_device_start(*, user: User) -> TOTPDevice:
    """An unconfirmed TOTP device for enrolment (replaces any earlier unconfirmed one)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


def totp_device_confirm(*, user: User, device_id: int, code: str) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, pk=device_id, confirmed=False).first()
    if device is None:
        raise RuleError(gettext_noop("Start the enrolment again."), field="code")
    if not device.verify_is_allowed()[0]:
        raise RuleError(gettext_noop("Too many wrong codes in a row: wait a few seconds and try again."), field="code")
    if not (code or "").strip().isdigit() or not device.verify_token(code.strip()):
        raise RuleError(
            gettext_noop("This code is not right. Check the time on your phone and try again."), field="code"
        )
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        _audit_user("auth.second_factor_enrolled", actor=user, user=user)
    return device


# --- API tokens --------------------------------------------------------------

TOKEN_PREFIX = "tcs_"


def _hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_token_create(*, actor: User, name: str) -> tuple[ApiToken, str]:
    """A new token acting as ``actor``; the secret is returned once and never stored."""
    access_check(actor)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise RuleError(
            gettext_noop("Name the token (1 to 100 characters), e.g. after the system that uses it."),
            field="name",
        )
    prefix = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(user=actor, name=name, prefix=prefix, token_hash=_hash_token(secret))
        audit_record(
            action="api_token.created",
            actor=actor,
            organisation_id=actor.organisation_id,
            object_type="api_token",
            object_id=token.pk,
            data={"name": name, "prefix": prefix},
        )
    return token, secret


def api_token_revoke(*, actor: User, token_id: int) -> ApiToken:
    """Revoke one's own token, or (admins) any token of a member of the organisation."""
    access_check(actor)
    with transaction.atomic():
        qs = ApiToken.objects.select_for_update().filter(pk=token_id, user__organisation_id=actor.organisation_id)
        if not actor.has_role(Role.ADMIN):
            qs = qs.filter(user=actor)
        token = qs.first()
        if token is None:
            raise NotFound(gettext_noop("No such token."))
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(
                action="api_token.revoked",
                actor=actor,
                organisation_id=actor.organisation_id,
                object_type="api_token",
                object_id=token.pk,
            )
    return token


def api_token_authenticate(raw: str) -> User | None:
    """The user behind a bearer token, or None. Organisation status is checked by the caller."""
    if not raw or not raw.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user", "user__organisation")
        .filter(token_hash=_hash_token(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    if token.user.needs_2fa and not TOTPDevice.objects.filter(user=token.user, confirmed=True).exists():
        raise AccessDenied(
            gettext_noop("Your roles need two-factor sign-in: set it up in the portal before using API tokens."),
            rule="BA-7.4",
        )
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


# --- agreements and directives (BA-9, BA-7.4) --------------------------------


def conditions_publish(*, actor: User, title: str, text: str) -> ConditionsVersion:
    """Publish a new version of the conditions; every entity's admins are told (BA-9)."""
    _require_crisis_admin(actor)
    title, text = (title or "").strip(), (text or "").strip()
    if not title:
        raise RuleError(gettext_noop("Enter a title."), field="title")
    if not text:
        raise RuleError(gettext_noop("Enter the text of the conditions."), field="text")
    with transaction.atomic():
        # Serialise publications so version numbers never collide.
        Organisation.objects.select_for_update().filter(kind=Kind.CRISIS_CENTRE.value).first()
        last = ConditionsVersion.objects.order_by("-number").first()
        version = ConditionsVersion.objects.create(
            number=(last.number + 1) if last else 1, title=title, text=text, published_by=actor
        )
        audit_record(
            action="conditions.published",
            actor=actor,
            organisation_id=actor.organisation_id,
            object_type="conditions",
            object_id=version.number,
            data={"title": title},
        )
        admins = User.objects.filter(
            is_active=True,
            roles__contains=[Role.ADMIN.value],
            organisation__status__in=[
                Status.ACTIVE.value,
                Status.SUSPENDED.value,
                Status.REQUESTED.value,
            ],
        ).exclude(organisation__kind=Kind.CRISIS_CENTRE.value)
        _notify(
            admins,
            subject=gettext_noop("New conditions: version %(number)s"),
            body=gettext_noop(
                "The crisis centre published version %(number)s of the conditions (%(title)s). "
                "You may accept them, refuse them (your agreement continues under the version you accepted) "
                "or end the agreement without penalty."
            ),
            params={"number": version.number, "title": title},
            link=reverse("web:agreement"),
        )
    return version


def agreement_decide(*, actor: User, version_number: int, decision: str) -> AgreementDecision:
    """Accept, refuse or terminate under a version of the conditions (BA-9)."""
    _require_org_admin(actor)
    if decision not in {
        AgreementDecision.ACCEPT,
        AgreementDecision.REFUSE,
        AgreementDecision.TERMINATE,
    }:
        raise RuleError(gettext_noop("Choose accept, refuse or terminate."), field="decision")
    org = actor.organisation
    if org.is_crisis_centre:
        raise RuleError(
            gettext_noop("The crisis centre publishes the conditions; it does not sign them."), field="decision"
        )
    with transaction.atomic():
        org = _org_for_update(org.pk)
        version = ConditionsVersion.objects.filter(number=version_number).first()
        if version is None:
            raise RuleError(gettext_noop("No such version of the conditions."), field="version")
        latest = ConditionsVersion.objects.order_by("-number").first()
        if latest and version.pk != latest.pk and decision != AgreementDecision.TERMINATE:
            raise RuleError(
                gettext_noop("Decide on the latest version (%(number)s)."),
                field="version",
                rule="BA-9",
                params={"number": latest.number},
            )
        if AgreementDecision.objects.filter(organisation=org, version=version).exists():
            raise RuleError(
                gettext_noop("Your organisation already decided on this version."), field="version", rule="BA-9"
            )
        record = AgreementDecision.objects.create(organisation=org, version=version, decision=decision, by=actor)
        agreement, _ = Agreement.objects.get_or_create(organisation=org)
        if decision == AgreementDecision.ACCEPT:
            agreement.accepted_version = version
            agreement.accepted_at = record.at
            agreement.save(update_fields=["accepted_version", "accepted_at"])
        elif decision == AgreementDecision.TERMINATE:
            _terminate(org, reason=f"Agreement ended by the entity under conditions v{version.number} (BA-9).",
                       actor=actor)  # fmt: skip
        audit_record(
            action=f"agreement.{decision}",
            actor=actor,
            organisation_id=org.pk,
            object_type="conditions",
            object_id=version.number,
        )
    return record


def directive_publish(*, actor: User, title: str, text: str) -> SecurityDirective:
    _require_crisis_admin(actor)
    title, text = (title or "").strip(), (text or "").strip()
    if not title:
        raise RuleError(gettext_noop("Enter a title."), field="title")
    if not text:
        raise RuleError(gettext_noop("Enter the directive's text."), field="text")
    with transaction.atomic():
        directive = SecurityDirective.objects.create(title=title, text=text, published_by=actor)
        audit_record(
            action="directive.published",
            actor=actor,
            organisation_id=actor.organisation_id,
            object_type="directive",
            object_id=directive.pk,
            data={"title": title},
        )
        admins = User.objects.filter(
            is_active=True,
            roles__contains=[Role.ADMIN.value],
            organisation__status=Status.ACTIVE.value,
        ).exclude(organisation__kind=Kind.CRISIS_CENTRE.value)
        _notify(
            admins,
            subject=gettext_noop("Security directive: %(title)s"),
            body=gettext_noop(
                "The crisis centre issued a security directive. Read it and acknowledge it for your organisation."
            ),
            params={"title": title},
            link=reverse("web:directives"),
        )
    return directive


def directive_acknowledge(*, actor: User, directive_id: int) -> DirectiveAcknowledgement:
    _require_org_admin(actor)
    directive = SecurityDirective.objects.filter(pk=directive_id).first()
    if directive is None:
        raise NotFound(gettext_noop("No such directive."))
    with transaction.atomic():
        ack, created = DirectiveAcknowledgement.objects.get_or_create(
            directive=directive, organisation_id=actor.organisation_id, defaults={"by": actor}
        )
        if created:
            audit_record(
                action="directive.acknowledged",
                actor=actor,
                organisation_id=actor.organisation_id,
                object_type="directive",
                object_id=directive.pk,
            )
    return ack


def notice_mark_read(*, actor: User, notice_id: int) -> None:
    Notice.objects.filter(pk=notice_id, user=actor, read_at__isnull=True).update(read_at=timezone.now())


# --- bootstrap ---------------------------------------------------------------


def platform_bootstrap(*, crisis_centre_name: str, email: str, full_name: str) -> tuple[User, Invitation | None]:
    """The crisis centre and its first administrator (``tocsin createadmin``)."""
    email = _clean_email(email, "email")
    with transaction.atomic():
        cc = Organisation.objects.filter(kind=Kind.CRISIS_CENTRE.value).first()
        if cc is None:
            cc = Organisation.objects.create(
                name=crisis_centre_name, kind=Kind.CRISIS_CENTRE.value, status=Status.ACTIVE.value,
                activated_at=timezone.now(),
            )  # fmt: skip
            OrganisationEvent.objects.create(organisation=cc, to_status=Status.ACTIVE.value)
            audit_record(action="organisation.activated", organisation_id=cc.pk, object_type="organisation",
                         object_id=cc.pk, data={"name": cc.name, "bootstrap": True})  # fmt: skip
        if User.objects.filter(email__iexact=email).exists():
            raise RuleError(gettext_noop("A person with this e-mail address already has an account."), field="email")
        user = User(
            email=email,
            full_name=full_name,
            organisation=cc,
            roles=[Role.ADMIN.value],
            is_staff=True,
        )
        user.set_unusable_password()
        user.save()
        invitation = _invitation_create(user=user, invited_by=None)
    return user, invitation

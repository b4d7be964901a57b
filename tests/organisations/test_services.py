"""Organisations, people, access, agreements and directives through the services."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from tests.organisations.factories import PASSWORD, UserFactory
from tocsin.audit.models import AuditEntry
from tocsin.organisations import selectors, services
from tocsin.organisations.domain import RuleError
from tocsin.organisations.models import (
    AgreementDecision,
    ApiToken,
    Invitation,
    Notice,
    Organisation,
    OrganisationEvent,
    User,
)
from tocsin.organisations.tasks import send_invitation_email


def _token_of(invitation: Invitation) -> str:
    return services.invitation_url(invitation).rstrip("/").rsplit("/", 1)[-1]


# --- lifecycle -----------------------------------------------------------------


def test_ba_8_activation_request_then_activate_invites_first_admin(cc_admin):
    org = services.organisation_create(
        actor=cc_admin, name="Stad Aalst", kind="municipality", admin_email="Burgemeester@Aalst.be", admin_name="B"
    )
    assert org.status == "requested"
    admin = User.objects.get(organisation=org)
    assert admin.email == "burgemeester@aalst.be" and not admin.has_usable_password()
    assert not Invitation.objects.filter(user=admin).exists()
    org = services.organisation_activate(
        actor=cc_admin, organisation_id=org.pk, nis_code="41002", sms_sender="Aalst", languages=["nl"]
    )
    assert org.status == "active" and org.activated_at
    invitation = Invitation.objects.get(user=admin)
    assert ProcrastinateJob.objects.filter(task_name__endswith="send_invitation_email", queue_name="mail").exists()
    send_invitation_email(invitation_id=invitation.pk)
    assert mail.outbox[-1].to == ["burgemeester@aalst.be"]
    assert services.invitation_url(invitation) in mail.outbox[-1].body
    assert [e.to_status for e in OrganisationEvent.objects.filter(organisation=org)] == ["requested", "active"]
    assert AuditEntry.objects.filter(action="organisation.activated", organisation_id=org.pk).exists()


def test_ba_8_activation_with_bad_parameters_changes_nothing(cc_admin):
    org = services.organisation_create(
        actor=cc_admin, name="Stad Aalst", kind="municipality", admin_email="a@aalst.be", admin_name="A"
    )
    with pytest.raises(RuleError) as exc:
        services.organisation_activate(actor=cc_admin, organisation_id=org.pk, nis_code="41", sms_sender="Aalst",
                                       languages=["nl"])  # fmt: skip
    assert exc.value.field == "nis_code"
    org.refresh_from_db()
    assert org.status == "requested" and org.nis_code == ""
    assert not Invitation.objects.exists()


def test_kb_3_internal_alarm_service_activated_only_when_recognised(cc_admin):
    org = services.organisation_create(
        actor=cc_admin, name="Interne dienst NMBS", kind="internal_alarm_service", admin_email="i@nmbs.be",
        admin_name="I",
    )  # fmt: skip
    with pytest.raises(RuleError) as exc:
        services.organisation_activate(actor=cc_admin, organisation_id=org.pk)
    assert exc.value.rule == "KB-3"
    org = services.organisation_activate(actor=cc_admin, organisation_id=org.pk, recognition_reference="MB 12/03/2026")
    assert org.status == "active" and org.recognition_reference == "MB 12/03/2026"


def test_ba_7_bin_option_only_for_alerting_entities(cc_admin):
    with pytest.raises(RuleError) as exc:
        services.organisation_create(actor=cc_admin, name="X", kind="alarm_central", admin_email="x@x.be",
                                     admin_name="X", bin_option=True)  # fmt: skip
    assert exc.value.rule == "BA-7-BIN"
    org = services.organisation_create(actor=cc_admin, name="PZ", kind="police_zone", admin_email="p@pz.be",
                                       admin_name="P", bin_option=True)  # fmt: skip
    assert org.bin_option and org.entity_type == 2


def test_only_the_crisis_centre_manages_organisations(muni_admin, crisis_centre):
    with pytest.raises(services.AccessDenied):
        services.organisation_create(actor=muni_admin, name="X", kind="municipality", admin_email="x@x.be",
                                     admin_name="X")  # fmt: skip
    with pytest.raises(services.AccessDenied):
        services.organisation_suspend(actor=muni_admin, organisation_id=crisis_centre.pk, reason="coup")


def test_ba_7_4_suspension_needs_a_reason_and_cuts_tokens(cc_admin, muni_admin):
    from tests.organisations.factories import totp_device

    totp_device(muni_admin)
    _token, secret = services.api_token_create(actor=muni_admin, name="gis")
    assert services.api_token_authenticate(secret) == muni_admin
    with pytest.raises(RuleError) as exc:
        services.organisation_suspend(actor=cc_admin, organisation_id=muni_admin.organisation_id, reason="  ")
    assert exc.value.field == "reason"
    org = services.organisation_suspend(
        actor=cc_admin, organisation_id=muni_admin.organisation_id, reason="Passwords shared by e-mail"
    )
    assert org.status == "suspended" and org.access_epoch == 1
    user = User.objects.get(pk=muni_admin.pk)
    refusal = services.access_refusal(user.organisation)
    assert refusal is not None and "Passwords shared by e-mail" in refusal.message
    with pytest.raises(services.AccessDenied):
        services.user_invite(actor=user, email="n@z.be", full_name="N", roles=["viewer"])
    services.organisation_reinstate(actor=cc_admin, organisation_id=org.pk, reason="Directive now followed")
    org.refresh_from_db()
    assert org.status == "active" and org.status_reason == "" and org.access_epoch == 1
    reasons = list(OrganisationEvent.objects.filter(organisation=org).values_list("to_status", "reason"))
    assert reasons[-2:] == [("suspended", "Passwords shared by e-mail"), ("active", "Directive now followed")]


def test_crisis_centre_cannot_suspend_itself(cc_admin):
    with pytest.raises(RuleError):
        services.organisation_suspend(actor=cc_admin, organisation_id=cc_admin.organisation_id, reason="test")


def test_termination_revokes_every_token(cc_admin, muni_admin):
    services.api_token_create(actor=muni_admin, name="a")
    services.organisation_terminate(actor=cc_admin, organisation_id=muni_admin.organisation_id, reason="Merged")
    assert not ApiToken.objects.filter(user=muni_admin, revoked_at__isnull=True).exists()
    with pytest.raises(RuleError):
        services.organisation_reinstate(actor=cc_admin, organisation_id=muni_admin.organisation_id, reason="x")


# --- people ---------------------------------------------------------------------


def test_ba_7_4_invitation_lets_the_person_set_their_own_password(muni_admin):
    user = services.user_invite(actor=muni_admin, email="nieuw@zottegem.be", full_name="Nieuw", roles=["operator"])
    assert not user.has_usable_password()
    invitation = Invitation.objects.get(user=user)
    token = _token_of(invitation)
    assert token not in str(Invitation.objects.values_list().get(pk=invitation.pk))  # link not stored
    with pytest.raises(RuleError) as exc:
        services.invitation_accept(token=token, password="short", password_again="short")
    assert exc.value.field == "password"
    with pytest.raises(RuleError) as exc:
        services.invitation_accept(token=token, password=PASSWORD, password_again=PASSWORD + "x")
    assert exc.value.field == "password_again"
    services.invitation_accept(token=token, password=PASSWORD, password_again=PASSWORD)
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert user.password.startswith("argon2")
    with pytest.raises(services.NotFound):
        services.invitation_accept(token=token, password=PASSWORD, password_again=PASSWORD)


def test_ba_7_4_no_password_in_any_email(muni_admin):
    services.user_invite(actor=muni_admin, email="nieuw@zottegem.be", full_name="Nieuw", roles=["viewer"])
    send_invitation_email(invitation_id=Invitation.objects.get().pk)
    body = mail.outbox[-1].body
    assert "/invitation/" in body  # a link to choose one...
    assert PASSWORD not in body and "pbkdf2" not in body and "argon2" not in body  # ...and no password


def test_invitation_email_in_the_inviters_language(muni_admin):
    User.objects.filter(pk=muni_admin.pk).update(language="fr")
    muni_admin.refresh_from_db()
    services.user_invite(actor=muni_admin, email="nouveau@zottegem.be", full_name="Nouveau", roles=["viewer"])
    send_invitation_email(invitation_id=Invitation.objects.get().pk)
    assert "mot de passe" in mail.outbox[-1].body


def test_invitation_tokens_cannot_be_forged_or_reused_after_expiry(muni_admin):
    services.user_invite(actor=muni_admin, email="n@zottegem.be", full_name="N", roles=["viewer"])
    invitation = Invitation.objects.get()
    token = _token_of(invitation)
    for forged in (f"{invitation.pk}.{'0' * 40}", "abc", "", token + "0", f"{invitation.pk + 1}.{token[-40:]}"):
        with pytest.raises(services.NotFound):
            services.invitation_lookup(forged)
    Invitation.objects.update(expires_at=timezone.now())
    with pytest.raises(services.NotFound):
        services.invitation_lookup(token)


def test_ba_7_1_a_user_belongs_to_one_organisation_and_email_is_unique(muni_admin, police_admin):
    with pytest.raises(RuleError) as exc:
        services.user_invite(actor=police_admin, email="ADMIN@zottegem.be", full_name="Dup", roles=["viewer"])
    assert exc.value.field == "email"


def test_bad_invite_writes_nothing(muni_admin):
    before = (User.objects.count(), AuditEntry.objects.count(), ProcrastinateJob.objects.count())
    for kwargs, field in [
        ({"email": "not-an-email", "full_name": "X", "roles": ["viewer"]}, "email"),
        ({"email": "x@z.be", "full_name": " ", "roles": ["viewer"]}, "full_name"),
        ({"email": "x@z.be", "full_name": "X", "roles": ["arc_operator"]}, "roles"),
        ({"email": "x@z.be", "full_name": "X", "roles": []}, "roles"),
    ]:
        with pytest.raises(RuleError) as exc:
            services.user_invite(actor=muni_admin, **kwargs)
        assert exc.value.field == field
    assert (User.objects.count(), AuditEntry.objects.count(), ProcrastinateJob.objects.count()) == before


def test_tenant_isolation_members_of_another_organisation_are_not_found(muni_admin, police_admin):
    other = UserFactory(organisation=police_admin.organisation, roles=["operator"])
    with pytest.raises(services.NotFound):
        services.user_set_roles(actor=muni_admin, user_id=other.pk, roles=["viewer"])
    with pytest.raises(services.NotFound):
        services.user_deactivate(actor=muni_admin, user_id=other.pk)
    with pytest.raises(services.NotFound):
        selectors.member_get(actor=muni_admin, user_id=other.pk)
    assert list(selectors.member_list(actor=muni_admin)) == [muni_admin]
    token, _ = services.api_token_create(actor=other, name="theirs")
    with pytest.raises(services.NotFound):
        services.api_token_revoke(actor=muni_admin, token_id=token.pk)


def test_only_admins_manage_members(municipality):
    operator = UserFactory(organisation=municipality, roles=["operator"])
    with pytest.raises(services.AccessDenied):
        services.user_invite(actor=operator, email="x@z.be", full_name="X", roles=["viewer"])
    with pytest.raises(services.AccessDenied):
        selectors.member_list(actor=operator)


def test_last_admin_keeps_the_role_and_nobody_deactivates_themself(muni_admin):
    with pytest.raises(RuleError):
        services.user_set_roles(actor=muni_admin, user_id=muni_admin.pk, roles=["operator"])
    with pytest.raises(RuleError):
        services.user_deactivate(actor=muni_admin, user_id=muni_admin.pk)


def test_deactivation_revokes_tokens_and_is_audited(muni_admin):
    other = UserFactory(organisation=muni_admin.organisation, roles=["operator"])
    _t, secret = services.api_token_create(actor=other, name="x")
    services.user_deactivate(actor=muni_admin, user_id=other.pk)
    assert services.api_token_authenticate(secret) is None
    entry = AuditEntry.objects.get(action="user.deactivated")
    assert entry.actor_id == muni_admin.pk and entry.object_id == str(other.pk)


def test_role_changes_are_audited(muni_admin):
    other = UserFactory(organisation=muni_admin.organisation, roles=["viewer"])
    services.user_set_roles(actor=muni_admin, user_id=other.pk, roles=["operator", "viewer"])
    entry = AuditEntry.objects.get(action="user.roles_changed")
    assert entry.data == {"before": ["viewer"], "after": ["operator", "viewer"]}


def test_personal_data_reads_are_audited(muni_admin):
    selectors.member_list(actor=muni_admin, ip="192.0.2.7")
    entry = AuditEntry.objects.get(action="personal_data.read")
    assert entry.actor_id == muni_admin.pk and str(entry.ip) == "192.0.2.7"


# --- signing in -------------------------------------------------------------------


def test_ba_7_4_lock_out_after_repeated_failures(muni_admin, settings):
    settings.TOCSIN_LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        with pytest.raises(services.SignInRefused):
            services.sign_in_check(email=muni_admin.email, password="wrong", ip=None)
    with pytest.raises(services.SignInRefused) as exc:
        services.sign_in_check(email=muni_admin.email, password=PASSWORD, ip=None)
    assert "locked" in exc.value.message
    assert AuditEntry.objects.filter(action="auth.sign_in_failed").count() == 4


def test_unknown_and_wrong_password_look_the_same(muni_admin):
    with pytest.raises(services.SignInRefused) as unknown:
        services.sign_in_check(email="nobody@x.be", password="x", ip=None)
    with pytest.raises(services.SignInRefused) as wrong:
        services.sign_in_check(email=muni_admin.email, password="x", ip=None)
    assert unknown.value.message == wrong.value.message


def test_api_tokens_are_stored_hashed_and_revocable(muni_admin):
    token, secret = services.api_token_create(actor=muni_admin, name="GIS koppeling")
    assert secret.startswith("tcs_") and secret not in str(ApiToken.objects.values_list().get(pk=token.pk))
    services.api_token_revoke(actor=muni_admin, token_id=token.pk)
    assert services.api_token_authenticate(secret) is None


# --- agreements and directives (BA-9, BA-7.4) ----------------------------------------


def test_ba_9_new_conditions_notify_every_entity_admin(cc_admin, muni_admin, police_admin):
    version = services.conditions_publish(actor=cc_admin, title="Voorwaarden 2027", text="...")
    assert version.number == 1
    assert set(Notice.objects.values_list("user__email", flat=True)) == {muni_admin.email, police_admin.email}
    assert ProcrastinateJob.objects.filter(task_name__endswith="send_notice_email").count() == 2
    assert services.conditions_publish(actor=cc_admin, title="v2", text="...").number == 2


def test_ba_9_accept_refuse_or_terminate_without_penalty(cc_admin, muni_admin, police_admin):
    v1 = services.conditions_publish(actor=cc_admin, title="v1", text="...")
    services.agreement_decide(actor=muni_admin, version_number=v1.number, decision="accept")
    services.conditions_publish(actor=cc_admin, title="v2", text="...")
    # Refusing keeps the agreement under the version accepted before.
    services.agreement_decide(actor=muni_admin, version_number=2, decision="refuse")
    muni = Organisation.objects.get(pk=muni_admin.organisation_id)
    assert muni.status == "active" and muni.agreement.accepted_version == v1
    with pytest.raises(RuleError):
        services.agreement_decide(actor=muni_admin, version_number=2, decision="accept")  # already decided
    with pytest.raises(RuleError):
        services.agreement_decide(actor=police_admin, version_number=1, decision="accept")  # not the latest
    services.agreement_decide(actor=police_admin, version_number=2, decision="terminate")
    police = Organisation.objects.get(pk=police_admin.organisation_id)
    assert police.status == "terminated" and police.agreement.terminated_at
    assert list(AgreementDecision.objects.values_list("decision", flat=True).order_by("at")) == [
        "accept",
        "refuse",
        "terminate",
    ]
    assert AuditEntry.objects.filter(action="agreement.terminate", organisation_id=police.pk).exists()


def test_ba_7_4_directives_are_acknowledged_once_per_entity(cc_admin, muni_admin):
    directive = services.directive_publish(actor=cc_admin, title="2FA voor iedereen", text="...")
    assert Notice.objects.filter(user=muni_admin).exists()
    services.directive_acknowledge(actor=muni_admin, directive_id=directive.pk)
    services.directive_acknowledge(actor=muni_admin, directive_id=directive.pk)
    overview = selectors.directive_overview(actor=cc_admin)
    assert [(d.pk, [a.organisation_id for a in acks]) for d, acks in overview] == [
        (directive.pk, [muni_admin.organisation_id])
    ]
    assert AuditEntry.objects.filter(action="directive.acknowledged").count() == 1


def test_bootstrap_creates_one_crisis_centre(db):
    user, invitation = services.platform_bootstrap(crisis_centre_name="NCCN", email="a@nccn.be", full_name="A")
    assert user.organisation.is_crisis_centre and invitation is not None
    user2, _ = services.platform_bootstrap(crisis_centre_name="Other", email="b@nccn.be", full_name="B")
    assert user2.organisation == user.organisation
    assert Organisation.objects.filter(kind="crisis_centre").count() == 1


def test_ba_7_4_expired_lock_starts_a_fresh_count(muni_admin, settings):
    settings.TOCSIN_LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        with pytest.raises(services.SignInRefused):
            services.sign_in_check(email=muni_admin.email, password="wrong", ip=None)
    User.objects.filter(pk=muni_admin.pk).update(locked_until=timezone.now())  # the lock has run out
    with pytest.raises(services.SignInRefused):
        services.sign_in_check(email=muni_admin.email, password="wrong", ip=None)
    muni_admin.refresh_from_db()
    assert muni_admin.locked_until is None and muni_admin.failed_logins == 1  # no new lock
    assert services.sign_in_check(email=muni_admin.email, password=PASSWORD, ip=None) == muni_admin


def test_deactivated_person_invitation_stops_working(muni_admin):
    user = services.user_invite(actor=muni_admin, email="n@zottegem.be", full_name="N", roles=["viewer"])
    token = _token_of(Invitation.objects.get(user=user))
    services.user_deactivate(actor=muni_admin, user_id=user.pk)
    with pytest.raises(services.NotFound):
        services.invitation_lookup(token)
    with pytest.raises(RuleError):
        services.invitation_resend(actor=muni_admin, user_id=user.pk)


def test_audit_hash_survives_ipv6_round_trip(muni_admin):
    from tocsin.audit.services import audit_record, audit_verify

    audit_record(action="auth.signed_in", actor=muni_admin, ip="2001:0db8:0000:0000:0000:0000:0000:0001")
    assert audit_verify()[1] is None


def test_ba_7_4_admin_resets_access_without_seeing_a_password(muni_admin, settings):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.organisations.factories import totp_device

    settings.TOCSIN_LOGIN_MAX_FAILURES = 1
    person = UserFactory(organisation=muni_admin.organisation, roles=["operator"])
    totp_device(person)
    with pytest.raises(services.SignInRefused):
        services.sign_in_check(email=person.email, password="wrong", ip=None)
    invitation = services.user_reset_access(actor=muni_admin, user_id=person.pk)
    person.refresh_from_db()
    assert not person.has_usable_password() and person.locked_until is None
    assert not TOTPDevice.objects.filter(user=person).exists()
    services.invitation_accept(token=_token_of(invitation), password=PASSWORD, password_again=PASSWORD)
    assert services.sign_in_check(email=person.email, password=PASSWORD, ip=None) == person
    assert AuditEntry.objects.filter(action="user.access_reset", object_id=str(person.pk)).exists()
    with pytest.raises(RuleError):
        services.user_reset_access(actor=muni_admin, user_id=muni_admin.pk)

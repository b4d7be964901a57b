"""The portal: sign-in with 2FA, invitations, members, crisis-centre screens, access rules."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import code_for
from tests.organisations.factories import PASSWORD, UserFactory, totp_device
from tocsin.audit.models import AuditEntry
from tocsin.organisations import services
from tocsin.organisations.models import Invitation, Organisation, User


def _sign_in(client: Client, email: str, password: str = PASSWORD):
    return client.post(reverse("web:login"), {"email": email, "password": password})


def test_sign_in_page_is_served(client, db):
    response = client.get(reverse("web:login"))
    assert response.status_code == 200
    assert b'<label for="id_email"' in response.content


def test_ba_7_4_two_factor_required_after_password(client, muni_admin, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's back-off after a wrong code is tested below
    device = totp_device(muni_admin)
    response = _sign_in(client, muni_admin.email)
    assert response.url == reverse("web:login_verify")
    # Without the second factor, every page leads back to the code.
    assert client.get(reverse("web:members")).url == reverse("web:login_verify")
    assert client.post(reverse("web:login_verify"), {"code": "000000"}).status_code == 200
    response = client.post(reverse("web:login_verify"), {"code": code_for(device)})
    assert response.url == reverse("web:dashboard")
    assert client.get(reverse("web:members")).status_code == 200
    assert AuditEntry.objects.filter(action="auth.signed_in", actor_id=muni_admin.pk).exists()
    assert AuditEntry.objects.filter(action="auth.sign_in_failed", data__why="second_factor").exists()


def test_ba_7_4_enrolment_forced_for_roles_that_alert(client, municipality, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    operator = UserFactory(organisation=municipality, roles=["operator"])
    response = _sign_in(client, operator.email)
    assert response.url == reverse("web:login_enrol")
    assert client.get(reverse("web:dashboard")).url == reverse("web:login_enrol")
    page = client.get(reverse("web:login_enrol"))
    assert b"<svg" in page.content
    device = TOTPDevice.objects.get(user=operator, confirmed=False)
    bad = client.post(reverse("web:login_enrol"), {"code": "123"})
    assert bad.status_code == 200 and b'id="id_code-error"' in bad.content
    ok = client.post(reverse("web:login_enrol"), {"code": code_for(device)})
    assert ok.url == reverse("web:dashboard")
    assert client.get(reverse("web:dashboard")).status_code == 200


def test_wrong_codes_are_throttled(client, muni_admin):
    device = totp_device(muni_admin)
    _sign_in(client, muni_admin.email)
    client.post(reverse("web:login_verify"), {"code": "000000"})
    response = client.post(reverse("web:login_verify"), {"code": code_for(device)})
    assert b"wait a few seconds" in response.content or b"seconden" in response.content
    assert client.get(reverse("web:members")).status_code == 302


def test_viewer_without_device_signs_in_with_password_only(client, municipality):
    viewer = UserFactory(organisation=municipality, roles=["viewer"])
    assert _sign_in(client, viewer.email).url == reverse("web:dashboard")
    assert client.get(reverse("web:dashboard")).status_code == 200


def test_wrong_password_is_a_form_error_not_a_crash(client, muni_admin):
    response = _sign_in(client, muni_admin.email, "nope")
    assert response.status_code == 200
    assert b"wrong" in response.content or b"onjuist" in response.content


def test_invitation_page_sets_password(client, muni_admin):
    user = services.user_invite(actor=muni_admin, email="n@zottegem.be", full_name="Nieuwe Collega", roles=["viewer"])
    url = services.invitation_url(Invitation.objects.get(user=user))
    path = url[url.index("/invitation/") :]
    assert b"Nieuwe Collega" in client.get(path).content
    bad = client.post(path, {"password": "kort", "password_again": "kort"})
    assert bad.status_code == 200 and b'id="id_password-error"' in bad.content
    ok = client.post(path, {"password": PASSWORD, "password_again": PASSWORD})
    assert ok.url == reverse("web:login")
    assert client.get(path).status_code == 404


def test_ba_7_4_suspended_organisation_gets_403_with_reason(cc_admin, muni_admin, as_user):
    session = as_user(muni_admin)
    assert session.get(reverse("web:dashboard")).status_code == 200
    services.organisation_suspend(actor=cc_admin, organisation_id=muni_admin.organisation_id, reason="Misbruik")
    response = session.get(reverse("web:dashboard"))
    assert response.status_code == 403
    assert b"Misbruik" in response.content
    # The session is gone: after reinstatement it does not come back.
    services.organisation_reinstate(actor=cc_admin, organisation_id=muni_admin.organisation_id, reason="ok")
    assert session.get(reverse("web:dashboard")).status_code == 302
    # And a fresh sign-in while suspended is refused with the reason.
    services.organisation_suspend(actor=cc_admin, organisation_id=muni_admin.organisation_id, reason="Opnieuw")
    refused = _sign_in(Client(), muni_admin.email)
    assert refused.status_code == 403 and b"Opnieuw" in refused.content


def test_members_invite_and_audit_entry(muni_admin, as_user):
    session = as_user(muni_admin)
    response = session.post(
        reverse("web:members"), {"full_name": "Ann Peeters", "email": "ann@zottegem.be", "roles": ["operator"]}
    )
    assert response.status_code == 302
    assert User.objects.filter(email="ann@zottegem.be", organisation=muni_admin.organisation).exists()
    audit = session.get(reverse("web:audit"))
    assert b"user.invited" in audit.content


def test_bad_invite_form_shows_field_errors_and_writes_nothing(muni_admin, as_user):
    session = as_user(muni_admin)
    users = User.objects.count()
    response = session.post(reverse("web:members"), {"full_name": "", "email": "nope", "roles": ["arc_operator"]})
    assert response.status_code == 400
    assert b'id="id_email-error"' in response.content and b'id="id_full_name-error"' in response.content
    response = session.post(reverse("web:members"), {"full_name": "X", "email": "x@z.be", "roles": ["arc_operator"]})
    assert response.status_code == 400 and b'id="id_roles-error"' in response.content
    assert User.objects.count() == users


def test_tenant_isolation_other_organisations_member_is_404(muni_admin, police_admin, as_user):
    session = as_user(muni_admin)
    assert session.get(reverse("web:member_detail", args=[police_admin.pk])).status_code == 404
    response = session.post(reverse("web:member_detail", args=[police_admin.pk]), {"action": "deactivate"})
    assert response.status_code == 404
    police_admin.refresh_from_db()
    assert police_admin.is_active
    members = session.get(reverse("web:members"))
    assert police_admin.email.encode() not in members.content


def test_tenant_isolation_entities_cannot_open_crisis_centre_screens(muni_admin, police_admin, as_user):
    session = as_user(muni_admin)
    for url in (
        reverse("web:cc_organisations"),
        reverse("web:cc_organisation", args=[police_admin.organisation_id]),
        reverse("web:cc_publish", args=["conditions"]),
    ):
        assert session.get(url).status_code == 403
    assert session.post(reverse("web:cc_organisations"), {"name": "X", "kind": "municipality"}).status_code == 403


def test_tenant_isolation_audit_log_shows_own_organisation_only(muni_admin, police_admin, as_user):
    services.user_invite(actor=police_admin, email="secret@pz.be", full_name="Secret", roles=["viewer"])
    page = as_user(muni_admin).get(reverse("web:audit")).content
    assert b"secret@pz.be" not in page


def test_crisis_centre_registers_activates_and_suspends(cc_admin, as_user):
    session = as_user(cc_admin)
    response = session.post(
        reverse("web:cc_organisations"),
        {"name": "Gemeente Lede", "kind": "municipality", "admin_name": "L", "admin_email": "l@lede.be"},
    )
    org = Organisation.objects.get(name="Gemeente Lede")
    assert response.url == reverse("web:cc_organisation", args=[org.pk])
    url = reverse("web:cc_organisation", args=[org.pk])
    bad = session.post(url, {"action": "activate", "nis_code": "1", "sms_sender": "Lede", "languages": ["nl"]})
    assert bad.status_code == 400 and b'id="id_nis_code-error"' in bad.content
    session.post(url, {"action": "activate", "nis_code": "41034", "sms_sender": "Lede", "languages": ["nl"]})
    org.refresh_from_db()
    assert org.status == "active"
    no_reason = session.post(url, {"action": "suspend", "access-reason": ""})
    assert no_reason.status_code == 400 and b"BA-7.4" in no_reason.content
    session.post(url, {"action": "suspend", "access-reason": "Richtlijn niet gevolgd"})
    org.refresh_from_db()
    assert org.status == "suspended"
    assert b"Richtlijn niet gevolgd" in session.get(url).content
    unconfirmed = session.post(url, {"action": "terminate", "terminate-reason": "Fusie"})
    assert unconfirmed.status_code == 400 and b'id="id_terminate-confirm-error"' in unconfirmed.content
    org.refresh_from_db()
    assert org.status == "suspended"
    session.post(url, {"action": "terminate", "terminate-reason": "Fusie", "terminate-confirm": "on"})
    org.refresh_from_db()
    assert org.status == "terminated"


def test_ba_9_agreement_screen_accepts(cc_admin, muni_admin, as_user):
    services.conditions_publish(actor=cc_admin, title="Voorwaarden v1", text="Tekst")
    session = as_user(muni_admin)
    assert b"Voorwaarden v1" in session.get(reverse("web:dashboard")).content
    session.post(reverse("web:agreement"), {"decision": "accept"})
    muni_admin.organisation.refresh_from_db()
    assert muni_admin.organisation.agreement.accepted_version.number == 1


def test_api_token_screen_shows_secret_once(muni_admin, as_user):
    session = as_user(muni_admin)
    response = session.post(reverse("web:tokens"), {"name": "GIS"})
    assert b'id="new-token"' in response.content
    assert b'id="new-token"' not in session.get(reverse("web:tokens")).content


@pytest.mark.parametrize(
    ("lang", "text"), [("nl", "Aanmelden"), ("fr", "Se connecter"), ("de", "Anmelden"), ("en", "Sign in")]
)
def test_sign_in_page_in_four_languages(client, db, lang, text):
    client.cookies["django_language"] = lang
    response = client.get(reverse("web:login"))
    assert f'<html lang="{lang}">'.encode() in response.content
    assert text.encode() in response.content


def test_unknown_page_is_a_friendly_404(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Traceback" not in response.content


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(client, municipality):
    viewer = UserFactory(organisation=municipality, roles=["viewer"])
    client.get(reverse("web:login") + "?next=/agreement/")
    assert _sign_in(client, viewer.email).url == "/agreement/"
    other = Client()
    other.get(reverse("web:login") + "?next=https://evil.example/")
    assert _sign_in(other, viewer.email).url == reverse("web:dashboard")


def test_audit_log_is_for_administrators(municipality, as_user):
    operator = UserFactory(organisation=municipality, roles=["operator"])
    session = as_user(operator)
    session.cookies["django_language"] = "en"
    response = session.get(reverse("web:audit"))
    assert response.status_code == 403 and b"Only administrators read the audit log." in response.content
    session.cookies["django_language"] = "nl"
    assert b"Alleen beheerders" in session.get(reverse("web:audit")).content


def test_pages_carry_a_content_security_policy(client, db):
    response = client.get(reverse("web:login"))
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"

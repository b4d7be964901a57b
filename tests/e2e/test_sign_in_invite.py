"""A person in a real browser: signs in with 2FA, invites a colleague, sees the audit entry."""

from __future__ import annotations

import pytest

from tests.conftest import code_for
from tests.organisations.factories import PASSWORD, UserFactory, totp_device
from tocsin.organisations.models import User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ba_7_4_sign_in_with_2fa_invite_and_see_audit(page, live_server, municipality, shot, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    admin = UserFactory(organisation=municipality, email="admin@zottegem.be", full_name="Ann Admin", roles=["admin"])
    device = totp_device(admin)

    page.goto(f"{live_server.url}/login/")
    page.select_option("#lang-select", "en")
    page.get_by_role("button", name="Change").click()
    shot(page, "01-sign-in")
    page.get_by_label("E-mail address").fill(admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_label("Six-digit code from your authenticator app").fill(code_for(device))
    shot(page, "02-second-factor")
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name=municipality.name).wait_for()
    shot(page, "03-dashboard")

    page.get_by_role("link", name="Members").click()
    page.get_by_label("Full name").fill("Omar Operator")
    page.get_by_label("E-mail address").fill("omar@zottegem.be")
    page.get_by_label("Operator", exact=True).check()
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_text("Invitation sent to omar@zottegem.be").wait_for()
    shot(page, "04-members")
    assert User.objects.filter(email="omar@zottegem.be", organisation=municipality).exists()

    page.get_by_role("link", name="Audit log").click()
    row = page.locator("tr", has_text="user.invited")
    row.first.wait_for()
    assert "omar@zottegem.be" in row.first.inner_text()
    shot(page, "05-audit")


def test_bad_invite_shows_field_errors_on_a_phone(page, live_server, municipality, shot, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    page.set_viewport_size({"width": 390, "height": 844})
    admin = UserFactory(organisation=municipality, email="admin@zottegem.be", roles=["admin"])
    device = totp_device(admin)
    page.goto(f"{live_server.url}/login/")
    page.select_option("#lang-select", "fr")
    page.locator(".lang button").click()
    page.locator("#id_email").fill(admin.email)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    page.locator("#id_code").fill(code_for(device))
    page.locator("main button[type=submit]").click()
    page.goto(f"{live_server.url}/members/")
    page.locator("#id_full_name").fill("X")
    page.locator("#id_email").fill("not-an-e-mail")
    page.locator("main form button[type=submit]").click()
    page.locator("#id_email-error").wait_for()
    assert page.locator("html").get_attribute("lang") == "fr"
    shot(page, "06-phone-invite-error-fr")
    assert User.objects.count() == 1


def test_api_docs_page_renders_under_the_content_security_policy(page, live_server, shot):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server.url}/api/v1/docs")
    page.get_by_text("Tocsin API").first.wait_for()
    shot(page, "10-api-docs")
    assert not [e for e in errors if "Content Security Policy" in e], errors

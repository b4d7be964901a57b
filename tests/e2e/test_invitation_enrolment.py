"""A new colleague in a real browser: opens the e-mailed link, chooses a password, enrols 2FA."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import code_for, drain_mail_queue
from tests.organisations.factories import PASSWORD
from tocsin.organisations import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ba_7_4_invited_operator_sets_password_and_enrols(page, live_server, muni_admin, shot, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.BASE_URL = live_server.url
    services.user_invite(actor=muni_admin, email="omar@zottegem.be", full_name="Omar Operator", roles=["operator"])
    drain_mail_queue()
    body = next(m.body for m in mail.outbox if m.to == ["omar@zottegem.be"])
    link = re.search(r"http\S+/invitation/\S+/", body).group(0)

    page.goto(link)
    page.select_option("#lang-select", "nl")
    page.locator(".lang button").click()
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_password_again").fill(PASSWORD)
    shot(page, "07-invitation-nl")
    page.locator("main button[type=submit]").click()

    page.locator("#id_email").fill("omar@zottegem.be")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    page.locator(".qr svg").wait_for()
    shot(page, "08-enrol-nl")
    device = TOTPDevice.objects.get(user__email="omar@zottegem.be", confirmed=False)
    page.locator("#id_code").fill(code_for(device))
    page.locator("main button[type=submit]").click()
    page.locator("h1", has_text=muni_admin.organisation.name).wait_for()
    shot(page, "09-operator-dashboard-nl")
    assert TOTPDevice.objects.get(pk=device.pk).confirmed

"""Four eyes: an entity may require a second person's approval of each alert before launch (issue 5)."""

from __future__ import annotations

import pytest

from tests.alerts.test_launch import TEXTS, audience, operator  # noqa: F401 — fixtures
from tests.organisations.factories import UserFactory
from tocsin.alerts import services
from tocsin.delivery.models import Delivery
from tocsin.organisations.domain import RuleError
from tocsin.organisations.services import AccessDenied

pytestmark = pytest.mark.django_db(transaction=True)


def test_four_eyes_needs_another_person_and_a_change_needs_a_new_approval(operator, audience, municipality):  # noqa: F811
    admin = UserFactory(organisation=municipality, roles=["admin"])
    colleague = UserFactory(organisation=municipality, roles=["operator"])
    with pytest.raises(AccessDenied):
        services.alert_policy_set(actor=operator, four_eyes=True)  # administrators set the rules
    services.alert_policy_set(actor=admin, four_eyes=True)
    alert = services.alert_create(actor=operator, event="Brand", channels=["sms"], texts=TEXTS,
                                  targets={"lists": [audience["list"]]})  # fmt: skip
    with pytest.raises(RuleError) as exc:
        services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="2")
    assert exc.value.field == "approval"
    with pytest.raises(RuleError):
        services.alert_approve(actor=operator, alert_id=alert.pk)  # not one's own
    services.alert_approve(actor=colleague, alert_id=alert.pk)
    services.alert_update(actor=operator, alert_id=alert.pk, event="Brand in de haven")  # the approval lapses
    with pytest.raises(RuleError):
        services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="2")
    assert not Delivery.objects.exists()
    services.alert_approve(actor=colleague, alert_id=alert.pk)
    assert services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="2").state == "launched"


def test_four_eyes_in_the_portal(operator, audience, municipality, as_user):  # noqa: F811
    admin = UserFactory(organisation=municipality, roles=["admin"])
    colleague = UserFactory(organisation=municipality, roles=["operator"])
    services.alert_policy_set(actor=admin, four_eyes=True)
    alert = services.alert_create(actor=operator, event="Brand", channels=["sms"], texts=TEXTS,
                                  targets={"lists": [audience["list"]]})  # fmt: skip
    page = as_user(operator).get(f"/alerts/{alert.pk}/").content.decode()
    assert 'id="approval"' in page and "/approve/" not in page  # the author cannot approve
    as_user(colleague).post(f"/alerts/{alert.pk}/approve/")
    alert.refresh_from_db()
    assert alert.approved_by == colleague
    launched = as_user(operator).post(f"/alerts/{alert.pk}/", {"confirmation": "2"})
    assert launched.status_code == 302
    alert.refresh_from_db()
    assert alert.state == "launched"

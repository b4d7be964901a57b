"""An alert to a BIN group: only by a sender both the coordinator and the police officer approved (BA-7-BIN)."""

from __future__ import annotations

import pytest

from tests.alerts.test_launch import TEXTS, _citizen
from tests.organisations.factories import UserFactory
from tocsin.alerts import services
from tocsin.audiences import services as audiences
from tocsin.delivery.models import Delivery
from tocsin.organisations.domain import RuleError

pytestmark = pytest.mark.django_db(transaction=True)


def test_ba_7_bin_alert_to_a_group_needs_both_approvals_and_reaches_only_members(make_org, police_zone, register,
                                                                                  peers):  # fmt: skip
    org = make_org("municipality", name="Gemeente Oudenaarde", nis_code="45035", bin_option=True)
    admin = UserFactory(organisation=org, roles=["admin"])
    coordinator = UserFactory(organisation=org, roles=["viewer"])
    officer = UserFactory(organisation=police_zone, roles=["viewer"])
    sender = UserFactory(organisation=org, roles=["operator"])
    group = audiences.bin_group_create(actor=admin, name="BIN Bevere", coordinator_email=coordinator.email,
                                       police_officer_email=officer.email)  # fmt: skip
    member = _citizen(register, "Lid", "nl", "+32470200001")
    _citizen(register, "Geen lid", "nl", "+32470200002")
    audiences.bin_group_join(code=group.code, registration_id=member.pk)
    audiences.bin_sender_nominate(actor=admin, group_id=group.pk, user_id=sender.pk)
    fields = {"event": "Inbraken", "channels": ["sms"], "texts": TEXTS, "targets": {"bin_groups": [group.pk]}}

    audiences.bin_sender_approve(actor=coordinator, group_id=group.pk, user_id=sender.pk)
    with pytest.raises(RuleError) as exc:  # the police officer has not approved yet
        services.alert_create(actor=sender, **fields)
    assert exc.value.rule == "BA-7-BIN"

    audiences.bin_sender_approve(actor=officer, group_id=group.pk, user_id=sender.pk)
    alert = services.alert_create(actor=sender, **fields)
    services.alert_launch(actor=sender, alert_id=alert.pk, confirmation="1")
    assert list(Delivery.objects.values_list("recipient", flat=True)) == ["+32470200001"]

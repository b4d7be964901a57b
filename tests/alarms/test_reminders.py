"""Reminders before a deadline and the late list (KB-7 hand-over, KB-8 maintenance), e-mailed through the
delivery engine to a real SMTP peer; each reminder once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.alarms.conftest import USER
from tests.delivery.test_sms_smpp import _drain
from tocsin.alarms import selectors, services
from tocsin.alarms.models import Reminder
from tocsin.alarms.services import as_member, as_user

pytestmark = pytest.mark.django_db(transaction=True)


def _subjects(peers) -> list[str]:
    _drain(timeout=10)
    return [m["Subject"] for _f, rcpts, m in peers.smtp.mailbox.messages if USER in rcpts]


def test_kb_8_maintenance_reminded_before_the_anniversary_and_when_overdue(peers, values, registry_admin):
    today = timezone.localdate()
    soon = services.system_register(
        actor=as_user(USER), values=values(first_use=(today - timedelta(days=350)).isoformat())
    )
    overdue = services.system_register(
        actor=as_user(USER), values=values(first_use=(today - timedelta(days=400)).isoformat(), site_name="Garage")
    )
    sent = services.reminders_send(today=today)
    assert sent == {"maintenance_soon": 1, "maintenance_overdue": 1, "handover": 0}
    assert services.reminders_send(today=today) == {"maintenance_soon": 0, "maintenance_overdue": 0, "handover": 0}
    subjects = _subjects(peers)
    assert len(subjects) == 2
    assert any(soon.reference in s for s in subjects) and any(overdue.reference in s for s in subjects)
    # Recorded: the next maintenance moves the due date, so the next year's reminder goes again.
    services.maintenance_record(actor=as_user(USER), reference=overdue.reference, done_on=today.isoformat())
    assert Reminder.objects.count() == 2
    late = selectors.late_list(actor=as_member(registry_admin), today=today)
    assert not any(i.what == "maintenance" and i.system.pk == overdue.pk for i in late)


def test_kb_7_released_system_reminded_to_its_user_and_listed_when_late(peers, mvalues, central_op, registry_admin):
    system = services.system_register(actor=as_member(central_op), values=mvalues(first_use="2025-03-01"))
    released = (timezone.localdate() - timedelta(days=12)).isoformat()
    services.system_release(actor=as_member(central_op), reference=system.reference, released_on=released)
    assert services.reminders_send()["handover"] == 1
    subjects = _subjects(peers)
    assert any(system.reference in s and "10" in s for s in subjects), subjects
    late = selectors.late_list(actor=as_member(registry_admin))
    assert ("handover", 2) in [(i.what, i.late_days) for i in late if i.system.pk == system.pk]
    # The user confirms (late by two days): the hand-over leaves the list, the late registration enters it.
    services.system_change(actor=as_user(USER), reference=system.reference, values={})
    late = selectors.late_list(actor=as_member(registry_admin))
    items = [(i.what, i.late_days) for i in late if i.system.pk == system.pk]
    assert ("registration", 2) in items and not any(what == "handover" for what, _ in items)

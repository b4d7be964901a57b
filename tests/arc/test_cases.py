"""Alarm cases from signals, the operator's handling and the emergency desk (issue 9), on the real database.
Rules: KB-6, KB-10 … KB-16, KB-19 … KB-23 (each test names the rules it checks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from tests.arc.signals import ev, signal
from tocsin.alarms.domain import FieldErrors
from tocsin.alarms.services import as_member
from tocsin.arc import handling, services
from tocsin.arc import registry as arc_registry
from tocsin.arc.cases import build_cases
from tocsin.arc.models import AlarmCase, CaseEvent, CaseLog, Notification, ReceiverAccount, Signal, SupervisionFault
from tocsin.audit.models import AuditEntry
from tocsin.emergency import selectors as desk_selectors
from tocsin.emergency import services as desk
from tocsin.organisations.domain import RuleError
from tocsin.organisations.services import AccessDenied, NotFound

pytestmark = pytest.mark.django_db(transaction=True)


def rules(exc: pytest.ExceptionInfo) -> list[str | None]:
    errors = getattr(exc.value, "errors", [exc.value])
    return [e.rule for e in errors]


# ------------------------------------------------------------------------------------------ building


def test_a_second_zone_joins_the_open_case_and_a_restore_marks_it(goods):
    signal("1234", ev("BA", "01"))
    signal("1234", ev("BA", "02"), ev("OP", "3"))  # sequential detection; an opening makes no case
    assert build_cases() == 2
    case = AlarmCase.objects.get()
    assert (case.category, case.priority, case.events, case.system_id) == ("burglary", 3, 2, goods.pk)
    assert sorted(CaseEvent.objects.values_list("detection_code", flat=True)) == ["D-HAL-01", "D-KEU-02"]
    assert list(case.steps.order_by("position").values_list("step", flat=True)) == [
        "verify", "call_user", "notify", "on_site"]  # fmt: skip
    signal("1234", ev("BR", "01"))
    signal("1234", ev("BR", "02"))
    build_cases()
    case.refresh_from_db()
    assert case.restored and case.state == "open"  # a burglary stays for the operator
    assert not Signal.objects.filter(pending=True).exists()


def test_a_fire_during_a_burglary_is_its_own_case_first_in_the_queue(goods):
    signal("1234", ev("BA"))
    signal("1234", ev("FA", "02"))
    build_cases()
    assert list(AlarmCase.objects.order_by("priority").values_list("category", flat=True)) == ["fire", "burglary"]


def test_a_technical_case_nobody_claimed_closes_when_restored(goods):
    signal("1234", ev("AT", "0"))
    build_cases()
    signal("1234", ev("AR", "0"))
    build_cases()
    case = AlarmCase.objects.get()
    assert (case.category, case.state, case.close_reason) == ("technical", "closed", "restored")


def test_late_to_test_opens_a_supervision_case_and_the_return_restores_it(goods):
    account = ReceiverAccount.objects.get(account="1234")
    fault = SupervisionFault.objects.create(account=account, raised_at=timezone.now())
    build_cases()
    case = AlarmCase.objects.get()
    assert (case.category, case.priority) == ("supervision", 5)
    fault.cleared_at = timezone.now()
    fault.save()
    build_cases()
    case.refresh_from_db()
    assert case.restored and case.state == "closed"


# ------------------------------------------------------------------------------------------ handling


def _claimed_burglary(central_op) -> AlarmCase:
    signal("1234", ev("BA", "01"), extended=[["V", "https://cam.example/clip/9"]])
    build_cases()
    case = AlarmCase.objects.get()
    handling.claim(actor=as_member(central_op), case_id=case.pk)
    return case


def test_one_operator_at_a_time(goods, central_op, central):
    from tests.organisations.factories import UserFactory

    case = _claimed_burglary(central_op)
    colleague = UserFactory(organisation=central, email="op2@noord.be", roles=["arc_operator"])
    with pytest.raises(RuleError):
        handling.claim(actor=as_member(colleague), case_id=case.pk)
    with pytest.raises(RuleError):
        handling.call_logged(actor=as_member(colleague), case_id=case.pk, callee="user", outcome="reached")
    handling.claim(actor=as_member(colleague), case_id=case.pk, take_over=True)
    assert AlarmCase.objects.get().claimed_by_id == colleague.pk


def test_kb_13_kb_12_kb_14_goods_alarm_verified_then_phoned_with_its_data_set(goods, central_op, central, emergency):
    case = _claimed_burglary(central_op)
    me = as_member(central_op)
    with pytest.raises(FieldErrors) as refused:  # KB-13: not verified yet
        handling.notify(actor=me, case_id=case.pk, channel="phone", call_with="operator Dirk")
    assert rules(refused) == ["KB-13"]
    assert not Notification.objects.exists()
    handling.call_logged(actor=me, case_id=case.pk, callee="user", name="J. Peeters", outcome="no_answer")
    handling.verify(actor=me, case_id=case.pk, method="SEQ", outcome="confirmed", finding="intrusion")
    with pytest.raises(FieldErrors) as refused:  # KB-12: no direct number, so by phone
        handling.notify(actor=me, case_id=case.pk, channel="direct")
    assert rules(refused) == ["KB-12"]
    with pytest.raises(FieldErrors) as refused:  # KB-12: a real-time conversation, with whom
        handling.notify(actor=me, case_id=case.pk, channel="phone")
    assert rules(refused) == ["KB-12"]
    notification = handling.notify(actor=me, case_id=case.pk, channel="phone", call_with="operator Dirk",
                                   call_outcome="patrol sent")  # fmt: skip
    assert notification.items == {
        "alarm_report_number": "N001", "user_number": "U1001", "intrusion": "intrusion",
        "verification_code": "SEQ", "detection_code": "D-HAL-01",
    }  # fmt: skip
    assert notification.extra["images"] == "https://cam.example/clip/9"  # KB-24: the images link travels
    assert notification.missing == [] and not notification.delayed and notification.call_at is not None


def test_kb_15_someone_on_site_is_a_step_and_the_case_closes_only_when_the_plan_is_done(goods, central_op):
    case = _claimed_burglary(central_op)
    me = as_member(central_op)
    handling.verify(actor=me, case_id=case.pk, method="CBU", outcome="not_confirmed")
    with pytest.raises(FieldErrors) as refused:
        handling.close(actor=me, case_id=case.pk, reason="false alarm")
    assert refused.value.errors[0].field == "steps"
    handling.step_done(actor=me, case_id=case.pk, step="call_user", outcome="user says: the cat")
    handling.step_skip(actor=me, case_id=case.pk, step="notify", reason="not verified: nothing to notify (KB-13)")
    handling.step_done(actor=me, case_id=case.pk, step="on_site", outcome="user on site in 20 min (KB-15)")
    handling.close(actor=me, case_id=case.pk, reason="false alarm")
    assert AlarmCase.objects.get().state == "closed"
    assert set(CaseLog.objects.values_list("what", flat=True)) >= {"opened", "claimed", "verified", "closed"}


def test_kb_10_kb_16_kb_19_direct_notification_arrives_at_the_desk_and_the_outcome_returns(
    goods, central_op, direct, dispatcher, emergency
):
    ReceiverAccount.objects.filter(account="1234").update()
    signal("1234", ev("BA", "07"))  # a zone without a detection code
    build_cases()
    case = AlarmCase.objects.get()
    me = as_member(central_op)
    handling.claim(actor=me, case_id=case.pk)
    handling.verify(actor=me, case_id=case.pk, method="VIS", outcome="confirmed", finding="attempt")
    sent = handling.notify(actor=me, case_id=case.pk, channel="direct")
    assert sent.emergency_centre_id == emergency.pk and sent.state == "sent"
    assert sent.missing == ["detection_code"] and sent.delayed  # KB-16: for delayed handling
    desk_actor = as_member(dispatcher)
    assert [n.pk for n in desk_selectors.queue(actor=desk_actor)] == [sent.pk]
    desk_selectors.notification(actor=desk_actor, notification_id=sent.pk)
    assert AuditEntry.objects.filter(action="emergency.notification_read").exists()
    desk.acknowledge(actor=desk_actor, notification_id=sent.pk)
    desk.dispatch(actor=desk_actor, notification_id=sent.pk, note="patrol 12")
    with pytest.raises(FieldErrors) as refused:  # KB-19: a dwelling entered without consent
        desk.record_outcome(actor=desk_actor, notification_id=sent.pk, outcome="neutralised", entered=True)
    assert rules(refused) == ["KB-19"]
    desk.record_outcome(actor=desk_actor, notification_id=sent.pk, outcome="neutralised", note="siren cut")
    assert Notification.objects.get().outcome == "neutralised"
    assert CaseLog.objects.filter(case=case, what="desk_outcome").exists()  # back at the central
    stats = desk_selectors.statistics(actor=desk_actor)
    assert stats[0]["notifications"] == 1 and stats[0]["delayed_share"] == 1.0


def test_kb_22_kb_23_kb_21_personal_alarm_only_to_the_direct_number_after_verified_threat(
    personal, central_op, direct, emergency
):
    signal("5678", ev("PA", "01"))
    build_cases()
    case = AlarmCase.objects.get()
    assert case.category == "personal" and case.priority == 2
    me = as_member(central_op)
    handling.claim(actor=me, case_id=case.pk)
    with pytest.raises(FieldErrors) as refused:  # KB-23 approved method for personal alarms only
        handling.verify(actor=me, case_id=case.pk, method="SEQ", outcome="confirmed", finding="threat")
    assert rules(refused) == ["KB-23"]
    handling.verify(actor=me, case_id=case.pk, method="AUD", outcome="confirmed", finding="threat")
    with pytest.raises(FieldErrors) as refused:  # KB-22 / KB-20: never by calling 101/112
        handling.notify(actor=me, case_id=case.pk, channel="phone", call_with="x")
    assert "KB-22" in rules(refused)
    with pytest.raises(FieldErrors) as refused:
        handling.notify(actor=me, case_id=case.pk, channel="forward")
    assert rules(refused) == ["KB-20"]
    sent = handling.notify(actor=me, case_id=case.pk, channel="direct", incident="Threat with a knife at the counter")
    assert sent.kind == "personal" and sent.items["verification_code"] == "AUD" and not sent.delayed
    assert sent.items["detection_code"] == "D-BALIE"


def test_kb_22_no_direct_number_no_personal_notification(personal, central_op):
    signal("5678", ev("PA", "01"))
    build_cases()
    case = AlarmCase.objects.get()
    me = as_member(central_op)
    handling.claim(actor=me, case_id=case.pk)
    handling.verify(actor=me, case_id=case.pk, method="AUD", outcome="confirmed", finding="violence")
    with pytest.raises(FieldErrors) as refused:
        handling.notify(actor=me, case_id=case.pk, channel="direct", incident="x")
    assert rules(refused) == ["KB-22"]


def test_kb_11_forwarding_only_for_the_registry_s_exception(goods, central_op, registry_admin):
    case = _claimed_burglary(central_op)
    me = as_member(central_op)
    with pytest.raises(FieldErrors) as refused:
        handling.notify(actor=me, case_id=case.pk, channel="forward")
    assert rules(refused) == ["KB-11"]
    arc_registry.direct_signal_exception_set(actor=as_member(registry_admin), reference=goods.reference, allowed=True)
    assert handling.notify(actor=me, case_id=case.pk, channel="forward").channel == "forward"


def test_kb_6_remote_disarm_only_with_consent(goods, central_op):
    case = _claimed_burglary(central_op)
    with pytest.raises(RuleError) as refused:
        handling.remote(actor=as_member(central_op), case_id=case.pk, action="disarm", purpose="manage_alarm")
    assert refused.value.rule == "KB-6"


def test_tenant_isolation_another_central_and_the_desk_of_another_centre(goods, central_op, other_op, direct):
    case = _claimed_burglary(central_op)
    for call in (
        lambda: handling.claim(actor=as_member(other_op), case_id=case.pk),
        lambda: handling.close(actor=as_member(other_op), case_id=case.pk, reason="x"),
        lambda: handling.notification_preview(actor=as_member(other_op), case_id=case.pk, channel="phone"),
    ):
        with pytest.raises(NotFound):
            call()
    assert AlarmCase.objects.get().claimed_by_id == central_op.pk


def test_only_the_receiving_desk_sees_a_notification(goods, central_op, direct, registry_admin):
    from tests.organisations.factories import OrganisationFactory, UserFactory

    case = _claimed_burglary(central_op)
    me = as_member(central_op)
    handling.verify(actor=me, case_id=case.pk, method="SEQ", outcome="confirmed", finding="intrusion")
    sent = handling.notify(actor=me, case_id=case.pk, channel="direct")
    elsewhere = OrganisationFactory(kind="emergency_centre", name="101 Limburg", nis_code="", status="active")
    stranger = UserFactory(organisation=elsewhere, email="ops@101-limburg.be", roles=["ec_operator"])
    assert desk_selectors.queue(actor=as_member(stranger)) == []
    with pytest.raises(NotFound):
        desk.acknowledge(actor=as_member(stranger), notification_id=sent.pk)
    with pytest.raises(AccessDenied):
        desk_selectors.queue(actor=as_member(central_op))


def test_kb_16_desk_queue_complete_first_then_delayed(goods, central_op, direct, dispatcher):
    me = as_member(central_op)
    signal("1234", ev("BA", "07"))  # no detection code: incomplete
    build_cases()
    first = AlarmCase.objects.get()
    handling.claim(actor=me, case_id=first.pk)
    handling.verify(actor=me, case_id=first.pk, method="SEQ", outcome="confirmed", finding="intrusion")
    delayed = handling.notify(actor=me, case_id=first.pk, channel="direct")
    for step in ("call_user", "on_site"):
        handling.step_skip(actor=me, case_id=first.pk, step=step, reason="test")
    handling.close(actor=me, case_id=first.pk, reason="notified")
    signal("1234", ev("BA", "01"), at=datetime.now(UTC) + timedelta(seconds=1))
    build_cases()
    second = AlarmCase.objects.exclude(pk=first.pk).get()
    handling.claim(actor=me, case_id=second.pk)
    handling.verify(actor=me, case_id=second.pk, method="SEQ", outcome="confirmed", finding="intrusion")
    complete = handling.notify(actor=me, case_id=second.pk, channel="direct")
    assert [n.pk for n in desk_selectors.queue(actor=as_member(dispatcher))] == [complete.pk, delayed.pk]


def test_kb_13_the_verify_and_notify_steps_complete_only_through_their_forms(goods, central_op):
    case = _claimed_burglary(central_op)
    me = as_member(central_op)
    with pytest.raises(RuleError) as refused:
        handling.step_done(actor=me, case_id=case.pk, step="verify")
    assert refused.value.rule == "KB-13"
    with pytest.raises(RuleError):
        handling.step_done(actor=me, case_id=case.pk, step="notify")
    handling.verify(actor=me, case_id=case.pk, method="SEQ", outcome="confirmed", finding="intrusion")
    handling.step_done(actor=me, case_id=case.pk, step="verify", outcome="seen on two detectors")


def test_no_notification_for_a_system_the_central_no_longer_manages(goods, central_op):
    from tocsin.alarms.models import AlarmSystem

    case = _claimed_burglary(central_op)
    me = as_member(central_op)
    handling.verify(actor=me, case_id=case.pk, method="SEQ", outcome="confirmed", finding="intrusion")
    AlarmSystem.objects.filter(pk=goods.pk).update(central=None)  # handed over to its user (KB-7 release)
    with pytest.raises(RuleError) as refused:
        handling.notify(actor=me, case_id=case.pk, channel="phone", call_with="operator Dirk")
    assert refused.value.rule == "KB-7-ARC"
    assert not Notification.objects.exists()


def test_kb_14_kb_16_a_zone_without_detection_code_is_missing_until_it_is_mapped(goods, central_op):
    me = as_member(central_op)
    signal("1234", ev("BA", "01"), ev("BA", "07"))  # zone 07 has no detection code yet
    build_cases()
    case = AlarmCase.objects.get()
    handling.claim(actor=me, case_id=case.pk)
    handling.verify(actor=me, case_id=case.pk, method="SEQ", outcome="confirmed", finding="intrusion")
    preview = handling.notification_preview(actor=me, case_id=case.pk, channel="phone")
    assert preview["dataset"].items["detection_code"] == "D-HAL-01"
    assert preview["missing"] == ["detection_code"]  # KB-16: one zone's code is lacking, not silently dropped
    services.zone_set(actor=me, account="1234", zone="07", detection_code="D-GAR-07", label="Garage")
    notification = handling.notify(actor=me, case_id=case.pk, channel="phone", call_with="operator Dirk")
    assert notification.items["detection_code"] == "D-GAR-07, D-HAL-01" and notification.missing == []
    assert notification.extra["site"].endswith("Zottegem")  # the script says the town, not only the postcode

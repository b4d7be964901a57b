"""The law of issue 9 as pure rules (tocsin.arc.domain): what an alarm central may notify, how and when.
Each test names its rule (KB-…) so that `grep -rn "KB-13" tests/` finds it."""

from __future__ import annotations

import pytest

from tocsin.arc import domain
from tocsin.arc.domain import Category, Channel, DeskOutcome, Finding, NotificationRequest, Outcome, Verification

SEQ = Verification("SEQ", Outcome.CONFIRMED, Finding.INTRUSION, approved_for_goods=True, approved_for_personal=False)
VIS_THREAT = Verification("VIS", Outcome.CONFIRMED, Finding.THREAT)
FALSE = Verification("CBU", Outcome.NOT_CONFIRMED)


def rules(errors: list) -> list[str | None]:
    return [e.rule for e in errors]


def test_classify_kinds_and_priorities():
    assert domain.classify({"code": "FA", "zone": "1"}).category is Category.FIRE
    assert domain.classify({"code": "PA", "zone": "1"}).category is Category.PERSONAL
    assert domain.classify({"code": "BA", "zone": "1"}).category is Category.BURGLARY
    assert domain.classify({"code": "AT", "zone": "0"}).category is Category.TECHNICAL
    assert domain.classify({"code": "130", "zone": "3", "qualifier": 1}).category is Category.BURGLARY
    assert domain.classify({"code": "121", "zone": "3", "qualifier": 1}).category is Category.PERSONAL  # duress
    assert domain.classify({"code": "OP", "zone": "1"}).category is None  # an opening: no case
    fire, burglary = domain.classify({"code": "FA"}), domain.classify({"code": "BA"})
    assert fire.priority < burglary.priority


def test_restores_match_their_family_and_zone():
    sia = domain.classify({"code": "BR", "zone": "3"})
    assert sia.restore and sia.family == "B" and sia.category is None
    cid = domain.classify({"code": "130", "zone": "3", "qualifier": 3, "restore": True})
    assert cid.restore and cid.family == "130"


def test_every_step_done_or_skipped_with_a_reason_before_closing():
    steps = [domain.StepState("verify", done=True), domain.StepState("notify")]
    assert [e.field for e in domain.check_close(steps, "done")] == ["steps"]
    steps[1] = domain.StepState("notify", skipped_reason="false alarm, nothing to notify")
    assert domain.check_close(steps, "false alarm") == []
    assert [e.field for e in domain.check_close(steps, " ")] == ["reason"]


# ----------------------------------------------------------------------------------------- goods alarms


def test_kb_13_goods_alarm_notified_only_after_verified_intrusion():
    req = NotificationRequest("goods", Channel.PHONE, [FALSE], direct_number=None)
    supporting, errors = domain.check_notification(req)
    assert supporting is None and rules(errors) == ["KB-13"]
    supporting, errors = domain.check_notification(NotificationRequest("goods", Channel.PHONE, [FALSE, SEQ], None))
    assert supporting == SEQ and errors == []


def test_kb_13_only_an_approved_method_counts():
    withdrawn = Verification("OLD", Outcome.CONFIRMED, Finding.INTRUSION, active=False)
    _, errors = domain.check_notification(NotificationRequest("goods", Channel.PHONE, [withdrawn], None))
    assert rules(errors) == ["KB-13"]
    assert rules(domain.check_verification(personal=False, method=withdrawn)) == ["KB-13"]


def test_kb_13_an_attempt_is_enough_but_something_else_is_not():
    attempt = Verification("AUD", Outcome.CONFIRMED, Finding.ATTEMPT)
    assert domain.check_notification(NotificationRequest("goods", Channel.PHONE, [attempt], None))[1] == []
    other = Verification("AUD", Outcome.CONFIRMED, Finding.OTHER)
    assert rules(domain.check_notification(NotificationRequest("goods", Channel.PHONE, [other], None))[1]) == ["KB-13"]


def test_kb_12_without_a_direct_number_only_by_phone_in_real_time():
    _, errors = domain.check_notification(NotificationRequest("goods", Channel.DIRECT, [SEQ], direct_number=None))
    assert rules(errors) == ["KB-12"]


def test_kb_10_a_central_with_a_direct_number_may_send_it_structured():
    _, errors = domain.check_notification(NotificationRequest("goods", Channel.DIRECT, [SEQ], direct_number="0800"))
    assert errors == []


def test_kb_11_signals_never_go_straight_to_the_police():
    _, errors = domain.check_notification(NotificationRequest("goods", Channel.FORWARD, [SEQ], direct_number="0800"))
    assert rules(errors) == ["KB-11"]


def test_kb_11_exception_police_stations_and_the_national_bank():
    req = NotificationRequest("goods", Channel.FORWARD, [], direct_number=None, direct_signal_exception=True)
    assert domain.check_notification(req)[1] == []


def test_kb_14_the_goods_data_set_and_kb_16_what_it_lacks():
    data = domain.dataset(system_type="goods", alarm_report_number="N001", user_number="U1001", verification=SEQ,
                          detection_codes=["D-HAL-01", "D-KEU-02"])  # fmt: skip
    assert dict(data.items) == {
        "alarm_report_number": "N001", "user_number": "U1001", "intrusion": "intrusion",
        "verification_code": "SEQ", "detection_code": "D-HAL-01, D-KEU-02",
    }  # fmt: skip
    assert domain.missing_items(data) == []
    bare = domain.dataset(system_type="goods", alarm_report_number="N001", user_number="", verification=SEQ,
                          detection_codes=[])  # fmt: skip
    assert domain.missing_items(bare) == ["user_number", "detection_code"]  # KB-16: for delayed handling


# -------------------------------------------------------------------------------------- personal alarms


def test_kb_20_personal_alarm_signals_never_go_to_the_emergency_number_directly():
    req = NotificationRequest("personal_fixed", Channel.FORWARD, [VIS_THREAT], "0800", direct_signal_exception=True)
    assert rules(domain.check_notification(req)[1]) == ["KB-20"]


def test_kb_22_personal_alarm_only_to_the_direct_emergency_number():
    assert rules(domain.check_notification(NotificationRequest("personal_fixed", Channel.PHONE, [VIS_THREAT],
                                                               "0800"))[1]) == ["KB-22"]  # fmt: skip
    assert rules(domain.check_notification(NotificationRequest("personal_mobile", Channel.DIRECT, [VIS_THREAT],
                                                               None))[1]) == ["KB-22"]  # fmt: skip
    assert (
        domain.check_notification(NotificationRequest("personal_fixed", Channel.DIRECT, [VIS_THREAT], "0800"))[1] == []
    )


@pytest.mark.parametrize("finding", [Finding.VIOLENCE, Finding.COERCION, Finding.THREAT, Finding.ATTEMPT])
def test_kb_23_verified_signs_of_violence_coercion_threat_or_attempt(finding):
    v = Verification("AUD", Outcome.CONFIRMED, finding)
    assert domain.check_notification(NotificationRequest("personal_fixed", Channel.DIRECT, [v], "0800"))[1] == []


def test_kb_23_unverified_personal_alarm_refused():
    _, errors = domain.check_notification(NotificationRequest("personal_fixed", Channel.DIRECT, [FALSE], "0800"))
    assert rules(errors) == ["KB-23"]
    # a method approved for goods alarms only does not verify a personal alarm
    _, errors = domain.check_notification(NotificationRequest("personal_fixed", Channel.DIRECT, [SEQ], "0800"))
    assert rules(errors) == ["KB-23"]
    assert rules(domain.check_verification(personal=True, method=SEQ)) == ["KB-23"]


def test_kb_23_the_personal_data_set_and_kb_16_what_it_lacks():
    data = domain.dataset(system_type="personal_fixed", alarm_report_number="N001", user_number="U7",
                          verification=VIS_THREAT, detection_codes=["D-BALIE"],
                          incident="Man met mes aan de balie")  # fmt: skip
    assert domain.missing_items(data) == []
    mobile = domain.dataset(system_type="personal_mobile", alarm_report_number="N001", user_number="U7",
                            verification=VIS_THREAT, detection_codes=[], incident="")  # fmt: skip
    assert mobile.items["detection_code"] == "-"  # a mobile alarm has none: its position goes in the extra data
    assert domain.missing_items(mobile) == ["incident"]


def test_kb_25_personal_alarm_only_for_offences_against_persons():
    medical = Verification("CBU", Outcome.CONFIRMED, Finding.OTHER)
    _, errors = domain.check_notification(NotificationRequest("personal_mobile", Channel.DIRECT, [medical], "0800"))
    assert rules(errors) == ["KB-25"]


# ---------------------------------------------------------------------------------------- emergency desk


def test_kb_19_a_dwelling_is_entered_only_with_consent():
    errors = domain.check_outcome(outcome=DeskOutcome.NEUTRALISED, property_nature="dwelling", entered=True,
                                  entry_consent_by="")  # fmt: skip
    assert rules(errors) == ["KB-19"] and errors[0].field == "entry_consent_by"
    assert domain.check_outcome(outcome=DeskOutcome.NEUTRALISED, property_nature="dwelling", entered=False,
                                entry_consent_by="") == []  # fmt: skip
    assert domain.check_outcome(outcome=DeskOutcome.FALSE_ALARM, property_nature="dwelling", entered=True,
                                entry_consent_by="contact person J. Peeters") == []  # fmt: skip
    assert domain.check_outcome(outcome=DeskOutcome.INTRUSION_CONFIRMED, property_nature="shop", entered=True,
                                entry_consent_by="") == []  # fmt: skip

"""Pure rules: who may target whom, lifecycle, roles, activation parameters."""

from __future__ import annotations

import pytest

from tocsin.organisations.domain import (
    Audience,
    Kind,
    Role,
    RuleError,
    Status,
    allowed_audiences,
    check_activation,
    check_may_target,
    check_roles,
    check_transition,
    entity_type,
    requires_2fa,
)


@pytest.mark.parametrize("kind", [Kind.MUNICIPALITY, Kind.GOVERNOR])
def test_ba_4_t1_type1_alerts_lists_and_citizens(kind):
    assert entity_type(kind) == 1
    assert allowed_audiences(kind, bin_option=False) == {Audience.CONTACT_LISTS, Audience.CITIZENS}
    check_may_target(kind, Audience.CITIZENS, bin_option=False)
    check_may_target(kind, Audience.CONTACT_LISTS, bin_option=False)


@pytest.mark.parametrize("kind", [Kind.POLICE_ZONE, Kind.OTHER_TYPE2])
def test_ba_4_t2_type2_cannot_target_citizens(kind):
    assert entity_type(kind) == 2
    check_may_target(kind, Audience.CONTACT_LISTS, bin_option=False)
    with pytest.raises(RuleError) as exc:
        check_may_target(kind, Audience.CITIZENS, bin_option=False)
    assert exc.value.rule == "BA-4-T2"
    assert exc.value.field == "audience"


def test_ba_7_bin_option_adds_bin_groups_only():
    """BA-7-BIN: the option opens the entity's own BIN groups, never all citizens."""
    audiences = allowed_audiences(Kind.POLICE_ZONE, bin_option=True)
    assert Audience.BIN_GROUPS in audiences
    assert Audience.CITIZENS not in audiences
    with pytest.raises(RuleError) as exc:
        check_may_target(Kind.POLICE_ZONE, Audience.BIN_GROUPS, bin_option=False)
    assert exc.value.rule == "BA-7-BIN"


def test_ba_7_lists_own_lists_have_no_quota():
    """BA-7-LISTS: contact lists are open to every alerting entity; the answer carries no limit."""
    for kind in (Kind.MUNICIPALITY, Kind.GOVERNOR, Kind.POLICE_ZONE, Kind.OTHER_TYPE2):
        assert Audience.CONTACT_LISTS in allowed_audiences(kind, bin_option=False)


@pytest.mark.parametrize(
    "kind",
    [Kind.ALARM_CENTRAL, Kind.SECURITY_COMPANY, Kind.EMERGENCY_CENTRE, Kind.REGISTRY_ADMIN, Kind.CRISIS_CENTRE],
)
def test_non_entities_send_no_alerts(kind):
    assert entity_type(kind) is None
    assert allowed_audiences(kind, bin_option=True) == frozenset()
    with pytest.raises(RuleError):
        check_may_target(kind, Audience.CONTACT_LISTS, bin_option=False)


def test_ba_7_4_lifecycle_transitions():
    check_transition(Status.REQUESTED, Status.ACTIVE)
    check_transition(Status.ACTIVE, Status.SUSPENDED)
    check_transition(Status.SUSPENDED, Status.ACTIVE)
    check_transition(Status.SUSPENDED, Status.TERMINATED)
    for target in Status:
        with pytest.raises(RuleError):
            check_transition(Status.TERMINATED, target)
    with pytest.raises(RuleError):
        check_transition(Status.REQUESTED, Status.SUSPENDED)


def test_ba_7_4_two_factor_for_anyone_who_alerts_or_sees_personal_data():
    assert requires_2fa(["operator"])
    assert requires_2fa(["admin"])
    assert requires_2fa(["arc_operator"])
    assert requires_2fa(["ec_operator"])
    assert not requires_2fa(["viewer"])


def test_roles_belong_to_the_kind_of_organisation():
    assert check_roles(Kind.ALARM_CENTRAL, ["arc_operator", "arc_operator"]) == ["arc_operator"]
    with pytest.raises(RuleError) as exc:
        check_roles(Kind.MUNICIPALITY, ["arc_operator"])
    assert exc.value.field == "roles"
    with pytest.raises(RuleError):
        check_roles(Kind.MUNICIPALITY, [])
    with pytest.raises(RuleError):
        check_roles(Kind.MUNICIPALITY, ["root"])
    assert Role.EC_OPERATOR.value in check_roles(Kind.EMERGENCY_CENTRE, ["ec_operator"])


def test_kb_3_internal_alarm_service_needs_recognition():
    with pytest.raises(RuleError) as exc:
        check_activation(
            Kind.INTERNAL_ALARM_SERVICE, recognition_reference=" ", nis_code="", sms_sender="", languages=[]
        )
    assert exc.value.rule == "KB-3"
    assert exc.value.field == "recognition_reference"
    check_activation(
        Kind.INTERNAL_ALARM_SERVICE, recognition_reference="MB 2026/123", nis_code="", sms_sender="", languages=[]
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"nis_code": "4402", "sms_sender": "Gent", "languages": ["nl"]}, "nis_code"),
        ({"nis_code": "44021", "sms_sender": "", "languages": ["nl"]}, "sms_sender"),
        ({"nis_code": "44021", "sms_sender": "Much too long sender", "languages": ["nl"]}, "sms_sender"),
        ({"nis_code": "44021", "sms_sender": "Gent", "languages": []}, "languages"),
        ({"nis_code": "44021", "sms_sender": "Gent", "languages": ["xx"]}, "languages"),
    ],
)
def test_ba_8_activation_parameters_are_checked(kwargs, field):
    with pytest.raises(RuleError) as exc:
        check_activation(Kind.MUNICIPALITY, recognition_reference="", **kwargs)
    assert exc.value.field == field

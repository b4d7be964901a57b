"""BIN groups (BA-7-BIN): creation, joining by code, delegated sending, reach, privacy (BA-7.4)."""

from __future__ import annotations

import pytest

from tests.audiences.factories import registration
from tests.organisations.factories import UserFactory
from tocsin.audiences import selectors, services
from tocsin.audiences.domain import invitation_code_shown
from tocsin.audiences.models import BinGroup, BinMembership
from tocsin.audit.models import AuditEntry
from tocsin.organisations.domain import RuleError
from tocsin.organisations.services import AccessDenied, NotFound


@pytest.fixture
def bin_org(make_org):
    return make_org("municipality", name="Gemeente Oudenaarde", nis_code="45035", bin_option=True)


@pytest.fixture
def bin_admin(bin_org):
    return UserFactory(organisation=bin_org, email="admin@oudenaarde.be", roles=["admin"])


@pytest.fixture
def coordinator(bin_org):
    return UserFactory(organisation=bin_org, email="bin@oudenaarde.be", roles=["viewer"])


@pytest.fixture
def officer(police_zone):
    return UserFactory(organisation=police_zone, email="wijkagent@pz.be", roles=["viewer"])


@pytest.fixture
def sender(bin_org):
    return UserFactory(organisation=bin_org, email="operator@oudenaarde.be", roles=["operator"])


@pytest.fixture
def group(bin_admin, coordinator, officer):
    return services.bin_group_create(
        actor=bin_admin,
        name="BIN Bevere",
        description="Wijk Bevere",
        coordinator_email=coordinator.email,
        police_officer_email=officer.email,
    )


def test_ba_7_bin_group_created_with_an_unguessable_unique_code(group, bin_admin):
    assert len(group.code) == 16
    other = services.bin_group_create(actor=bin_admin, name="BIN Eine", coordinator_email=group.coordinator.email,
                                      police_officer_email=group.police_officer.email)  # fmt: skip
    assert other.code != group.code
    assert selectors.bin_join_url(group).endswith(f"/bin/join/{group.code}/")
    assert AuditEntry.objects.filter(action="bin_group.created", object_id=str(group.pk)).exists()


def test_ba_7_bin_only_entities_with_the_bin_option_create_groups(muni_admin, police_admin, officer):
    coordinator = UserFactory(organisation=muni_admin.organisation)
    for actor in (muni_admin, police_admin):
        with pytest.raises(AccessDenied) as exc:
            services.bin_group_create(actor=actor, name="X", coordinator_email=coordinator.email,
                                      police_officer_email=officer.email)  # fmt: skip
        assert exc.value.rule == "BA-7-BIN"
    assert not BinGroup.objects.exists()


def test_ba_7_bin_police_zone_with_bin_option_creates_groups(police_zone, police_admin, officer):
    police_zone.bin_option = True
    police_zone.save()
    coordinator = UserFactory(organisation=police_zone)
    group = services.bin_group_create(actor=police_admin, name="BIN Centrum", coordinator_email=coordinator.email,
                                      police_officer_email=officer.email)  # fmt: skip
    assert group.organisation_id == police_zone.pk


def test_ba_7_bin_coordinator_and_officer_checked(bin_admin, coordinator, officer, municipality):
    outsider = UserFactory(organisation=municipality)  # a municipality is not a police zone
    cases = [
        ({"coordinator_email": officer.email, "police_officer_email": officer.email}, "coordinator_email"),
        ({"coordinator_email": "nobody@x.be", "police_officer_email": officer.email}, "coordinator_email"),
        ({"coordinator_email": coordinator.email, "police_officer_email": outsider.email}, "police_officer_email"),
        ({"coordinator_email": coordinator.email, "police_officer_email": "nobody@x.be"}, "police_officer_email"),
        ({"coordinator_email": coordinator.email, "police_officer_email": coordinator.email}, "police_officer_email"),
    ]
    for emails, field in cases:
        with pytest.raises(RuleError) as exc:
            services.bin_group_create(actor=bin_admin, name="X", **emails)
        assert (exc.value.field, exc.value.rule) == (field, "BA-7-BIN")
    assert not BinGroup.objects.exists()


def test_ba_7_bin_only_admins_manage_groups(group, sender, coordinator):
    for actor in (sender, coordinator):
        with pytest.raises(AccessDenied):
            services.bin_group_update(actor=actor, group_id=group.pk, name="Mine")
    assert selectors.bin_group_get(actor=sender, group_id=group.pk).name == "BIN Bevere"


def test_ba_7_bin_citizen_joins_with_the_code_once(group):
    citizen = registration()
    membership = services.bin_group_join(code=invitation_code_shown(group.code).lower(), registration_id=citizen.pk)
    again = services.bin_group_join(code=group.code, registration_id=citizen.pk)
    assert membership.pk == again.pk
    assert BinMembership.objects.filter(group=group).count() == 1
    assert [g.pk for g in selectors.bin_groups_of_registration(registration_id=citizen.pk)] == [group.pk]
    services.bin_group_leave(group_id=group.pk, registration_id=citizen.pk)
    assert not BinMembership.objects.exists()


def test_ba_7_bin_opted_out_citizen_refused(group):
    citizen = registration(opt_out_bin=True)
    with pytest.raises(RuleError) as exc:
        services.bin_group_join(code=group.code, registration_id=citizen.pk)
    assert exc.value.rule == "BA-7-BIN"
    assert not BinMembership.objects.exists()


def test_ba_7_bin_wrong_or_renewed_code_refused(group, bin_admin, bin_org):
    citizen = registration()
    for code in ["", "nonsense", "0" * 16]:
        with pytest.raises(NotFound):
            services.bin_group_join(code=code, registration_id=citizen.pk)
    old = group.code
    services.bin_group_code_renew(actor=bin_admin, group_id=group.pk)
    with pytest.raises(NotFound):
        services.bin_group_join(code=old, registration_id=citizen.pk)
    bin_org.bin_option = False
    bin_org.save()
    with pytest.raises(NotFound):
        services.bin_group_join(code=BinGroup.objects.get(pk=group.pk).code, registration_id=citizen.pk)
    assert not BinMembership.objects.exists()


def test_ba_7_bin_sending_needs_coordinator_and_police_approval(group, bin_admin, sender, coordinator, officer):
    with pytest.raises(RuleError, match="not a delegated sender"):
        selectors.bin_group_may_send(group_id=group.pk, user=sender)
    services.bin_sender_nominate(actor=bin_admin, group_id=group.pk, user_id=sender.pk)
    with pytest.raises(RuleError, match="coordinator and of the responsible police officer") as exc:
        selectors.bin_group_may_send(group_id=group.pk, user=sender)
    assert exc.value.rule == "BA-7-BIN"
    services.bin_sender_approve(actor=coordinator, group_id=group.pk, user_id=sender.pk)
    with pytest.raises(RuleError, match="approval of the responsible police officer"):
        selectors.bin_group_may_send(group_id=group.pk, user=sender)
    # The officer belongs to a police zone, not to the group's organisation, and still approves.
    services.bin_sender_approve(actor=officer, group_id=group.pk, user_id=sender.pk)
    selectors.bin_group_may_send(group_id=group.pk, user=sender)
    assert AuditEntry.objects.filter(action="bin_sender.approved", data__as="police").exists()


def test_ba_7_bin_others_cannot_approve(group, bin_admin, sender):
    services.bin_sender_nominate(actor=bin_admin, group_id=group.pk, user_id=sender.pk)
    for actor in (bin_admin, sender):
        with pytest.raises(AccessDenied):
            services.bin_sender_approve(actor=actor, group_id=group.pk, user_id=sender.pk)


def test_ba_7_bin_new_coordinator_approves_again_and_revocation_ends_sending(
    group, bin_admin, sender, coordinator, officer, bin_org
):
    services.bin_sender_nominate(actor=bin_admin, group_id=group.pk, user_id=sender.pk)
    services.bin_sender_approve(actor=coordinator, group_id=group.pk, user_id=sender.pk)
    services.bin_sender_approve(actor=officer, group_id=group.pk, user_id=sender.pk)
    successor = UserFactory(organisation=bin_org, roles=["viewer"])
    services.bin_group_update(actor=bin_admin, group_id=group.pk, coordinator_email=successor.email)
    with pytest.raises(RuleError, match="approval of the BIN coordinator"):
        selectors.bin_group_may_send(group_id=group.pk, user=sender)
    services.bin_sender_approve(actor=successor, group_id=group.pk, user_id=sender.pk)
    selectors.bin_group_may_send(group_id=group.pk, user=sender)
    services.bin_sender_revoke(actor=officer, group_id=group.pk, user_id=sender.pk)
    with pytest.raises(RuleError, match="revoked"):
        selectors.bin_group_may_send(group_id=group.pk, user=sender)
    with pytest.raises(RuleError):
        services.bin_sender_approve(actor=successor, group_id=group.pk, user_id=sender.pk)
    # Proposed again: both approvals start over.
    services.bin_sender_nominate(actor=bin_admin, group_id=group.pk, user_id=sender.pk)
    with pytest.raises(RuleError, match="coordinator and of the responsible police officer"):
        selectors.bin_group_may_send(group_id=group.pk, user=sender)


def test_ba_7_bin_senders_are_admins_or_operators_of_the_owning_organisation(group, bin_admin, coordinator, officer):
    with pytest.raises(RuleError) as exc:
        services.bin_sender_nominate(actor=bin_admin, group_id=group.pk, user_id=coordinator.pk)  # a viewer
    assert exc.value.rule == "BA-7-BIN"
    with pytest.raises(NotFound):
        services.bin_sender_nominate(actor=bin_admin, group_id=group.pk, user_id=officer.pk)  # another organisation


def test_ba_7_bin_members_for_send_own_groups_active_and_opted_in_only(group, bin_admin, bin_org):
    active, paused, pending, opted_out = (registration(), registration(status="paused"),
                                          registration(status="pending"), registration())  # fmt: skip
    for citizen in (active, paused, pending, opted_out):
        services.bin_group_join(code=group.code, registration_id=citizen.pk)
    opted_out.opt_out_bin = True  # the citizen changed their mind after joining
    opted_out.save()
    second = services.bin_group_create(actor=bin_admin, name="BIN Eine", coordinator_email=group.coordinator.email,
                                       police_officer_email=group.police_officer.email)  # fmt: skip
    services.bin_group_join(code=second.code, registration_id=active.pk)
    assert selectors.bin_group_members_for_send(organisation=bin_org, group_ids=[group.pk, second.pk]) == [active.pk]
    counts = selectors.bin_group_get(actor=bin_admin, group_id=group.pk)
    assert (counts.member_count, counts.reachable_count) == (4, 1)


def test_ba_7_bin_entity_reaches_only_its_own_groups(group, make_org):
    other = make_org("municipality", name="Gemeente Kluisbergen", bin_option=True)
    with pytest.raises(NotFound):
        selectors.bin_group_members_for_send(organisation=other, group_ids=[group.pk])
    with pytest.raises(NotFound):
        selectors.bin_group_members_for_send(organisation=other, group_ids=[])


def test_ba_7_bin_entity_without_the_option_reaches_no_bin_group(group, bin_org, sender):
    bin_org.bin_option = False
    bin_org.save()
    with pytest.raises(RuleError) as exc:
        selectors.bin_group_members_for_send(organisation=bin_org, group_ids=[group.pk])
    assert exc.value.rule == "BA-7-BIN"


def test_tenant_isolation_bin_groups_of_another_organisation(group, muni_admin, sender):
    assert list(selectors.bin_group_list(actor=muni_admin)) == []
    calls = [
        lambda: selectors.bin_group_get(actor=muni_admin, group_id=group.pk),
        lambda: selectors.bin_sender_list(actor=muni_admin, group_id=group.pk),
        lambda: selectors.bin_group_may_send(group_id=group.pk, user=muni_admin),
        lambda: services.bin_group_update(actor=muni_admin, group_id=group.pk, name="Mine"),
        lambda: services.bin_group_delete(actor=muni_admin, group_id=group.pk),
        lambda: services.bin_group_code_renew(actor=muni_admin, group_id=group.pk),
        lambda: services.bin_sender_nominate(actor=muni_admin, group_id=group.pk, user_id=sender.pk),
        lambda: services.bin_sender_approve(actor=muni_admin, group_id=group.pk, user_id=sender.pk),
        lambda: services.bin_sender_revoke(actor=muni_admin, group_id=group.pk, user_id=sender.pk),
    ]
    muni_admin.organisation.bin_option = True
    muni_admin.organisation.save()
    for call in calls:
        with pytest.raises(NotFound):
            call()
    assert BinGroup.objects.get(pk=group.pk).name == "BIN Bevere"


def test_ba_7_4_officer_elsewhere_sees_the_group_but_not_its_members(group, officer):
    citizen = registration(name="Jan Janssens")
    services.bin_group_join(code=group.code, registration_id=citizen.pk)
    seen = selectors.bin_group_get(actor=officer, group_id=group.pk)
    assert seen.member_count == 1
    with pytest.raises((AccessDenied, NotFound)):  # the officer approves; the owning organisation manages
        services.bin_group_update(actor=officer, group_id=group.pk, name="Mine")

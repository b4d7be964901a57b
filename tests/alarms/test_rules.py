"""Each rule of the Royal Decree of 25 April 2007 that the registry enforces, through the services
(the layer the portal, the API, the CSV import and the CLI all go through)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from tests.alarms.conftest import USER
from tocsin.alarms import domain, services
from tocsin.alarms.domain import FieldErrors
from tocsin.alarms.models import AlarmSystem, InformationRecord, RemoteActionRecord, SystemVersion
from tocsin.alarms.services import as_member, as_user
from tocsin.audit.models import AuditEntry
from tocsin.organisations.domain import RuleError
from tocsin.organisations.services import AccessDenied, NotFound

PDF = b"%PDF-1.4\n% signed consent\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def refused(exc: pytest.ExceptionInfo[FieldErrors]) -> dict[str, str | None]:
    return {e.field or "": e.rule for e in exc.value.errors}


def today() -> date:
    return timezone.localdate()


# --- KB-2: scope -------------------------------------------------------------------------------


def test_kb_2_no_siren_light_or_notification_system_is_out_of_scope(values):
    with pytest.raises(FieldErrors) as exc:
        services.system_register(
            actor=as_user(USER),
            values=values(siren=False, siren_alarm_s=0, siren_sabotage_s=0, light=False, light_until_switch_off=False),
        )
    assert refused(exc)["components"] == "KB-2"
    assert "not registered" in exc.value.errors[0].message
    assert AlarmSystem.objects.count() == 0


def test_kb_2_goods_alarm_not_in_a_building_is_out_of_scope(values):
    with pytest.raises(FieldErrors) as exc:
        services.system_register(actor=as_user(USER), values=values(in_building=False))
    assert refused(exc)["in_building"] == "KB-2"
    assert AlarmSystem.objects.count() == 0


def test_kb_2_personal_alarm_with_only_a_notification_system_is_in_scope(values):
    system = services.system_register(
        actor=as_user(USER),
        values=values(system_type="personal_mobile", risk_nature="aggression", siren=False, siren_alarm_s=0,
                      siren_sabotage_s=0, light=False, light_until_switch_off=False, notification_system=True),
    )  # fmt: skip
    assert system.in_building is False  # a mobile personal alarm is wherever its person is


# --- KB-17 / KB-18: sirens and lights ------------------------------------------------------------


@pytest.mark.parametrize("alarm_s", [181, 0, 600])
def test_kb_17_siren_sounds_at_most_three_minutes(values, alarm_s):
    with pytest.raises(FieldErrors) as exc:
        services.system_register(actor=as_user(USER), values=values(siren_alarm_s=alarm_s))
    assert refused(exc)["siren_alarm_s"] == "KB-17"
    assert "art. 17" in exc.value.errors[0].message


@pytest.mark.parametrize("sabotage_s", [481, 120])
def test_kb_17_longer_sound_only_on_sabotage_at_most_eight_minutes(values, sabotage_s):
    with pytest.raises(FieldErrors) as exc:
        services.system_register(actor=as_user(USER), values=values(siren_alarm_s=150, siren_sabotage_s=sabotage_s))
    assert refused(exc)["siren_sabotage_s"] == "KB-17"


def test_kb_17_limits_accepted_exactly(values):
    system = services.system_register(actor=as_user(USER), values=values(siren_alarm_s=180, siren_sabotage_s=480))
    assert (system.siren_alarm_s, system.siren_sabotage_s) == (180, 480)


def test_kb_18_siren_requires_flashing_light(values):
    with pytest.raises(FieldErrors) as exc:
        services.system_register(actor=as_user(USER), values=values(light=False, light_until_switch_off=False))
    assert refused(exc)["light"] == "KB-18"
    assert AlarmSystem.objects.count() == 0


def test_kb_18_light_lit_until_switch_off(values):
    with pytest.raises(FieldErrors) as exc:
        services.system_register(actor=as_user(USER), values=values(light_until_switch_off=False))
    assert refused(exc)["light_until_switch_off"] == "KB-18"


# --- KB-9, KB-24, KB-5/KB-26 -------------------------------------------------------------------


def test_kb_9_components_must_not_hinder_or_injure(values):
    with pytest.raises(FieldErrors) as exc:
        services.system_register(actor=as_user(USER), values=values(components_safe=False))
    assert refused(exc)["components_safe"] == "KB-9"


def test_kb_24_fixed_personal_alarm_in_public_place_after_decree_needs_visual_verification(values):
    fixed = {"system_type": "personal_fixed", "risk_nature": "hold_up", "property_nature": "shop",
             "publicly_accessible": True}  # fmt: skip
    with pytest.raises(FieldErrors) as exc:
        services.system_register(actor=as_user(USER), values=values(**fixed))
    assert refused(exc)["visual_verification"] == "KB-24"
    system = services.system_register(actor=as_user(USER), values=values(**fixed, visual_verification=True))
    assert system.visual_verification


def test_kb_24_does_not_apply_before_the_decree_unless_renewed(values):
    fixed = {"system_type": "personal_fixed", "risk_nature": "hold_up", "property_nature": "shop",
             "publicly_accessible": True, "first_use": "2005-03-01"}  # fmt: skip
    assert services.system_register(actor=as_user(USER), values=values(**fixed)).reference
    with pytest.raises(FieldErrors) as exc:
        services.system_register(actor=as_user(USER), values=values(**fixed, renewed_on="2019-06-01"))
    assert refused(exc)["visual_verification"] == "KB-24"
    assert domain.KB_IN_FORCE == date(2007, 10, 4)


def test_kb_5_kb_26_access_code_handed_is_recorded_and_versioned(values):
    actor = as_user(USER)
    system = services.system_register(actor=actor, values=values(access_code_handed=False))
    assert system.access_code_handed is False
    system, version = services.system_change(
        actor=actor, reference=system.reference, values={"access_code_handed": True}
    )
    assert version.changes == {"access_code_handed": [False, True]}


# --- KB-7-USER: deadlines, versions, bad dates -------------------------------------------------


def test_kb_7_user_registration_on_time_and_late(values):
    actor = as_user(USER)
    on_time = services.system_register(actor=actor, values=values(first_use=(today() - timedelta(days=10)).isoformat()))
    late = services.system_register(actor=actor, values=values(first_use=(today() - timedelta(days=14)).isoformat()))
    assert on_time.registration_late_days == 0
    assert late.registration_late_days == 4
    version = SystemVersion.objects.get(system=late)
    assert (version.kind, version.late_days, version.due_on) == ("registration", 4, today() - timedelta(days=4))
    assert version.by_label == f"user {USER}"


def test_kb_7_user_first_use_in_future_refused(values):
    with pytest.raises(FieldErrors) as exc:
        services.system_register(
            actor=as_user(USER), values=values(first_use=(today() + timedelta(days=1)).isoformat())
        )
    assert refused(exc)["first_use"] == "KB-7-USER"


def test_kb_7_user_every_missing_field_named_at_once(values):
    with pytest.raises(FieldErrors) as exc:
        services.system_register(
            actor=as_user(USER), values=values(site_name="", site_phone="", property_nature="", first_use="")
        )
    fields = refused(exc)
    assert {"site_name", "site_phone", "property_nature", "first_use"} <= set(fields)
    assert fields["site_name"] == "KB-7-USER"
    assert AlarmSystem.objects.count() == 0


def test_kb_7_user_unknown_address_and_bad_values_refused(values):
    with pytest.raises(FieldErrors) as exc:
        services.system_register(
            actor=as_user(USER),
            values=values(site_address_id=None, site_street="Nergensstraat", site_house_number="1",
                          site_postcode="9999", user_email="not-an-email", site_phone="12", system_type="car"),
        )  # fmt: skip
    fields = refused(exc)
    assert {"site_postcode", "user_email", "site_phone", "system_type"} <= set(fields)
    assert "9999" in next(e.message for e in exc.value.errors if e.field == "site_postcode")


def test_kb_7_user_change_within_ten_days_versioned(values):
    actor = as_user(USER)
    system = services.system_register(actor=actor, values=values(first_use="2025-02-01"))
    system, version = services.system_change(
        actor=actor,
        reference=system.reference,
        values={"site_phone": "+3293609999"},
        changed_on=(today() - timedelta(days=12)).isoformat(),
    )
    assert version.kind == "change" and version.late_days == 2
    assert version.changes == {"site_phone": ["+3293601234", "+3293609999"]}
    assert system.version == 2
    # Nothing changed: no version.
    _, none = services.system_change(actor=actor, reference=system.reference, values={"site_phone": "093 60 99 99"})
    assert none is None
    assert SystemVersion.objects.filter(system=system).count() == 2


def test_kb_7_user_deregistration_dates(values):
    actor = as_user(USER)
    system = services.system_register(actor=actor, values=values(first_use="2024-05-01"))
    with pytest.raises(RuleError) as exc:
        services.system_deregister(actor=actor, reference=system.reference, out_of_use="2024-04-30")
    assert exc.value.field == "out_of_use" and exc.value.rule == "KB-7-USER"
    with pytest.raises(RuleError):
        services.system_deregister(
            actor=actor, reference=system.reference, out_of_use=(today() + timedelta(days=2)).isoformat()
        )
    system = services.system_deregister(
        actor=actor, reference=system.reference, out_of_use=(today() - timedelta(days=11)).isoformat()
    )
    assert system.status == "deregistered"
    assert system.versions.get(kind="deregistration").late_days == 1
    with pytest.raises(RuleError):
        services.system_change(actor=actor, reference=system.reference, values={"site_name": "x"})


def test_kb_7_user_sees_and_changes_only_own_systems(values):
    system = services.system_register(actor=as_user(USER), values=values())
    with pytest.raises(NotFound):
        services.system_change(actor=as_user("other@example.be"), reference=system.reference, values={"site_name": "x"})
    with pytest.raises(NotFound):
        services.system_deregister(
            actor=as_user("other@example.be"), reference=system.reference, out_of_use="2025-01-01"
        )


def test_kb_7_user_must_keep_the_contact_signed_in_with(values):
    with pytest.raises(FieldErrors) as exc:
        services.system_register(actor=as_user(USER), values=values(user_email="someone@else.be", user_mobile=""))
    assert "user_email" in refused(exc)


# --- KB-7-ARC: centrals, numbers -----------------------------------------------------------------


def test_kb_7_arc_central_registers_with_user_number_and_arn(mvalues, central_op):
    system = services.system_register(actor=as_member(central_op), values=mvalues())
    assert (system.central_id, system.user_number, system.alarm_report_number) == (
        central_op.organisation_id,
        "U1001",
        "N001",
    )
    assert system.versions.get().by_label == f"Centrale Noord ({central_op.email})"


def test_kb_7_arc_user_number_unique_per_central(mvalues, central_op, other_op):
    services.system_register(actor=as_member(central_op), values=mvalues())
    with pytest.raises(FieldErrors) as exc:
        services.system_register(actor=as_member(central_op), values=mvalues())
    assert refused(exc)["user_number"] == "KB-7-ARC"
    assert AlarmSystem.objects.count() == 1
    # Another central may use the same user number.
    other = services.system_register(actor=as_member(other_op), values=mvalues(alarm_report_number="Z001"))
    assert other.user_number == "U1001"


def test_kb_7_arc_alarm_report_number_must_be_assigned_to_the_central(mvalues, central_op, other_op):
    with pytest.raises(FieldErrors) as exc:
        services.system_register(actor=as_member(central_op), values=mvalues(alarm_report_number="Z001"))
    assert refused(exc)["alarm_report_number"] == "KB-7-ARC"


def test_kb_7_arc_numbers_follow_the_administrations_pattern(mvalues, central_op, registry_admin):
    with pytest.raises(FieldErrors) as exc:
        services.system_register(actor=as_member(central_op), values=mvalues(user_number="u-1"))
    assert refused(exc)["user_number"] == "KB-7-ARC"
    services.config_set(actor=as_member(registry_admin), user_number_pattern=r"U-\d{3}", arn_pattern=r"[A-Z]\d{3}")
    system = services.system_register(actor=as_member(central_op), values=mvalues(user_number="u-123"))
    assert system.user_number == "U-123"
    with pytest.raises(FieldErrors):
        services.system_register(actor=as_member(central_op), values=mvalues(user_number="U1001"))


def test_kb_7_arc_bad_patterns_refused(registry_admin):
    for pattern in ("(", "", "x*", "(a+)+"):
        with pytest.raises(RuleError):
            services.config_set(actor=as_member(registry_admin), user_number_pattern=pattern, arn_pattern="[0-9]{4}")


def test_kb_7_arc_only_the_registry_sets_formats_and_assigns_numbers(central_op, central):
    with pytest.raises(AccessDenied):
        services.config_set(actor=as_member(central_op), user_number_pattern="[0-9]+", arn_pattern="[0-9]+")
    with pytest.raises(AccessDenied):
        services.arn_assign(actor=as_member(central_op), organisation_id=central.pk, number="N999")


def test_kb_7_arc_arn_only_to_centrals_and_once(registry_admin, central_op, company):
    with pytest.raises(RuleError) as exc:
        services.arn_assign(actor=as_member(registry_admin), organisation_id=company.pk, number="C001")
    assert exc.value.rule == "KB-7-ARC"
    with pytest.raises(RuleError):
        services.arn_assign(actor=as_member(registry_admin), organisation_id=central_op.organisation_id, number="N001")


def test_kb_7_arc_central_isolation(mvalues, central_op, other_op):
    system = services.system_register(actor=as_member(central_op), values=mvalues())
    with pytest.raises(NotFound):
        services.system_change(actor=as_member(other_op), reference=system.reference, values={"site_name": "x"})
    with pytest.raises(NotFound):
        services.system_release(actor=as_member(other_op), reference=system.reference)


def test_kb_7_arc_upsert_is_idempotent(mvalues, central_op):
    actor = as_member(central_op)
    system, result = services.system_upsert(actor=actor, values=mvalues())
    assert result == "created"
    again, result = services.system_upsert(actor=actor, values=mvalues())
    assert (again.pk, result) == (system.pk, "unchanged")
    changed, result = services.system_upsert(actor=actor, values=mvalues(site_name="Winkel"))
    assert (changed.pk, result, changed.version) == (system.pk, "updated", 2)


def test_kb_7_release_hands_the_system_to_its_user_with_a_deadline(mvalues, central_op):
    system = services.system_register(actor=as_member(central_op), values=mvalues())
    system = services.system_release(actor=as_member(central_op), reference=system.reference)
    assert system.central_id is None and system.user_number == ""
    assert system.handover_due == today() + timedelta(days=10)
    # The user confirms: that is the user's registration (KB-7-USER), on time.
    system, version = services.system_change(actor=as_user(USER), reference=system.reference, values={})
    assert version.kind == "registration" and version.late_days == 0
    assert system.handover_due is None


# --- KB-4: information duty ---------------------------------------------------------------------


def test_kb_4_central_records_client_information(mvalues, central_op):
    values = mvalues()
    values.pop("client_informed_on")
    with pytest.raises(FieldErrors) as exc:
        services.system_register(actor=as_member(central_op), values=values)
    assert refused(exc)["client_informed_on"] == "KB-4"
    system = services.system_register(actor=as_member(central_op), values=mvalues())
    assert InformationRecord.objects.get(system=system).organisation_id == central_op.organisation_id


def test_kb_4_security_company_records_information(values, company_tech):
    system = services.system_register(actor=as_user(USER), values=values())
    row = services.information_record(
        actor=as_member(company_tech), reference=system.reference, informed_on=system.first_use, site_postcode="9620"
    )
    assert row.organisation_id == company_tech.organisation_id
    with pytest.raises(NotFound):  # the reference alone is not enough
        services.information_record(
            actor=as_member(company_tech),
            reference=system.reference,
            informed_on=system.first_use,
            site_postcode="9000",
        )


# --- KB-8: maintenance ---------------------------------------------------------------------------


def test_kb_8_maintenance_every_year(values, company_tech):
    actor = as_user(USER)
    system = services.system_register(actor=actor, values=values(first_use="2024-01-10"))
    assert system.maintenance_due == date(2025, 1, 9)
    services.maintenance_record(actor=actor, reference=system.reference, done_on="2025-01-05", company_name="")
    system.refresh_from_db()
    assert system.maintenance_due == date(2026, 1, 5)
    services.maintenance_record(
        actor=as_member(company_tech), reference=system.reference, done_on="2026-01-03", site_postcode="9620"
    )
    system.refresh_from_db()
    assert system.last_maintenance == date(2026, 1, 3)
    latest = system.maintenances.first()
    assert latest.by_company and latest.company_id == company_tech.organisation_id
    with pytest.raises(RuleError) as exc:
        services.maintenance_record(actor=actor, reference=system.reference, done_on="2023-12-31")
    assert exc.value.rule == "KB-8"


# --- KB-21: sketch ------------------------------------------------------------------------------


def test_kb_21_sketch_only_for_fixed_personal_alarms(mvalues, central_op):
    actor = as_member(central_op)
    goods = services.system_register(actor=actor, values=mvalues())
    with pytest.raises(RuleError) as exc:
        services.sketch_upload(actor=actor, reference=goods.reference, content=PNG, content_type="image/png", name="s")
    assert exc.value.rule == "KB-21"
    fixed = services.system_register(
        actor=actor,
        values=mvalues(user_number="U1002", system_type="personal_fixed", risk_nature="hold_up", property_nature="bank",
                       publicly_accessible=True, visual_verification=True),
    )  # fmt: skip
    sketch = services.sketch_upload(
        actor=actor, reference=fixed.reference, content=PNG, content_type="image/png", name="plan.png",
        related_user_numbers=["U1001"],
    )  # fmt: skip
    assert sketch.related_user_numbers == ["U1001"]
    with pytest.raises(RuleError):  # not a PNG, whatever it says
        services.sketch_upload(
            actor=actor, reference=fixed.reference, content=b"<svg/>", content_type="image/png", name="x"
        )


# --- KB-6: remote actions ----------------------------------------------------------------------


def test_kb_6_consent_cannot_grant_more_than_the_decree(values, company):
    system = services.system_register(actor=as_user(USER), values=values())
    with pytest.raises(RuleError) as exc:
        services.consent_add(
            actor=as_user(USER), reference=system.reference, party_id=company.pk, actions=["arm"], purposes=["repair"],
            given_on=today().isoformat(), document=PDF, document_type="application/pdf", document_name="c.pdf",
        )  # fmt: skip
    assert exc.value.rule == "KB-6"
    with pytest.raises(RuleError) as exc:
        services.consent_add(
            actor=as_user(USER), reference=system.reference, party_id=company.pk, actions=["read"], purposes=["verify"],
            given_on=today().isoformat(), document=PDF, document_type="application/pdf", document_name="c.pdf",
        )  # fmt: skip
    assert exc.value.rule == "KB-6"


def test_kb_6_remote_action_needs_prior_written_consent(values, company, company_tech):
    system = services.system_register(actor=as_user(USER), values=values())
    tech = as_member(company_tech)
    with pytest.raises(NotFound):  # a company names the system by its reference and its site's postcode
        services.remote_action(actor=tech, reference=system.reference, action="read", purpose="repair")
    with pytest.raises(RuleError) as exc:
        services.remote_action(
            actor=tech, reference=system.reference, action="program", purpose="repair", site_postcode="9620"
        )
    assert exc.value.rule == "KB-6"
    refused_row = RemoteActionRecord.objects.get()
    assert refused_row.allowed is False and "consent" in refused_row.refusal
    consent = services.consent_add(
        actor=as_user(USER), reference=system.reference, party_id=company.pk, actions=["program", "read"],
        purposes=["repair"], given_on=today().isoformat(), document=PDF, document_type="application/pdf",
        document_name="consent.pdf",
    )  # fmt: skip
    row = services.remote_action(
        actor=tech, reference=system.reference, action="program", purpose="repair", note="zone 3", site_postcode="9620"
    )
    assert row.allowed and row.consent_id == consent.pk
    # A security company may not arm, and may read only to repair.
    with pytest.raises(RuleError):
        services.remote_action(
            actor=tech, reference=system.reference, action="arm", purpose="repair", site_postcode="9620"
        )
    with pytest.raises(RuleError):
        services.remote_action(
            actor=tech, reference=system.reference, action="read", purpose="verify", site_postcode="9620"
        )
    services.consent_withdraw(actor=as_user(USER), reference=system.reference, consent_id=consent.pk)
    with pytest.raises(RuleError):
        services.remote_action(
            actor=tech, reference=system.reference, action="program", purpose="repair", site_postcode="9620"
        )
    assert list(RemoteActionRecord.objects.order_by("pk").values_list("allowed", flat=True)) == [
        False, True, False, False, False,
    ]  # fmt: skip
    assert AuditEntry.objects.filter(action="alarms.remote_action_refused").count() == 4


def test_kb_6_central_arms_and_verifies_only(mvalues, central_op, central):
    actor = as_member(central_op)
    system = services.system_register(actor=actor, values=mvalues())
    services.consent_add(
        actor=actor, reference=system.reference, party_id=central.pk, actions=["arm", "disarm", "read"],
        purposes=["manage_alarm", "verify"], given_on=today().isoformat(), document=PDF,
        document_type="application/pdf", document_name="contract.pdf",
    )  # fmt: skip
    assert services.remote_action(
        actor=actor, reference=system.reference, action="disarm", purpose="manage_alarm"
    ).allowed
    assert services.remote_action(actor=actor, reference=system.reference, action="read", purpose="verify").allowed
    with pytest.raises(RuleError) as exc:
        services.remote_action(actor=actor, reference=system.reference, action="program", purpose="verify")
    assert exc.value.rule == "KB-6"


def test_kb_6_consent_documents_are_checked(values, company):
    system = services.system_register(actor=as_user(USER), values=values())
    with pytest.raises(RuleError) as exc:
        services.consent_add(
            actor=as_user(USER), reference=system.reference, party_id=company.pk, actions=["read"], purposes=["repair"],
            given_on=today().isoformat(), document=b"MZ\x90\x00", document_type="application/pdf", document_name="x",
        )  # fmt: skip
    assert exc.value.field == "document"


def test_kb_7_user_email_case_does_not_lock_a_user_out(values):
    """The e-mail address is how a user signs in and finds their systems: compared without case."""
    system = services.system_register(actor=as_user(USER), values=values(user_email="AN.Peeters@Example.BE"))
    assert system.user_email == USER
    assert services.normalise_contact("An.Peeters@EXAMPLE.be") == USER


def test_kb_7_arc_bulk_record_equals_the_forms_record(mvalues, register):
    """The bulk import builds a version's record without the dataclass: it must be the same record."""
    clean, errors = domain.system_errors(mvalues(), today=today(), managed=True)
    assert errors == []
    site = register["home"].pk
    assert domain.record_of(clean, site) == domain.system_data(clean, site).as_record()


def test_kb_7_arc_a_new_number_pattern_does_not_lock_old_numbers_out(mvalues, central_op, registry_admin):
    system = services.system_register(actor=as_member(central_op), values=mvalues())
    services.config_set(actor=as_member(registry_admin), user_number_pattern=r"U-\d{3}", arn_pattern=r"[A-Z]\d{3}")
    _, version = services.system_change(
        actor=as_member(central_op), reference=system.reference, values={"site_name": "B"}
    )
    assert version is not None and version.changes == {"site_name": ["Woning Peeters", "B"]}
    with pytest.raises(FieldErrors) as exc:  # a new number follows the new pattern
        services.system_change(actor=as_member(central_op), reference=system.reference, values={"user_number": "U2002"})
    assert refused(exc)["user_number"] == "KB-7-ARC"


def test_kb_7_arc_duplicate_number_named_with_the_other_errors(mvalues, central_op):
    services.system_register(actor=as_member(central_op), values=mvalues())
    with pytest.raises(FieldErrors) as exc:
        services.system_register(actor=as_member(central_op), values=mvalues(site_phone="12"))
    assert {"user_number", "site_phone"} <= set(refused(exc))


def test_kb_6_any_consent_in_force_that_covers_the_action(values, company, company_tech):
    system = services.system_register(actor=as_user(USER), values=values())
    for actions, given in ((["program"], "2024-01-01"), (["read"], "2025-01-01")):
        services.consent_add(
            actor=as_user(USER), reference=system.reference, party_id=company.pk, actions=actions,
            purposes=["repair"], given_on=given, document=PDF, document_type="application/pdf", document_name="c",
        )  # fmt: skip
    row = services.remote_action(
        actor=as_member(company_tech), reference=system.reference, action="program", purpose="repair",
        site_postcode="9620",
    )  # fmt: skip
    assert row.allowed


def test_kb_6_the_registry_neither_adds_nor_withdraws_consents(values, company, registry_admin):
    system = services.system_register(actor=as_user(USER), values=values())
    consent = services.consent_add(
        actor=as_user(USER), reference=system.reference, party_id=company.pk, actions=["read"], purposes=["repair"],
        given_on="2025-01-01", document=PDF, document_type="application/pdf", document_name="c",
    )  # fmt: skip
    with pytest.raises(AccessDenied):
        services.consent_withdraw(actor=as_member(registry_admin), reference=system.reference, consent_id=consent.pk)

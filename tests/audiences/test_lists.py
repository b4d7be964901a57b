"""Contact lists through the services and selectors: roles, rules, CSV import and export, sends."""

from __future__ import annotations

import pytest

from tests.organisations.factories import UserFactory
from tocsin.audiences import selectors, services
from tocsin.audiences.models import Contact, ContactList
from tocsin.audit.models import AuditEntry
from tocsin.delivery import services as delivery_services
from tocsin.delivery.domain import Channel, Priority
from tocsin.organisations.domain import RuleError
from tocsin.organisations.services import AccessDenied, NotFound

CSV = (
    "name;organisation;mobile;landline;email;language;notes\n"
    "Basisschool De Linde;directie;0470 12 34 56;;directie@linde.be;nl;\n"
    "WZC Ter Beke;;0471 00 00 01;09 210 10 10;;fr;night desk\n"
)


@pytest.fixture
def school_list(muni_admin):
    return services.contact_list_create(actor=muni_admin, name="Schools", description="Primary schools")


def _contacts(contact_list):
    return list(
        Contact.objects.filter(contact_list=contact_list).order_by("name").values_list("name", "mobile", "email")
    )


def test_create_list_and_contact_normalised(muni_admin, school_list):
    contact = services.contact_create(
        actor=muni_admin, list_id=school_list.pk, name="De Linde", mobile="0470/12.34.56", email="Info@Linde.BE"
    )
    assert (contact.mobile, contact.email, contact.language) == ("+32470123456", "Info@linde.be", "nl")
    assert selectors.contact_list_get(actor=muni_admin, list_id=school_list.pk).contact_count == 1
    assert AuditEntry.objects.filter(action="contact.created", object_id=str(contact.pk)).exists()


def test_bad_contact_refused_naming_the_field_and_nothing_written(muni_admin, school_list):
    for fields, field in [({"mobile": "123"}, "mobile"), ({"email": "x@"}, "email"), ({"language": "es",
                          "email": "a@b.be"}, "language"), ({}, "mobile")]:  # fmt: skip
        with pytest.raises(RuleError) as exc:
            services.contact_create(actor=muni_admin, list_id=school_list.pk, name="X", **fields)
        assert exc.value.field == field
    assert Contact.objects.count() == 0


def test_same_mobile_or_email_twice_in_a_list_refused(muni_admin, school_list):
    services.contact_create(actor=muni_admin, list_id=school_list.pk, name="A", mobile="0470123456")
    with pytest.raises(RuleError) as exc:
        services.contact_create(actor=muni_admin, list_id=school_list.pk, name="B", mobile="+32470123456")
    assert exc.value.field == "mobile"
    services.contact_create(actor=muni_admin, list_id=school_list.pk, name="C", email="c@x.be")
    with pytest.raises(RuleError) as exc:
        services.contact_create(actor=muni_admin, list_id=school_list.pk, name="D", email="C@x.be")
    assert exc.value.field == "email"


def test_list_names_unique_per_organisation(muni_admin, police_admin, school_list):
    with pytest.raises(RuleError) as exc:
        services.contact_list_create(actor=muni_admin, name="schools")
    assert exc.value.field == "name"
    services.contact_list_create(actor=police_admin, name="Schools")  # another organisation: its own name space


def test_roles_viewer_reads_operator_writes(municipality, school_list):
    viewer = UserFactory(organisation=municipality, roles=["viewer"])
    operator = UserFactory(organisation=municipality, roles=["operator"])
    assert [cl.name for cl in selectors.contact_list_list(actor=viewer)] == ["Schools"]
    assert list(selectors.contact_list_contacts(actor=viewer, list_id=school_list.pk)) == []
    with pytest.raises(AccessDenied):
        services.contact_list_create(actor=viewer, name="Mine")
    with pytest.raises(AccessDenied):
        services.contact_create(actor=viewer, list_id=school_list.pk, name="X", email="x@y.be")
    with pytest.raises(AccessDenied):
        selectors.contact_list_export(actor=viewer, list_id=school_list.pk)
    services.contact_create(actor=operator, list_id=school_list.pk, name="X", email="x@y.be")


def test_ba_4_t2_police_zone_keeps_and_alerts_lists(police_admin):
    """BA-4-T2: a type-2 entity may alert predefined lists (and only those)."""
    contact_list = services.contact_list_create(actor=police_admin, name="Banks")
    services.contact_create(actor=police_admin, list_id=contact_list.pk, name="Bank", mobile="0470123456")
    recipients = selectors.contact_list_recipients_for_send(
        organisation=police_admin.organisation, list_ids=[contact_list.pk]
    )
    assert recipients["mobile"] == [("+32470123456", "nl")]


def test_lists_are_for_alerting_entities_only(cc_admin):
    with pytest.raises(AccessDenied) as exc:
        services.contact_list_create(actor=cc_admin, name="Mine")
    assert exc.value.rule == "BA-4-T2"


def test_suspended_organisation_cannot_read_lists(muni_admin, school_list):
    muni_admin.organisation.status = "suspended"
    muni_admin.organisation.save()
    with pytest.raises(AccessDenied):
        selectors.contact_list_list(actor=muni_admin)


def test_update_and_delete(muni_admin, school_list):
    contact = services.contact_create(actor=muni_admin, list_id=school_list.pk, name="A", email="a@x.be")
    services.contact_update(actor=muni_admin, contact_id=contact.pk, mobile="0470123456", email=None)
    contact.refresh_from_db()
    assert (contact.mobile, contact.email) == ("+32470123456", "a@x.be")
    with pytest.raises(RuleError) as exc:
        services.contact_update(actor=muni_admin, contact_id=contact.pk, mobile="", email="")
    assert exc.value.field == "mobile"
    services.contact_list_update(actor=muni_admin, list_id=school_list.pk, name="Scholen")
    services.contact_delete(actor=muni_admin, contact_id=contact.pk)
    services.contact_list_delete(actor=muni_admin, list_id=school_list.pk)
    assert not ContactList.objects.exists()


# --- import and export ----------------------------------------------------------------


def test_import_reports_bad_rows_and_imports_the_good_ones(muni_admin, school_list):
    text = CSV + "No Channel;;;;;;\n;;0470999999;;;;\nBad Phone;;12345;;;;\nBad Lang;;;;x@y.be;es;\n"
    report = services.contact_list_import(actor=muni_admin, list_id=school_list.pk, data=text.encode())
    assert (report.created, report.updated, report.rejected) == (2, 0, 4)
    problems = {(p.row, p.field) for p in report.problems}
    assert problems == {(4, "mobile"), (5, "name"), (6, "mobile"), (7, "language")}
    assert all(p.message for p in report.problems)
    assert _contacts(school_list) == [
        ("Basisschool De Linde", "+32470123456", "directie@linde.be"),
        ("WZC Ter Beke", "+32471000001", ""),
    ]
    ter_beke = Contact.objects.get(name="WZC Ter Beke")
    assert (ter_beke.landline, ter_beke.language, ter_beke.notes) == ("+3292101010", "fr", "night desk")
    assert AuditEntry.objects.filter(action="contact_list.imported", data__created=2).exists()


def test_reimport_updates_instead_of_duplicating(muni_admin, school_list):
    services.contact_list_import(actor=muni_admin, list_id=school_list.pk, data=CSV)
    again = services.contact_list_import(actor=muni_admin, list_id=school_list.pk, data=CSV)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 0)
    # Same e-mail, new mobile and name: the contact is updated; matched by mobile alone likewise.
    changed = "name,mobile,email\nDe Linde,0470 55 55 55,DIRECTIE@linde.be\nTer Beke,+32471000001,\n"
    report = services.contact_list_import(actor=muni_admin, list_id=school_list.pk, data=changed)
    assert (report.created, report.updated) == (0, 2)
    assert _contacts(school_list) == [("De Linde", "+32470555555", "DIRECTIE@linde.be"),
                                      ("Ter Beke", "+32471000001", "")]  # fmt: skip
    # Columns absent from the file are kept: Ter Beke's landline and language are still there.
    assert Contact.objects.get(name="Ter Beke").landline == "+3292101010"


def test_import_row_matching_two_contacts_is_refused(muni_admin, school_list):
    services.contact_list_import(actor=muni_admin, list_id=school_list.pk, data=CSV)
    report = services.contact_list_import(
        actor=muni_admin, list_id=school_list.pk, data="name;mobile;email\nMix;0471000001;directie@linde.be\n"
    )
    assert report.rejected == 1 and report.problems[0].row == 2
    assert Contact.objects.filter(contact_list=school_list).count() == 2


def test_import_bad_file_changes_nothing(muni_admin, school_list):
    for data in [b"\xff\xfename", b"phone;name\n1;2\n", b""]:
        with pytest.raises(RuleError) as exc:
            services.contact_list_import(actor=muni_admin, list_id=school_list.pk, data=data)
        assert exc.value.field == "file"
    assert not Contact.objects.exists()


def test_import_duplicate_rows_in_one_file_make_one_contact(muni_admin, school_list):
    text = "name;mobile\nA;0470123456\nA bis;0470 12 34 56\n"
    report = services.contact_list_import(actor=muni_admin, list_id=school_list.pk, data=text)
    assert report.created == 1
    assert _contacts(school_list) == [("A bis", "+32470123456", "")]


def test_import_a_number_freed_by_one_row_taken_by_the_next(muni_admin, school_list):
    services.contact_list_import(actor=muni_admin, list_id=school_list.pk,
                                 data="name;mobile;email\nA;0470000001;a@x.be\nB;0470000002;b@x.be\n")  # fmt: skip
    swap = "name;mobile;email\nA;0470000003;a@x.be\nB;0470000001;b@x.be\n"
    report = services.contact_list_import(actor=muni_admin, list_id=school_list.pk, data=swap)
    assert (report.updated, report.rejected) == (2, 0)
    assert _contacts(school_list) == [("A", "+32470000003", "a@x.be"), ("B", "+32470000001", "b@x.be")]


def test_export_round_trips_and_is_audited(muni_admin, school_list):
    services.contact_list_import(actor=muni_admin, list_id=school_list.pk, data=CSV)
    services.contact_create(actor=muni_admin, list_id=school_list.pk, name="=cmd|' /C calc'!A0", email="e@x.be")
    exported = selectors.contact_list_export(actor=muni_admin, list_id=school_list.pk)
    assert exported.startswith("\ufeffname;organisation;mobile;landline;email;language;notes\r\n")
    assert "\n'=cmd" in exported  # a spreadsheet shows it as text, never runs it
    assert AuditEntry.objects.filter(action="personal_data.export", data__count=3).exists()
    copy = services.contact_list_create(actor=muni_admin, name="Copy")
    report = services.contact_list_import(actor=muni_admin, list_id=copy.pk, data=exported.encode())
    assert (report.created, report.rejected) == (3, 0)
    fields = ("name", "organisation", "mobile", "landline", "email", "language", "notes")
    assert sorted(Contact.objects.filter(contact_list=copy).values_list(*fields)) == sorted(
        Contact.objects.filter(contact_list=school_list).values_list(*fields)
    )


def test_ba_7_lists_unlimited_sends_to_own_lists(muni_admin, school_list):
    """BA-7-LISTS: an entity alerts its own lists as often as it chooses; no quota anywhere."""
    delivery_services.gateway_configure(name="platform-sms", kind="smpp", channel="sms", config={})
    rows = "\n".join(f"Contact {i};+324700{i:05d}" for i in range(2000))
    services.contact_list_import(actor=muni_admin, list_id=school_list.pk, data="name;mobile\n" + rows)
    for _ in range(5):
        recipients = selectors.contact_list_recipients_for_send(
            organisation=muni_admin.organisation, list_ids=[school_list.pk]
        )
        sent = delivery_services.send_request_create(
            organisation_id=muni_admin.organisation_id, created_by_id=muni_admin.pk, purpose="alert",
            priority=Priority.ALERT, content={"nl": {"text": "t"}}, recipients={Channel.SMS: recipients["mobile"]},
        )  # fmt: skip
        assert sent.recipient_count == 2000


def test_recipients_deduplicated_across_lists(muni_admin, school_list):
    other = services.contact_list_create(actor=muni_admin, name="Other")
    services.contact_create(actor=muni_admin, list_id=school_list.pk, name="A", mobile="0470123456", email="a@x.be")
    services.contact_create(actor=muni_admin, list_id=other.pk, name="A", mobile="0470123456", email="A@X.be")
    recipients = selectors.contact_list_recipients_for_send(
        organisation=muni_admin.organisation, list_ids=[school_list.pk, other.pk]
    )
    assert recipients == {"mobile": [("+32470123456", "nl")], "landline": [], "email": [("a@x.be", "nl")]}


# --- tenant isolation (invariant 4) ------------------------------------------------------


def test_tenant_isolation_lists_of_another_organisation_are_not_found(muni_admin, police_admin):
    theirs = services.contact_list_create(actor=police_admin, name="Banks")
    contact = services.contact_create(actor=police_admin, list_id=theirs.pk, name="Bank", mobile="0470123456")
    assert list(selectors.contact_list_list(actor=muni_admin)) == []
    calls = [
        lambda: selectors.contact_list_get(actor=muni_admin, list_id=theirs.pk),
        lambda: selectors.contact_list_contacts(actor=muni_admin, list_id=theirs.pk),
        lambda: selectors.contact_list_export(actor=muni_admin, list_id=theirs.pk),
        lambda: selectors.contact_get(actor=muni_admin, contact_id=contact.pk),
        lambda: services.contact_list_update(actor=muni_admin, list_id=theirs.pk, name="Mine"),
        lambda: services.contact_list_delete(actor=muni_admin, list_id=theirs.pk),
        lambda: services.contact_create(actor=muni_admin, list_id=theirs.pk, name="X", email="x@y.be"),
        lambda: services.contact_update(actor=muni_admin, contact_id=contact.pk, name="Mine"),
        lambda: services.contact_delete(actor=muni_admin, contact_id=contact.pk),
        lambda: services.contact_list_import(actor=muni_admin, list_id=theirs.pk, data=CSV),
        lambda: selectors.contact_list_recipients_for_send(organisation=muni_admin.organisation, list_ids=[theirs.pk]),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
    assert _contacts(theirs) == [("Bank", "+32470123456", "")]
    assert ContactList.objects.get(pk=theirs.pk).name == "Banks"

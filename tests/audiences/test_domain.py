"""Pure rules of contact lists and BIN groups: contacts, the CSV layout, invitation codes, delegation."""

from __future__ import annotations

import pytest

from tocsin.audiences import domain
from tocsin.organisations.domain import RuleError


def test_contact_phones_normalised_to_e164_and_email_domain_lowered():
    data = domain.contact_clean(
        {"name": " Basisschool De Linde ", "mobile": "0470 12 34 56", "landline": "09 210 10 10",
         "email": "Directie@School.BE", "language": "FR"}
    )  # fmt: skip
    assert data.name == "Basisschool De Linde"
    assert data.mobile == "+32470123456"
    assert data.landline == "+3292101010"
    assert data.email == "Directie@school.be"
    assert data.language == "fr"


def test_contact_errors_name_each_field():
    data, errors = domain.contact_errors(
        {"name": "", "mobile": "12", "landline": "abc", "email": "not-an-address", "language": "es"}
    )
    assert data is None
    assert {e.field for e in errors} == {"name", "mobile", "landline", "email", "language"}


def test_contact_needs_a_channel():
    with pytest.raises(RuleError) as exc:
        domain.contact_clean({"name": "Zorgcentrum"})
    assert exc.value.field == "mobile"


def test_a_landline_is_not_accepted_as_mobile():
    with pytest.raises(RuleError) as exc:
        domain.contact_clean({"name": "X", "mobile": "09 210 10 10"})
    assert exc.value.field == "mobile"


def test_language_defaults_to_the_given_one():
    assert domain.contact_clean({"name": "X", "email": "x@y.be"}, default_language="de").language == "de"


@pytest.mark.parametrize("delimiter", [";", ","])
def test_csv_delimiter_sniffed_and_rows_numbered_like_a_spreadsheet(delimiter):
    text = delimiter.join(["Name", "Mobile", "Email"]) + "\n" + delimiter.join(["A", "0470123456", ""]) + "\n\n"
    text += delimiter.join(["B", "", "b@x.be"]) + "\n"
    rows = list(domain.csv_rows(text.encode()))
    assert [(r.number, r.values["name"]) for r in rows] == [(2, "A"), (4, "B")]


def test_csv_utf8_bom_accepted_and_other_encodings_refused():
    rows = list(domain.csv_rows("\ufeffname;email\nZoë;z@x.be\n".encode()))
    assert rows[0].values["name"] == "Zoë"
    with pytest.raises(RuleError) as exc:
        list(domain.csv_rows("name;email\nZoë;z@x.be\n".encode("latin-1")))
    assert exc.value.field == "file"


@pytest.mark.parametrize(
    "text", ["", "mobile;email\n0470123456;x@y.be\n", "name;phone\nA;0470123456\n", "name;name\nA;B\n"]
)
def test_csv_bad_header_refused_as_a_whole(text):
    with pytest.raises(RuleError) as exc:
        list(domain.csv_rows(text.encode()))
    assert exc.value.field == "file"


def test_csv_formula_cells_defused_on_export_and_restored_on_import():
    cells = domain.csv_cells(domain.ContactData(name="=HYPERLINK(1)", mobile="+32470123456", notes="-note"))
    assert cells[0] == "'=HYPERLINK(1)" and cells[2] == "+32470123456" and cells[6] == "'-note"
    row = next(domain.csv_rows(("name;mobile\n" + cells[0] + ";" + cells[2] + "\n").encode()))
    assert row.values["name"] == "=HYPERLINK(1)"
    assert domain.cell_unsafe("'t Hof") == "'t Hof"


def test_ba_7_bin_invitation_codes_random_and_forgiving_when_typed():
    codes = {domain.invitation_code_new() for _ in range(1000)}
    assert len(codes) == 1000
    code = codes.pop()
    assert len(code) == domain.CODE_LENGTH
    shown = domain.invitation_code_shown(code)
    assert domain.invitation_code_normalise(shown.lower()) == code
    assert domain.invitation_code_normalise("ABCD") is None
    assert domain.invitation_code_normalise("O" * 16) == "0" * 16


def test_ba_7_bin_sending_needs_both_approvals_and_says_what_is_missing():
    with pytest.raises(RuleError, match="not a delegated sender") as exc:
        domain.check_may_send(None)
    assert exc.value.rule == "BA-7-BIN"
    with pytest.raises(RuleError, match="coordinator and of the responsible police officer"):
        domain.check_may_send(domain.SenderState(revoked=False, coordinator_approved=False, police_approved=False))
    with pytest.raises(RuleError, match="approval of the responsible police officer"):
        domain.check_may_send(domain.SenderState(revoked=False, coordinator_approved=True, police_approved=False))
    with pytest.raises(RuleError, match="approval of the BIN coordinator"):
        domain.check_may_send(domain.SenderState(revoked=False, coordinator_approved=False, police_approved=True))
    with pytest.raises(RuleError, match="revoked"):
        domain.check_may_send(domain.SenderState(revoked=True, coordinator_approved=True, police_approved=True))
    domain.check_may_send(domain.SenderState(revoked=False, coordinator_approved=True, police_approved=True))

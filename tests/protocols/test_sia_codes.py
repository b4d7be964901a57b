"""The SIA DC-04 and Contact ID (DC-05) event code tables (issue 8)."""

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

from tocsin.protocols import sia_codes, sia_dc09

SIA_TEST_FILE = Path(__file__).with_name("test_sia_dc09.py")

# Alarm / trouble / bypass codes and the restore the SIA code list pairs with each.
SIA_RESTORES = {
    "AT": "AR",
    "BA": "BH",
    "BB": "BU",
    "BD": "BE",
    "BT": "BJ",
    "DL": "DH",
    "DM": "DH",
    "EM": "EN",
    "ES": "EJ",
    "ET": "ER",
    "FA": "FH",
    "FB": "FU",
    "FS": "FV",
    "FT": "FJ",
    "FW": "FQ",
    "GA": "GH",
    "GB": "GU",
    "GT": "GJ",
    "HA": "HH",
    "HB": "HU",
    "HT": "HJ",
    "IA": "IR",
    "JA": "JC",
    "KA": "KH",
    "KB": "KU",
    "KT": "KJ",
    "LT": "LR",
    "MA": "MH",
    "MB": "MU",
    "MT": "MJ",
    "NA": "NS",
    "NT": "NR",
    "OU": "OV",
    "PA": "PH",
    "PB": "PU",
    "PT": "PJ",
    "QA": "QH",
    "QB": "QU",
    "QT": "QJ",
    "SA": "SH",
    "SB": "SU",
    "ST": "SJ",
    "TA": "TH",
    "TB": "TU",
    "TT": "TJ",
    "UA": "UH",
    "UB": "UU",
    "UT": "UJ",
    "VO": "VI",
    "VT": "VR",
    "VZ": "VY",
    "WA": "WH",
    "WB": "WU",
    "WT": "WJ",
    "XQ": "XH",
    "XS": "XJ",
    "XT": "XR",
    "YA": "YH",
    "YC": "YK",
    "YD": "YE",
    "YI": "YJ",
    "YP": "YQ",
    "YT": "YR",
    "ZA": "ZH",
    "ZB": "ZU",
    "ZT": "ZJ",
}

# Families with the full alarm / bypass / restore / supervisory / trouble / unbypass set (tamper has no
# supervisory code: TS is "test start").
ZONE_FAMILIES = "BFGHKMPQSUWZ"


def test_sia_codes_are_two_upper_case_letters_without_duplicates():
    codes = [row[0] for row in sia_codes.SIA_ROWS]
    assert all(re.fullmatch(r"[A-Z]{2}", code) for code in codes)
    assert [code for code, n in Counter(codes).items() if n > 1] == []
    assert len(sia_codes.SIA_CODES) == len(codes)
    assert all(key == entry.code for key, entry in sia_codes.SIA_CODES.items())


def test_cid_codes_are_three_digits_without_duplicates():
    codes = [row[0] for row in sia_codes.CONTACT_ID_ROWS]
    assert all(re.fullmatch(r"[1-9]\d{2}", code) for code in codes)
    assert [code for code, n in Counter(codes).items() if n > 1] == []
    assert len(sia_codes.CONTACT_ID_CODES) == len(codes)
    assert all(key == entry.code for key, entry in sia_codes.CONTACT_ID_CODES.items())


def test_tables_are_in_code_order():
    assert [row[0] for row in sia_codes.SIA_ROWS] == sorted(sia_codes.SIA_CODES)
    assert [row[0] for row in sia_codes.CONTACT_ID_ROWS] == sorted(sia_codes.CONTACT_ID_CODES)


def test_counts_reach_the_complete_tables():
    assert len(sia_codes.SIA_CODES) >= 250
    assert len(sia_codes.CONTACT_ID_CODES) >= 150


@pytest.mark.parametrize(
    ("table", "kinds"),
    [
        (sia_codes.SIA_CODES, sia_codes.KINDS),
        (sia_codes.CONTACT_ID_CODES, sia_codes.KINDS - {"restore"}),  # Contact ID restores by qualifier 3
    ],
)
def test_entries_are_well_formed(table, kinds):
    for code, entry in table.items():
        assert entry.description.strip() == entry.description and entry.description, code
        assert entry.kind in sia_codes.KINDS, code
        assert entry.zone_type, code
    assert {entry.kind for entry in table.values()} == kinds  # every kind is used


def test_cid_zone_type_is_zone_or_user():
    assert {entry.zone_type for entry in sia_codes.CONTACT_ID_CODES.values()} == {"zone", "user"}
    assert sia_codes.CONTACT_ID_CODES["121"].zone_type == "user"  # duress reports the user
    assert sia_codes.CONTACT_ID_CODES["401"].zone_type == "user"
    assert sia_codes.CONTACT_ID_CODES["130"].zone_type == "zone"


@pytest.mark.parametrize(("code", "restore"), sorted(SIA_RESTORES.items()))
def test_sia_alarm_codes_have_their_restore(code, restore):
    assert code in sia_codes.SIA_CODES
    assert sia_codes.SIA_CODES[restore].kind == "restore"


@pytest.mark.parametrize("family", ZONE_FAMILIES)
def test_sia_zone_families_are_complete(family):
    # xA alarm, xB bypass, xH alarm restore, xJ trouble restore, xR restoral, xS supervisory, xT trouble, xU unbypass
    for suffix, kind in zip(
        "ABHJRSTU", ("alarm", "bypass", "restore", "restore", "restore", "trouble", "trouble", "restore")
    ):
        code = family + suffix
        assert sia_codes.SIA_CODES[code].kind == kind, code


def test_kinds_and_number_types_of_common_codes():
    sia = sia_codes.SIA_CODES
    assert (sia["BA"].kind, sia["BA"].zone_type) == ("alarm", "zone")
    assert (sia["OP"].kind, sia["OP"].zone_type) == ("opening", "user")
    assert (sia["CL"].kind, sia["CL"].zone_type) == ("closing", "user")
    assert (sia["CA"].kind, sia["CA"].zone_type) == ("closing", "area")
    assert (sia["RP"].kind, sia["RP"].zone_type) == ("test", "none")
    assert (sia["AT"].kind, sia["YC"].kind) == ("trouble", "trouble")
    assert sia["DF"].zone_type == "door"
    cid = sia_codes.CONTACT_ID_CODES
    assert [cid[c].kind for c in ("130", "301", "401", "570", "602")] == [
        "alarm",
        "trouble",
        "opening",
        "bypass",
        "test",
    ]


def test_description_helpers():
    assert sia_codes.sia_description("FA") == "Fire alarm"
    assert sia_codes.sia_description("Q9") == "unknown event code Q9"
    assert sia_codes.sia_description("AF") == "unknown event code AF"  # manufacturer-private, not in DC-04
    assert sia_codes.cid_description("602") == "Periodic test report"
    assert sia_codes.cid_description("999") == "unknown event code 999"


def test_dc09_uses_these_tables():
    assert sia_dc09.SIA_CODES is sia_codes.SIA_CODES
    assert sia_dc09.CONTACT_ID_CODES is sia_codes.CONTACT_ID_CODES
    assert sia_dc09.SiaEvent(code="ZA", zone="1").description == sia_codes.SIA_CODES["ZA"].description
    assert sia_dc09.SiaEvent(code="Q9", zone="1").description is None
    assert sia_dc09.ContactIdEvent(1, "654", "01", "000").description == "System inactivity"
    assert sia_dc09.ContactIdEvent(1, "000", "01", "000").description is None


def _codes_used_in_dc09_tests() -> tuple[set[str], set[str]]:
    """SIA and Contact ID codes that test_sia_dc09.py sends or names."""
    sia: set[str] = set()
    cid: set[str] = set()
    tree = ast.parse(SIA_TEST_FILE.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name) and node.target.id == "code":
            for item in ast.walk(node.iter):
                if isinstance(item, ast.Constant) and isinstance(item.value, str):
                    (sia if item.value.isalpha() else cid).add(item.value)
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        text = node.value
        if re.fullmatch(r"[A-Z]{2}", text):
            sia.add(text)
        blocks = [text]
        if '"' in text:  # a whole DC-09 message: take its data block
            message = sia_dc09.parse_message(text.encode())
            if isinstance(message, sia_dc09.Message):
                blocks.append(message.data)
        for block in blocks:
            if block in sia_dc09.MESSAGE_IDS:  # "NULL", "NAK" are message ids, not event blocks
                continue
            content = sia_dc09.parse_sia_dcs(block)
            if isinstance(content, sia_dc09.SiaContent):
                sia.update(event.code for event in content.events)
            event = sia_dc09.parse_adm_cid(block)
            if isinstance(event, sia_dc09.ContactIdEvent):
                cid.add(event.code)
    return sia, cid


def test_codes_used_in_the_dc09_tests_are_in_the_tables():
    sia, cid = _codes_used_in_dc09_tests()
    assert {"BA", "FA", "CL", "OP", "RP", "YC", "YK"} <= sia  # the scan does find them
    assert {"110", "401", "602", "130"} <= cid
    assert sorted(sia - set(sia_codes.SIA_CODES)) == []
    assert sorted(cid - set(sia_codes.CONTACT_ID_CODES)) == []

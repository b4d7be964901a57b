"""Location-based SMS and cell broadcast: who may use them (BA-4-T1, BA-4-T2), what they need, how the
cell-broadcast text is measured and which EU-Alert message identifier an alert gets. Pure rules."""

from __future__ import annotations

import pytest

from tocsin.alerts import domain
from tocsin.organisations.domain import Kind, RuleError

AREA = {"areas": [{"type": "municipalities", "nis_codes": ["41081"]}]}


@pytest.mark.parametrize("channel", ["lbsms", "cb"])
def test_ba_4_t2_a_type_2_entity_cannot_broadcast_to_an_area(channel):
    with pytest.raises(RuleError) as exc:
        domain.check_targets(Kind.POLICE_ZONE, bin_option=False, targets={"lists": [1]}, channels=[channel])
    assert exc.value.rule == "BA-4-T2"


@pytest.mark.parametrize("channel", ["lbsms", "cb"])
def test_ba_4_t1_a_type_1_entity_broadcasts_to_an_area_it_names(channel):
    domain.check_targets(Kind.MUNICIPALITY, bin_option=False, targets=AREA, channels=[channel])
    with pytest.raises(RuleError) as exc:
        domain.check_targets(Kind.MUNICIPALITY, bin_option=False, targets={"lists": [1]}, channels=[channel])
    assert exc.value.field == "targets.areas"


@pytest.mark.parametrize(
    ("text", "charset", "pages"),
    [
        ("a" * 93, "gsm", 1),
        ("a" * 94, "gsm", 2),
        ("€" * 46, "gsm", 1),  # extension characters take two septets
        ("€" * 47, "gsm", 2),
        ("ł" * 41, "ucs2", 1),
        ("ł" * 42, "ucs2", 2),
        ("a" * 93 * 15, "gsm", 15),
    ],
)
def test_cell_broadcast_pages(text, charset, pages):
    assert domain.cb_pages(text) == (charset, pages)


def test_a_cell_broadcast_text_longer_than_fifteen_pages_is_refused_naming_the_field():
    texts = {"nl": {"headline": "Brand", "cb": "a" * (93 * 15 + 1)}}
    with pytest.raises(RuleError) as exc:
        domain.check_texts(texts, ["cb"])
    assert exc.value.field == "texts.nl.cb" and exc.value.params["pages"] == 16
    with pytest.raises(RuleError) as exc:
        domain.check_texts({"nl": {"headline": "Brand"}}, ["cb"])
    assert exc.value.field == "texts.nl.cb"
    with pytest.raises(RuleError) as exc:
        domain.check_texts({"nl": {"headline": "Brand", "sms": ""}}, ["lbsms"])
    assert exc.value.field == "texts.nl.sms"


@pytest.mark.parametrize(
    ("status", "severity", "urgency", "certainty", "second", "expected"),
    [
        ("Actual", "Extreme", "Immediate", "Observed", False, 4371),
        ("Actual", "Extreme", "Immediate", "Likely", False, 4372),
        ("Actual", "Extreme", "Expected", "Likely", False, 4374),
        ("Actual", "Extreme", "Expected", "Possible", False, 4396),  # not observed nor likely: public safety
        ("Actual", "Severe", "Immediate", "Observed", False, 4375),
        ("Actual", "Severe", "Expected", "Likely", True, 4378 + 13),
        ("Actual", "Severe", "Future", "Likely", False, 4396),
        ("Actual", "Moderate", "Immediate", "Observed", False, 4396),
        ("Actual", "Minor", "Immediate", "Observed", True, 4397),
        ("Exercise", "Extreme", "Immediate", "Observed", False, 4381),
        ("Test", "Minor", "Past", "Unknown", True, 4380 + 13),
    ],
)
def test_eu_alert_message_identifiers(status, severity, urgency, certainty, second, expected):
    got = domain.cb_message_id(
        status=status, severity=severity, urgency=urgency, certainty=certainty, second_language=second
    )
    assert got == expected

"""GSM-7 / UCS-2 detection and segmentation (pure codec, fuzzed)."""

from __future__ import annotations

import pytest
import smpplib.gsm
from hypothesis import given
from hypothesis import strategies as st

from tocsin.protocols import gsm

GSM_TEXT = st.text(alphabet=st.sampled_from(sorted(set(gsm.GSM_CODE) | set("€[]{}^~|\\"))), min_size=1, max_size=800)


@pytest.mark.parametrize(
    ("text", "coding", "parts"),
    [
        ("a" * 160, gsm.Coding.GSM7, 1),
        ("a" * 161, gsm.Coding.GSM7, 2),
        ("a" * 306, gsm.Coding.GSM7, 2),
        ("a" * 307, gsm.Coding.GSM7, 3),
        ("€" * 80, gsm.Coding.GSM7, 1),  # extension characters count double
        ("€" * 81, gsm.Coding.GSM7, 2),
        ("Evacuatie: ga naar de sporthal" * 3, gsm.Coding.GSM7, 1),
        ("ł" * 70, gsm.Coding.UCS2, 1),
        ("ł" * 71, gsm.Coding.UCS2, 2),
        ("Inondation à Liège — évacuez" * 4, gsm.Coding.UCS2, 2),
    ],
)
def test_known_lengths(text, coding, parts):
    seg = gsm.segment(text)
    assert seg.coding is coding
    assert seg.count == parts


@given(GSM_TEXT)
def test_gsm7_round_trip_and_no_escape_split(text):
    seg = gsm.segment(text)
    assert seg.coding is gsm.Coding.GSM7
    for part in seg.parts:
        assert not part.endswith(b"\x1b")  # an escape never ends a part
        assert len(part) <= (160 if seg.count == 1 else 153)
    assert gsm.decode(b"".join(seg.parts), gsm.Coding.GSM7) == text


@given(st.text(min_size=1, max_size=500).filter(lambda t: not gsm.is_gsm7(t)))
def test_ucs2_round_trip_and_no_surrogate_split(text):
    seg = gsm.segment(text)
    assert seg.coding is gsm.Coding.UCS2
    for part in seg.parts:
        part.decode("utf-16-be")  # each part stands alone: no half surrogate pair
        assert len(part) <= (140 if seg.count == 1 else 134)
    assert b"".join(seg.parts).decode("utf-16-be") == text


@given(st.text(alphabet="abcdefghij ABC0123.,", min_size=1, max_size=1500))
def test_part_count_matches_smpplib(text):
    """Cross-check with an independent implementation for plain GSM text."""
    theirs, _encoding, _esm = smpplib.gsm.make_parts(text)
    assert gsm.segment(text).count == len(theirs)


def test_udh_round_trip():
    header = gsm.udh(0x2A, 3, 2)
    assert gsm.parse_udh(header + b"payload") == ((0x2A, 3, 2), b"payload")


def test_empty_and_too_long_text_refused():
    with pytest.raises(gsm.EncodingError):
        gsm.segment("")
    with pytest.raises(gsm.EncodingError):
        gsm.segment("a" * (153 * 255 + 1))

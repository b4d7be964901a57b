"""RTP, G.711 and RFC 4733 codecs: checked against the standard library's audioop (3.11, 3.12) or audioop-lts
(3.13+, a dev dependency), an implementation that is not ours, over every input."""

from __future__ import annotations

import struct
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.protocols import rtp

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    audioop = pytest.importorskip("audioop")

EVERY_SAMPLE = struct.pack("<65536h", *range(-32768, 32768))


@pytest.mark.parametrize(("law", "reference"), [("ulaw", "lin2ulaw"), ("alaw", "lin2alaw")])
def test_g711_encoder_matches_audioop_for_every_16_bit_sample(law, reference):
    assert rtp.encode(EVERY_SAMPLE, law) == getattr(audioop, reference)(EVERY_SAMPLE, 2)


@pytest.mark.parametrize(("law", "reference"), [("ulaw", "ulaw2lin"), ("alaw", "alaw2lin")])
def test_g711_decoder_matches_audioop_for_every_code(law, reference):
    codes = bytes(range(256))
    assert rtp.decode(codes, law) == getattr(audioop, reference)(codes, 2)


def test_silence_codes_decode_to_zero():
    assert rtp.decode(bytes([rtp.SILENCE["ulaw"]]), "ulaw") == b"\0\0"
    assert abs(struct.unpack("<h", rtp.decode(bytes([rtp.SILENCE["alaw"]]), "alaw"))[0]) <= 8


def test_frame_energy_is_the_mean_square_of_the_decoded_frame():
    loud = rtp.encode(struct.pack("<160h", *([8000, -8000] * 80)), "alaw")
    rms = audioop.rms(rtp.decode(loud, "alaw"), 2)
    assert rtp.frame_energy(loud, "alaw") == pytest.approx(rms**2, rel=0.01)
    assert rtp.frame_energy(bytes([rtp.SILENCE["ulaw"]]) * 160, "ulaw") == 0


def test_frames_cut_20_ms_and_pad_the_last_with_silence():
    frames = rtp.frames(b"\x01" * 400, "ulaw")
    assert [len(f) for f in frames] == [160, 160, 160]
    assert frames[-1].endswith(bytes([0xFF]) * 80)


@given(
    pt=st.integers(0, 127), seq=st.integers(0, 0xFFFF), ts=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF), marker=st.booleans(), payload=st.binary(max_size=200),
)  # fmt: skip
def test_rtp_header_round_trip(pt, seq, ts, ssrc, marker, payload):
    header = rtp.Header(pt, seq, ts, ssrc, marker)
    assert rtp.parse(rtp.pack(header, payload)) == (header, payload)
    assert rtp.pack_fields(pt, seq, ts, ssrc, marker, payload) == rtp.pack(header, payload)


def test_rtp_parse_skips_csrcs_extension_and_padding():
    csrc = struct.pack("!BBHII", 0xA1 | 0x10, 8, 1, 160, 7) + b"CSRC" + struct.pack("!HH", 0xBEDE, 1) + b"EXTN"
    parsed = rtp.parse(csrc + b"hello" + b"\0\0\x03")
    assert parsed is not None and parsed[1] == b"hello"


@given(st.binary(max_size=64))
def test_rtp_parse_never_raises(data):
    rtp.parse(data)
    rtp.parse_event(data)


@given(event=st.integers(0, 255), end=st.booleans(), volume=st.integers(0, 63), duration=st.integers(0, 0xFFFF))
def test_rfc_4733_event_round_trip(event, end, volume, duration):
    packed = rtp.pack_event(rtp.Event(event, end, volume, duration))
    assert rtp.parse_event(packed) == rtp.Event(event, end, volume, duration)


def test_rfc_4733_events_name_the_keys():
    assert rtp.Event(1, True, 10, 800).digit == "1"
    assert rtp.Event(10, True, 10, 800).digit == "*"
    assert rtp.Event(11, True, 10, 800).digit == "#"
    assert rtp.Event(16, True, 10, 800).digit is None  # flash: not a key

"""RTP (RFC 3550) for a one-way announcement: G.711 (ITU-T G.711) μ-law / A-law, RFC 4733 telephone events.
Pure: no Django, no I/O.

- ``encode(pcm, law)`` turns 8 kHz signed 16-bit little-endian PCM into G.711 bytes through a 65 536-entry
  table built once from the standard's segment rules (the Sun reference code that CPython's ``audioop``
  follows; the tests compare every input with ``audioop`` / ``audioop-lts``). ``audioop`` left the standard
  library in Python 3.13, so Tocsin carries its own.
- ``decode(data, law)`` is the inverse (for what a callee says: answering-machine detection, tests).
- ``frame_energy(payload, law)`` is the mean square of one frame's decoded samples, from a table.
- ``Header`` / ``parse`` / ``pack`` the fixed RTP header (12 bytes + CSRCs; extensions skipped).
- ``Event`` / ``parse_event`` / ``pack_event`` an RFC 4733 §2.3 payload (event, E bit, volume, duration).

Payload types are RFC 3551's static ones: 0 PCMU, 8 PCMA, each 8000 Hz; 20 ms = 160 samples = 160 bytes.
"""

from __future__ import annotations

import array
import struct
import sys
from dataclasses import dataclass
from typing import Literal

Law = Literal["ulaw", "alaw"]
PCMU, PCMA = 0, 8
PAYLOAD_TYPES: dict[int, Law] = {PCMU: "ulaw", PCMA: "alaw"}
LAW_PT = {"ulaw": PCMU, "alaw": PCMA}
RATE = 8000
FRAME_SAMPLES = 160  # 20 ms
FRAME_S = FRAME_SAMPLES / RATE
SILENCE = {"ulaw": 0xFF, "alaw": 0xD5}  # the code of a zero sample in each law
EVENT_DIGITS = "0123456789*#ABCD"  # RFC 4733 §3.2: events 0-15


def _ulaw(sample: int) -> int:
    # To 14 bits by arithmetic shift, bias 33, clip at 8159; the segment is the position of the top bit.
    sample >>= 2
    mask = 0xFF
    if sample < 0:
        sample, mask = -sample, 0x7F
    sample = min(sample, 8159) + 33
    if sample >= 0x2000:  # the clip: top of segment 7
        return 0x7F ^ mask
    segment = max(0, min(7, sample.bit_length() - 6))
    return ((segment << 4) | ((sample >> (segment + 1)) & 0x0F)) ^ mask


def _alaw(sample: int) -> int:
    # A-law on the 13-bit magnitude (one's complement for negatives); even bits inverted (XOR 0x55).
    sign = 0x80
    if sample < 0:
        sign, sample = 0, -sample - 1
    sample >>= 3
    if sample < 32:
        code = sample >> 1
    else:
        exponent = sample.bit_length() - 5
        if exponent > 7:
            return (sign | 0x7F) ^ 0x55
        code = (exponent << 4) | ((sample >> exponent) & 0x0F)
    return (sign | code) ^ 0x55


def _ulaw_decode(code: int) -> int:
    code = ~code & 0xFF
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    value = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -value if sign else value


def _alaw_decode(code: int) -> int:
    code ^= 0x55
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    value = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return value if sign else -value


# Index = sample + 32768.
ENCODE: dict[str, bytes] = {
    "ulaw": bytes(_ulaw(i - 32768) for i in range(65536)),
    "alaw": bytes(_alaw(i - 32768) for i in range(65536)),
}
DECODE: dict[str, tuple[int, ...]] = {
    "ulaw": tuple(_ulaw_decode(c) for c in range(256)),
    "alaw": tuple(_alaw_decode(c) for c in range(256)),
}
_SQUARE = {law: tuple(v * v for v in table) for law, table in DECODE.items()}


def encode(pcm: bytes, law: Law) -> bytes:
    """G.711 of 16-bit little-endian PCM (numpy when it is there: 0.5 ms instead of 15 for 16 s of speech)."""
    table = ENCODE[law]
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with shapely
        samples = array.array("h", pcm[: len(pcm) - len(pcm) % 2])
        if sys.byteorder == "big":
            samples.byteswap()
        return bytes(table[s + 32768] for s in samples)
    indexes = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.int32) + 32768
    return np.frombuffer(table, dtype=np.uint8)[indexes].tobytes()


def decode(data: bytes, law: Law) -> bytes:
    """16-bit little-endian PCM of G.711 bytes."""
    table = DECODE[law]
    samples = array.array("h", (table[c] for c in data))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def frame_energy(payload: bytes, law: Law) -> float:
    """Mean square of the decoded samples (RMS² — compare with a squared threshold)."""
    if not payload:
        return 0.0
    square = _SQUARE[law]
    return sum(square[c] for c in payload) / len(payload)


def frames(audio: bytes, law: Law) -> list[bytes]:
    """The audio cut into 20 ms payloads, the last one padded with silence."""
    pad = bytes([SILENCE[law]])
    return [audio[i : i + FRAME_SAMPLES].ljust(FRAME_SAMPLES, pad) for i in range(0, len(audio), FRAME_SAMPLES)]


# --- the header ------------------------------------------------------------------------------------------------

_FIXED = struct.Struct("!BBHII")


@dataclass(frozen=True)
class Header:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool = False


def pack(header: Header, payload: bytes) -> bytes:
    """Version 2, no padding, no extension, no CSRC."""
    second = (0x80 if header.marker else 0) | (header.payload_type & 0x7F)
    fixed = _FIXED.pack(0x80, second, header.sequence & 0xFFFF, header.timestamp & 0xFFFFFFFF, header.ssrc)
    return fixed + payload


def pack_fields(payload_type: int, sequence: int, timestamp: int, ssrc: int, marker: bool, payload: bytes) -> bytes:
    """``pack`` without building a Header: the media clock's hot path (one call per stream every 20 ms)."""
    second = (0x80 if marker else 0) | payload_type
    return _FIXED.pack(0x80, second, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc) + payload


def parse(packet: bytes) -> tuple[Header, bytes] | None:
    """(header, payload), or None for anything that is not an RTP version 2 packet with a whole header."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        return None
    first, second, sequence, timestamp, ssrc = _FIXED.unpack_from(packet)
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:  # header extension (RFC 3550 §5.3.1): 16-bit profile, 16-bit length in words
        if len(packet) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", packet, offset + 2)[0]
    end = len(packet)
    if first & 0x20:  # padding: the last octet counts the padding octets
        end -= packet[-1]
    if offset > end:
        return None
    return Header(second & 0x7F, sequence, timestamp, ssrc, bool(second & 0x80)), packet[offset:end]


# --- RFC 4733 telephone events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    event: int  # 0-9, 10 = *, 11 = #, 12-15 = A-D
    end: bool
    volume: int  # 0 to 63: -dBm0
    duration: int  # timestamp units (1/8000 s)

    @property
    def digit(self) -> str | None:
        return EVENT_DIGITS[self.event] if self.event < len(EVENT_DIGITS) else None


def parse_event(payload: bytes) -> Event | None:
    if len(payload) < 4:
        return None
    event, flags, duration = struct.unpack_from("!BBH", payload)
    return Event(event, bool(flags & 0x80), flags & 0x3F, duration)


def pack_event(event: Event) -> bytes:
    return struct.pack("!BBH", event.event, (0x80 if event.end else 0) | (event.volume & 0x3F), event.duration)

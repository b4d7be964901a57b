"""SMS text encoding and segmentation (3GPP TS 23.038 / 23.040). Pure: no Django.

A text goes out in the GSM 7-bit default alphabet when every character is in
it (extension characters such as ``€`` count double), otherwise in UCS-2
(UTF-16BE). A long text is cut into concatenated parts, each carrying an
8-bit-reference UDH (``05 00 03 ref total seq``). Parts never split a GSM
escape pair nor a UTF-16 surrogate pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

# The GSM 03.38 default alphabet, in code order (0x00-0x7F); 0x1B is the escape to the extension table.
_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
assert len(_BASIC) == 128
_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

GSM_CODE = {ch: i for i, ch in enumerate(_BASIC) if ch != "\x1b"}
GSM_CHAR = {i: ch for ch, i in GSM_CODE.items()}
EXT_CHAR = {code: ch for ch, code in _EXTENSION.items()}


class Coding(IntEnum):
    """SMPP data_coding values used here."""

    GSM7 = 0x00  # SMSC default alphabet
    UCS2 = 0x08


SINGLE_LIMIT = {Coding.GSM7: 160, Coding.UCS2: 70}  # septets / UTF-16 units in one SMS
PART_LIMIT = {Coding.GSM7: 153, Coding.UCS2: 67}  # per part, after the 6-octet UDH
MAX_PARTS = 255


class EncodingError(ValueError):
    pass


def is_gsm7(text: str) -> bool:
    return all(ch in GSM_CODE or ch in _EXTENSION for ch in text)


def septets(text: str) -> int:
    """GSM-7 septets of a text in the default alphabet (an extension-table character takes two)."""
    return sum(2 if ch in _EXTENSION else 1 for ch in text)


def choose_coding(text: str) -> Coding:
    return Coding.GSM7 if is_gsm7(text) else Coding.UCS2


def _units(text: str, coding: Coding) -> list[bytes]:
    """The text as indivisible units: one GSM character (1 or 2 septets) or one UTF-16 code point."""
    if coding is Coding.GSM7:
        out = []
        for ch in text:
            if ch in GSM_CODE:
                out.append(bytes([GSM_CODE[ch]]))
            elif ch in _EXTENSION:
                out.append(bytes([0x1B, _EXTENSION[ch]]))
            else:
                raise EncodingError(f"character {ch!r} is not in the GSM 7-bit alphabet")
        return out
    return [ch.encode("utf-16-be") for ch in text]


def _cost(unit: bytes, coding: Coding) -> int:
    return len(unit) if coding is Coding.GSM7 else len(unit) // 2


def encode(text: str, coding: Coding) -> bytes:
    """Unpacked septets (one per octet, as SMPP carries them with data_coding 0) or UTF-16BE."""
    return b"".join(_units(text, coding))


def decode(data: bytes, coding: int) -> str:
    if coding == Coding.UCS2:
        return data.decode("utf-16-be", errors="replace")
    if coding == Coding.GSM7:
        out, escape = [], False
        for b in data:
            if escape:
                out.append(EXT_CHAR.get(b, " "))
                escape = False
            elif b == 0x1B:
                escape = True
            else:
                out.append(GSM_CHAR.get(b & 0x7F, "?"))
        return "".join(out)
    return data.decode("latin-1")


def length(text: str, coding: Coding | None = None) -> int:
    """Septets (GSM-7) or UTF-16 units (UCS-2)."""
    coding = coding or choose_coding(text)
    return sum(_cost(u, coding) for u in _units(text, coding))


@dataclass(frozen=True)
class Segmented:
    coding: Coding
    parts: tuple[bytes, ...]  # payloads without UDH

    @property
    def count(self) -> int:
        return len(self.parts)


def segment(text: str, coding: Coding | None = None) -> Segmented:
    """Cut a text into SMS parts. One part needs no UDH; more parts get 153/67 units each."""
    if not text:
        raise EncodingError("an SMS needs some text")
    coding = coding or choose_coding(text)
    units = _units(text, coding)
    if sum(_cost(u, coding) for u in units) <= SINGLE_LIMIT[coding]:
        return Segmented(coding, (b"".join(units),))
    limit = PART_LIMIT[coding]
    parts: list[bytes] = []
    current: list[bytes] = []
    used = 0
    for unit in units:
        cost = _cost(unit, coding)
        if used + cost > limit:
            parts.append(b"".join(current))
            current, used = [], 0
        current.append(unit)
        used += cost
    if current:
        parts.append(b"".join(current))
    if len(parts) > MAX_PARTS:
        raise EncodingError(f"the text needs {len(parts)} SMS parts; at most {MAX_PARTS} can be joined")
    return Segmented(coding, tuple(parts))


def udh(reference: int, total: int, sequence: int) -> bytes:
    """Concatenation header with an 8-bit reference (IEI 0x00)."""
    return bytes([0x05, 0x00, 0x03, reference & 0xFF, total, sequence])


def parse_udh(data: bytes) -> tuple[tuple[int, int, int] | None, bytes]:
    """(reference, total, sequence) of a concatenation UDH, and the payload after the header."""
    if not data:
        return None, data
    header_len = data[0]
    header, payload = data[1 : 1 + header_len], data[1 + header_len :]
    i = 0
    while i + 1 < len(header):
        iei, ie_len = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + ie_len]
        if iei == 0x00 and ie_len == 3:
            return (value[0], value[1], value[2]), payload
        if iei == 0x08 and ie_len == 4:
            return ((value[0] << 8) | value[1], value[2], value[3]), payload
        i += 2 + ie_len
    return None, payload


def pack_septets(septets_: bytes) -> bytes:
    """GSM 03.38 packing: septets (one per octet, < 0x80) into octets, least significant bits first."""
    out, acc, bits = bytearray(), 0, 0
    for septet in septets_:
        acc |= (septet & 0x7F) << bits
        bits += 7
        while bits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            bits -= 8
    if bits:
        out.append(acc & 0xFF)
    return bytes(out)
